"""Lease stores to test: Redis (the real one: missing is a failure) and in-process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from cluster.stores import LeaseStore, MemoryLeaseStore, RedisLeaseStore
from tests.conftest import REDIS_URL


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own."""
    return f"monumento-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await client.ping()  # no Redis: the test fails here
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, prefix: str, redis: Redis) -> LeaseStore:
    """One store as every node of a deployment sees it."""
    if request.param == "memory":
        return MemoryLeaseStore()
    return RedisLeaseStore(redis, prefix)
