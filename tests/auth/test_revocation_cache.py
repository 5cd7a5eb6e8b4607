"""Both revocation caches: a revocation always overwrites, a database read never does.

The Redis cache runs against the real Redis at 127.0.0.1:6379; the memory cache's time is
a `FakeClock`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from auth.revocation_cache import MEMORY_LIVE_TTL_S, MemoryRevocationCache, RedisRevocationCache
from auth.revocations import RevocationCache
from store.refresh_tokens import FamilyStatus
from tests.conftest import REDIS_URL, FakeClock

LIVE, REVOKED, DISABLED = FamilyStatus.LIVE, FamilyStatus.REVOKED, FamilyStatus.DISABLED


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"monumento-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture(params=["memory", "redis"])
async def cache(
    request: pytest.FixtureRequest, redis_prefix: str
) -> AsyncIterator[RevocationCache]:
    if request.param == "memory":
        yield MemoryRevocationCache(900)
        return
    redis = Redis.from_url(REDIS_URL)
    try:
        yield RedisRevocationCache(redis, prefix=redis_prefix, access_ttl_s=900)
    finally:
        await redis.aclose()


async def test_a_read_fills_a_miss_and_a_revocation_overwrites_it(cache: RevocationCache) -> None:
    family, other = uuid.uuid4(), uuid.uuid4()
    assert await cache.get(family) is None
    await cache.remember(family, LIVE)
    assert await cache.get(family) is LIVE
    await cache.mark([family, other], REVOKED)
    assert await cache.get(family) is REVOKED
    assert await cache.get(other) is REVOKED
    await cache.mark([family], DISABLED)
    assert await cache.get(family) is DISABLED
    await cache.mark([], REVOKED)  # a user without families


async def test_a_late_database_read_does_not_undo_a_revocation(cache: RevocationCache) -> None:
    """A request read "live" from the database just before a logout, and caches it after."""
    family = uuid.uuid4()
    await cache.mark([family], REVOKED)
    await cache.remember(family, LIVE)
    assert await cache.get(family) is REVOKED


async def test_redis_entries_last_an_access_token_lifetime(redis_prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        cache = RedisRevocationCache(redis, prefix=redis_prefix, access_ttl_s=900)
        family = uuid.uuid4()
        await cache.remember(family, LIVE)
        await cache.mark([uuid.uuid4()], REVOKED)
        for key in [key async for key in redis.scan_iter(f"{redis_prefix}:family:*")]:
            assert 0 < await redis.pttl(key) <= 900_000
    finally:
        await redis.aclose()


async def test_memory_keeps_live_answers_briefly_and_revocations_for_a_token_lifetime() -> None:
    clock = FakeClock()
    cache = MemoryRevocationCache(900, clock=clock)
    live, revoked = uuid.uuid4(), uuid.uuid4()
    await cache.remember(live, LIVE)
    await cache.mark([revoked], REVOKED)
    clock.now += MEMORY_LIVE_TTL_S
    assert await cache.get(live) is None  # the next request asks the database again
    assert await cache.get(revoked) is REVOKED
    clock.now += 900
    assert await cache.get(revoked) is None  # every token of it has expired by now


async def test_memory_is_bounded_and_drops_the_oldest_first() -> None:
    cache = MemoryRevocationCache(900, max_entries=3, clock=FakeClock())
    families = [uuid.uuid4() for _ in range(5)]
    await cache.mark(families, REVOKED)
    assert [await cache.get(family) for family in families] == [None, None] + [REVOKED] * 3
