"""The buses: events and commands in order, from the moment of subscribing (local and Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from director.bus import InterviewBus, LocalBus, RedisBus
from tests.conftest import REDIS_URL


@pytest.fixture(params=["local", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[InterviewBus, InterviewBus]]:
    """Two handles on one bus, as two nodes would have."""
    if request.param == "local":
        bus = LocalBus()
        yield bus, bus
        return
    prefix = f"monumento-test-{uuid.uuid4().hex[:8]}"
    one, two = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    try:
        yield RedisBus(one, prefix), RedisBus(two, prefix)
    finally:
        await one.aclose()
        await two.aclose()


async def test_events_and_commands_arrive_in_order_from_the_moment_of_subscribing(
    buses: tuple[InterviewBus, InterviewBus],
) -> None:
    node, other = buses
    async with other.events("s1") as events, node.commands("s1") as commands:
        for n in range(20):
            await node.publish_event("s1", {"n": n})
            await other.send_command("s1", {"c": n})
        await node.publish_event("s2", {"n": "elsewhere"})
        async with asyncio.timeout(5):
            received = [await anext(events) for _ in range(20)]
            ordered = [await anext(commands) for _ in range(20)]
    assert received == [{"n": n} for n in range(20)]
    assert ordered == [{"c": n} for n in range(20)]
