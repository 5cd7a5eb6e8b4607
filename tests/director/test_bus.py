"""The buses: events and commands in order, from the moment of subscribing (local and Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from correlation import current_request_id
from director.bus import REQUEST_ID, InterviewBus, LocalBus, RedisBus, request_id_of
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


async def test_a_message_sent_from_a_request_carries_its_id_and_others_none(
    buses: tuple[InterviewBus, InterviewBus],
) -> None:
    node, other = buses
    async with other.events("s1") as events, node.commands("s1") as commands:
        token = current_request_id.set("director-request-1")
        try:
            await other.send_command("s1", {"c": 1})
            await node.publish_event("s1", {"n": 1})
        finally:
            current_request_id.reset(token)
        await node.publish_event("s1", {"n": 2})  # from no request (an older node's alike)
        async with asyncio.timeout(5):
            command = await anext(commands)
            stamped, plain = await anext(events), await anext(events)
    assert command == {"c": 1, REQUEST_ID: "director-request-1"}
    assert request_id_of(command) == request_id_of(stamped) == "director-request-1"
    assert plain == {"n": 2} and request_id_of(plain) is None
