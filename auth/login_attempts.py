"""The two `AttemptStore`s of the login throttle: this process, or Redis for every node."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from redis.asyncio import Redis

from auth.login_throttle import Failures, Snapshot


class MemoryAttemptStore:
    """One node's failures; expired states are swept, so memory follows the attackers only."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, tuple[Failures, float]] = {}
        self._next_sweep = clock()

    async def read(self, key: str) -> Snapshot:
        now = self._clock()
        if now >= self._next_sweep:
            self._states = {k: v for k, v in self._states.items() if v[1] > now}
            self._next_sweep = now + 60.0
        entry = self._states.get(key)
        if entry is None or entry[1] <= now:
            return Snapshot(None, now)
        return Snapshot(entry[0], now)

    async def replace(
        self, key: str, expected: Failures | None, new: Failures | None, keep_s: float
    ) -> bool:
        if (await self.read(key)).failures != expected:
            return False
        if new is None:
            self._states.pop(key, None)
        else:
            self._states[key] = (new, self._clock() + keep_s)
        return True


# KEYS[1]: the key. Returns the stored value (or false) and Redis's clock.
_READ_SCRIPT = """
local now = redis.call('TIME')
return {redis.call('GET', KEYS[1]), now[1], now[2]}
"""

# KEYS[1]: the key; ARGV: the expected value ('' for none), the new one ('' to delete) and
# how long to keep it in ms. Compare-and-set, so a failure counted by another node is kept.
_REPLACE_SCRIPT = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
"""


class RedisAttemptStore:
    """The deployment's failures, shared by every node; keys expire by themselves.

    Time is Redis's unless a `clock` is given (tests: one frozen clock for every node).
    """

    def __init__(
        self, redis: Redis, *, prefix: str, clock: Callable[[], float] | None = None
    ) -> None:
        self._prefix = f"{prefix}:login:"
        self._clock = clock
        self._read = redis.register_script(_READ_SCRIPT)
        self._replace = redis.register_script(_REPLACE_SCRIPT)

    async def read(self, key: str) -> Snapshot:
        value, seconds, microseconds = await self._read(keys=[self._prefix + key])
        now = self._clock() if self._clock else int(seconds) + int(microseconds) / 1_000_000
        # Whole milliseconds, as stored: a failure is never kept as later than it happened.
        return Snapshot(_decode(value) if value else None, math.floor(now * 1000) / 1000)

    async def replace(
        self, key: str, expected: Failures | None, new: Failures | None, keep_s: float
    ) -> bool:
        keep_ms = max(1, round(keep_s * 1000))
        args: list[str | int] = [_encode(expected), _encode(new), keep_ms]
        return bool(await self._replace(keys=[self._prefix + key], args=args))


def _encode(failures: Failures | None) -> str:
    # Milliseconds as integers, so a decoded state encodes back to the same string.
    return "" if failures is None else f"{failures.count}:{round(failures.last_at * 1000)}"


def _decode(value: bytes) -> Failures:
    count, last_ms = value.decode().split(":")
    return Failures(int(count), int(last_ms) / 1000)
