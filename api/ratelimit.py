"""Request rate limits: GCRA per key, in memory on one node or in Redis across nodes.

GCRA (the generic cell rate algorithm) keeps one timestamp per key: a burst of up to
`limit` requests passes, then requests pass at `limit` per period as the budget refills.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from api.identity import optional_principal


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may pass, and if not, how long to wait."""

    allowed: bool
    remaining: int
    retry_after_s: float


class RateLimiter(Protocol):
    """Counts one request against `key` and decides."""

    limit: int

    async def hit(self, key: str) -> Decision: ...


class MemoryRateLimiter:
    """One node's limiter; forgets keys whose budget has fully refilled, so memory stays flat."""

    def __init__(
        self, limit: int, period_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._period = period_s
        self._interval = period_s / limit
        self._arrivals: dict[str, float] = {}
        self._next_sweep = clock() + period_s

    async def hit(self, key: str) -> Decision:
        now = self._clock()
        if now >= self._next_sweep:
            self._arrivals = {k: t for k, t in self._arrivals.items() if t > now}
            self._next_sweep = now + self._period
        theoretical = max(self._arrivals.get(key, now), now)
        decision = _decide(theoretical, now, self._interval, self._period, self.limit)
        if decision.allowed:
            self._arrivals[key] = theoretical + self._interval
        return decision


# KEYS[1]: the key; ARGV: interval, period and, from an injected clock only, now.
# Otherwise Redis's own clock, so every node agrees.
_GCRA_SCRIPT = """
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local now_parts = redis.call('TIME')
  now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
end
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = math.max(tonumber(stored), now) end
local allow_at = tat + interval - period
if now < allow_at then
  return {0, tostring(allow_at - now), tostring(tat - now)}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000))
return {1, '0', tostring(new_tat - now)}
"""


class RedisRateLimiter:
    """The cluster's limiter: all nodes share one budget per key.

    Time is Redis's unless a `clock` is given (tests: one frozen clock for every node).
    """

    def __init__(
        self,
        redis: Redis,
        limit: int,
        *,
        prefix: str,
        period_s: float = 60.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.limit = limit
        self._prefix = f"{prefix}:ratelimit:"
        self._period = period_s
        self._interval = period_s / limit
        self._clock = clock
        self._script = redis.register_script(_GCRA_SCRIPT)

    async def hit(self, key: str) -> Decision:
        args = [self._interval, self._period]
        if self._clock is not None:
            args.append(self._clock())
        allowed, retry_after, backlog = await self._script(keys=[self._prefix + key], args=args)
        used = float(backlog) / self._interval
        return Decision(
            allowed=bool(int(allowed)),
            remaining=max(0, self.limit - math.ceil(used)),
            retry_after_s=float(retry_after),
        )


def _decide(theoretical: float, now: float, interval: float, period: float, limit: int) -> Decision:
    allow_at = theoretical + interval - period
    if now < allow_at:
        return Decision(False, 0, allow_at - now)
    used = (theoretical + interval - now) / interval
    return Decision(True, max(0, limit - math.ceil(used)), 0.0)


class RateLimitMiddleware:
    """Limits each signed-in user; each address for sign-in routes and calls without a token."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        exempt: frozenset[str],
        by_address: frozenset[str],
        exempt_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt = exempt
        self.by_address = by_address
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or scope["path"] in self.exempt
            or scope["path"].startswith(self.exempt_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        principal = optional_principal(connection)
        if principal is not None and scope["path"] not in self.by_address:
            key = f"user:{principal.user_id}"
        else:
            key = f"ip:{connection.client.host if connection.client else 'unknown'}"
        decision = await self.limiter.hit(key)
        if not decision.allowed:
            retry_after = max(1, math.ceil(decision.retry_after_s))
            response = error_response(
                429,
                "rate_limited",
                f"Too many requests: try again in {retry_after} s",
                headers={"Retry-After": str(retry_after), **self._headers(decision)},
                retryAfter=retry_after,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _headers(self, decision: Decision) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limiter.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
        }
