"""The two `RevocationCache`s: in this process (one node), or in Redis (every node).

An access token lives `access_ttl_s` at most, so no entry needs to outlive that: a later
miss asks the database, which keeps every revocation.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence

from redis.asyncio import Redis

from store.refresh_tokens import FamilyStatus

# Without Redis a disable made by `monumento users disable` (another process) cannot reach
# this one: "live" answers are kept only this long, so it takes effect within seconds.
MEMORY_LIVE_TTL_S = 5.0


class MemoryRevocationCache:
    """One node's cache, bounded: the oldest entry goes first when it is full."""

    def __init__(
        self,
        access_ttl_s: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._access_ttl_s = access_ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[uuid.UUID, tuple[FamilyStatus, float]] = OrderedDict()

    async def get(self, family_id: uuid.UUID) -> FamilyStatus | None:
        entry = self._entries.get(family_id)
        if entry is None:
            return None
        status, expires_at = entry
        if self._clock() >= expires_at:
            del self._entries[family_id]
            return None
        return status

    async def remember(self, family_id: uuid.UUID, status: FamilyStatus) -> None:
        if await self.get(family_id) is None:
            self._put(family_id, status)

    async def mark(self, family_ids: Sequence[uuid.UUID], status: FamilyStatus) -> None:
        for family_id in family_ids:
            self._put(family_id, status)

    def _put(self, family_id: uuid.UUID, status: FamilyStatus) -> None:
        ttl = MEMORY_LIVE_TTL_S if status is FamilyStatus.LIVE else self._access_ttl_s
        self._entries.pop(family_id, None)
        self._entries[family_id] = (status, self._clock() + ttl)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class RedisRevocationCache:
    """The deployment's cache: one key per family, so a revocation on any node (or by the
    CLI) is seen by all of them at the next request."""

    def __init__(self, redis: Redis, *, prefix: str, access_ttl_s: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:family:"
        self._ttl_ms = max(1, int(access_ttl_s * 1000))

    async def get(self, family_id: uuid.UUID) -> FamilyStatus | None:
        value = await self._redis.get(self._key(family_id))
        if value is None:
            return None
        return FamilyStatus(value.decode() if isinstance(value, bytes) else value)

    async def remember(self, family_id: uuid.UUID, status: FamilyStatus) -> None:
        # NX: a revocation written since this node read the database wins.
        await self._redis.set(self._key(family_id), status.value, px=self._ttl_ms, nx=True)

    async def mark(self, family_ids: Sequence[uuid.UUID], status: FamilyStatus) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for family_id in family_ids:
                pipe.set(self._key(family_id), status.value, px=self._ttl_ms)
            await pipe.execute()

    def _key(self, family_id: uuid.UUID) -> str:
        return f"{self._prefix}{family_id}"
