"""Rate limits: 100 requests a minute per user (per address without a token), 429 beyond.

The Redis limiter is tested against the real Redis at 127.0.0.1:6379, shared by two apps
as two nodes of one deployment would share it. Every budget runs on a `FakeClock`, so no
budget refills while a slow machine serves the requests; one test keeps Redis's own clock.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.ratelimit import MemoryRateLimiter, RedisRateLimiter
from monumento.app import create_app
from tests.conftest import REDIS_URL, FakeClock, api_client, bearer, make_settings, register


async def test_memory_limiter_allows_a_burst_then_refills_steadily() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(100, clock=clock)
    decisions = [await limiter.hit("user:a") for _ in range(100)]
    assert all(decision.allowed for decision in decisions)
    assert decisions[-1].remaining == 0
    refused = await limiter.hit("user:a")
    assert not refused.allowed
    assert 0.5 < refused.retry_after_s <= 0.6
    assert (await limiter.hit("user:b")).allowed  # keys are independent
    clock.now += 0.6
    assert (await limiter.hit("user:a")).allowed
    assert not (await limiter.hit("user:a")).allowed
    clock.now += 60
    assert all([(await limiter.hit("user:a")).allowed for _ in range(100)])


async def test_memory_limiter_forgets_idle_keys() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(10, clock=clock)
    for n in range(1000):
        await limiter.hit(f"ip:{n}")
    clock.now += 61
    await limiter.hit("ip:new")
    assert len(limiter._arrivals) == 1


async def test_the_101st_request_in_a_minute_is_429_with_retry_after(
    tmp_path: Path, database_url: str
) -> None:
    clock = FakeClock()
    app = create_app(make_settings(tmp_path, database_url), rate_limit_clock=clock)
    async with app.router.lifespan_context(app), api_client(app) as client:
        # Registering spends one request of this address's budget, not of the user's.
        headers = bearer(await register(client))
        statuses = [
            (await client.get("/sessions", headers=headers)).status_code for _ in range(100)
        ]
        assert statuses == [200] * 100
        refused = await client.get("/sessions", headers=headers)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["code"] == "rate_limited"
        assert refused.json()["retryAfter"] == 1
        clock.now += 0.6  # one request's worth of the budget refills
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        assert (await client.get("/sessions", headers=headers)).status_code == 429


async def test_users_are_limited_separately_and_probes_are_not_limited(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, rate_limit_per_minute=3)
    app = create_app(settings, rate_limit_clock=FakeClock())
    async with app.router.lifespan_context(app), api_client(app) as client:
        first = bearer(await register(client))
        for _ in range(3):
            assert (await client.get("/auth/me", headers=first)).status_code == 200
        assert (await client.get("/auth/me", headers=first)).status_code == 429
        # Sign-in routes count against the address, token or not, and the registration
        # already used it once: two more pass, the third is refused.
        assert (await client.post("/auth/login", json={}, headers=first)).status_code == 400
        assert (await client.post("/auth/login", json={})).status_code == 400
        assert (await client.post("/auth/login", json={})).status_code == 429
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as probe:
            assert all([(await probe.get("/healthz")).status_code == 200 for _ in range(10)])


@pytest.fixture
async def redis_prefix() -> Any:
    prefix = f"monumento-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def test_redis_limiter_gcra_matches_the_memory_one(redis_prefix: str) -> None:
    clock = FakeClock()
    redis = Redis.from_url(REDIS_URL)
    try:
        limiter = RedisRateLimiter(redis, 5, prefix=redis_prefix, clock=clock)
        decisions = [await limiter.hit("user:a") for _ in range(6)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False]
        assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
        assert decisions[-1].retry_after_s == pytest.approx(12)
        assert await redis.pttl(f"{redis_prefix}:ratelimit:user:a") > 0  # keys expire by themselves
        assert (await limiter.hit("user:b")).allowed  # keys are independent
        clock.now += 12
        assert (await limiter.hit("user:a")).allowed
        assert not (await limiter.hit("user:a")).allowed
    finally:
        await redis.aclose()


async def test_without_a_clock_the_redis_limiter_keeps_redis_time(redis_prefix: str) -> None:
    async def redis_now() -> float:
        seconds, microseconds = await redis.time()
        return seconds + microseconds / 1_000_000

    redis = Redis.from_url(REDIS_URL)
    try:
        limiter = RedisRateLimiter(redis, 1, prefix=redis_prefix, period_s=3600)
        started = await redis_now()
        assert (await limiter.hit("user:a")).allowed
        refused = await limiter.hit("user:a")
        elapsed = await redis_now() - started
        # The wait is the hour less the time Redis saw pass between the two hits, which is
        # at most `elapsed`, however long that was (1 ms slack: the script keeps 14 digits).
        assert not refused.allowed
        assert 3600 - elapsed - 0.001 <= refused.retry_after_s <= 3600 + 0.001
    finally:
        await redis.aclose()


async def test_two_nodes_share_one_budget_through_redis(
    tmp_path: Path, database_url: str, redis_prefix: str
) -> None:
    clock = FakeClock()  # both nodes' time, as Redis's own clock is in production

    def node(name: str) -> Any:
        return create_app(
            make_settings(
                tmp_path / name,
                database_url,
                redis_url=REDIS_URL,
                redis_key_prefix=redis_prefix,
                rate_limit_per_minute=4,
            ),
            rate_limit_clock=clock,
        )

    one, two = node("one"), node("two")
    async with (
        one.router.lifespan_context(one),
        two.router.lifespan_context(two),
        api_client(one) as first,
        api_client(two) as second,
    ):
        headers = bearer(await register(first))  # the address's request, not the user's
        assert (await first.get("/auth/me", headers=headers)).status_code == 200
        assert (await second.get("/auth/me", headers=headers)).status_code == 200
        assert (await first.get("/auth/me", headers=headers)).status_code == 200
        assert (await second.get("/auth/me", headers=headers)).status_code == 200
        refused = await first.get("/auth/me", headers=headers)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "15"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=two), base_url="http://testserver"
        ) as probe:
            assert (await probe.get("/readyz")).json() == {"status": "ready"}
