"""Rate limits: 100 requests a minute per user (per address without a token), 429 beyond.

The Redis limiter is tested against the real Redis at 127.0.0.1:6379, shared by two apps
as two nodes of one deployment would share it.
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
from tests.conftest import REDIS_URL, api_client, bearer, make_settings, register


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    # Registering the guest spent one request of this address's budget, not of the user's.
    statuses = [
        (await client.get("/sessions", headers=guest_headers)).status_code for _ in range(100)
    ]
    assert statuses == [200] * 100
    refused = await client.get("/sessions", headers=guest_headers)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["retryAfter"] == 1


async def test_users_are_limited_separately_and_probes_are_not_limited(
    tmp_path: Path, database_url: str
) -> None:
    app = create_app(make_settings(tmp_path, database_url, rate_limit_per_minute=3))
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
    redis = Redis.from_url(REDIS_URL)
    try:
        limiter = RedisRateLimiter(redis, 5, prefix=redis_prefix)
        decisions = [await limiter.hit("user:a") for _ in range(6)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False]
        assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
        assert 11 < decisions[-1].retry_after_s <= 12
        assert await redis.pttl(f"{redis_prefix}:ratelimit:user:a") > 0  # keys expire by themselves
    finally:
        await redis.aclose()


async def test_two_nodes_share_one_budget_through_redis(
    tmp_path: Path, database_url: str, redis_prefix: str
) -> None:
    def node(name: str) -> Any:
        return create_app(
            make_settings(
                tmp_path / name,
                database_url,
                redis_url=REDIS_URL,
                redis_key_prefix=redis_prefix,
                rate_limit_per_minute=4,
            )
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
        assert int(refused.headers["Retry-After"]) >= 1
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=two), base_url="http://testserver"
        ) as probe:
            assert (await probe.get("/readyz")).json() == {"status": "ready"}
