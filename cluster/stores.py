"""Where leases live: in this process (one node), or in Redis (every node of a deployment).

Each operation is one atomic step of the store, so two nodes can never both take a lease,
nor one renew or release a lease another node holds.
"""

from __future__ import annotations

from typing import Protocol

from redis.asyncio import Redis

from cluster.lease import LeaseToken, Renewal

LEASE_TTL_MS = 15_000
# The fencing counter outlives every lease of its session by far; a week bounds the keys kept.
FENCE_TTL_MS = 7 * 24 * 3600 * 1000

# KEYS: lease, fence counter. ARGV: node, lease TTL, counter TTL. The fence, or nil if held.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], fence .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2])
return fence
"""
# KEYS: lease, fence counter. ARGV: our value, lease TTL, our fence, counter TTL.
# 1 extended, 2 taken again (the key had vanished; the counter is raised to our fence so
# later takes still get higher ones), 0 another value is there.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
end
return 2
"""
# KEYS: lease. ARGV: our value. Deletes only our own lease.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEWALS = {1: Renewal.EXTENDED, 2: Renewal.RETAKEN, 0: Renewal.TAKEN_BY_OTHER}


class LeaseStore(Protocol):
    """Atomic take, renew, release and look-up of one lease per session."""

    async def take(self, session_id: str, node: str) -> LeaseToken | None:
        """The lease with a new fencing token, or None when someone holds it."""
        ...

    async def renew(self, session_id: str, token: LeaseToken) -> Renewal:
        """Extend the lease if it is still `token`'s; take it again if it vanished."""
        ...

    async def release(self, session_id: str, token: LeaseToken) -> bool:
        """Delete the lease if it is still `token`'s; True if it was."""
        ...

    async def holder(self, session_id: str) -> LeaseToken | None:
        """Who holds the session's lease right now."""
        ...


class MemoryLeaseStore:
    """One node: leases in a dict; they last until released (the process is the node)."""

    def __init__(self) -> None:
        self._held: dict[str, LeaseToken] = {}
        self._fences: dict[str, int] = {}

    async def take(self, session_id: str, node: str) -> LeaseToken | None:
        if session_id in self._held:
            return None
        fence = self._fences.get(session_id, 0) + 1
        self._fences[session_id] = fence
        token = self._held[session_id] = LeaseToken(node, fence)
        return token

    async def renew(self, session_id: str, token: LeaseToken) -> Renewal:
        current = self._held.get(session_id)
        if current is None:
            self._held[session_id] = token
            self._fences[session_id] = max(self._fences.get(session_id, 0), token.fence)
            return Renewal.RETAKEN
        return Renewal.EXTENDED if current == token else Renewal.TAKEN_BY_OTHER

    async def release(self, session_id: str, token: LeaseToken) -> bool:
        if self._held.get(session_id) != token:
            return False
        del self._held[session_id]
        return True

    async def holder(self, session_id: str) -> LeaseToken | None:
        return self._held.get(session_id)


class RedisLeaseStore:
    """Many nodes: `{prefix}:interview:{id}:lease` (`<fence>:<node>`, a 15 s time to live)
    and the session's fencing counter `{prefix}:interview:{id}:fence`."""

    def __init__(self, redis: Redis, prefix: str, ttl_ms: int = LEASE_TTL_MS) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = ttl_ms
        self._take = redis.register_script(_TAKE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def take(self, session_id: str, node: str) -> LeaseToken | None:
        fence = await self._take(
            keys=[self._lease(session_id), self._fence(session_id)],
            args=[node, self._ttl_ms, FENCE_TTL_MS],
        )
        return None if fence is None else LeaseToken(node, int(fence))

    async def renew(self, session_id: str, token: LeaseToken) -> Renewal:
        answer = await self._renew(
            keys=[self._lease(session_id), self._fence(session_id)],
            args=[token.encode(), self._ttl_ms, token.fence, FENCE_TTL_MS],
        )
        return _RENEWALS[int(answer)]

    async def release(self, session_id: str, token: LeaseToken) -> bool:
        deleted = await self._release(keys=[self._lease(session_id)], args=[token.encode()])
        return bool(deleted)

    async def holder(self, session_id: str) -> LeaseToken | None:
        value = await self._redis.get(self._lease(session_id))
        if value is None:
            return None
        return LeaseToken.decode(value.decode() if isinstance(value, bytes) else value)

    def _lease(self, session_id: str) -> str:
        return f"{self._prefix}:interview:{session_id}:lease"

    def _fence(self, session_id: str) -> str:
        return f"{self._prefix}:interview:{session_id}:fence"
