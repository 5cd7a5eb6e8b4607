"""How interview events reach directors and director commands reach the interview's node.

`LocalBus` does it inside one process; `RedisBus` across nodes, with Redis pub/sub for the
two streams. Both deliver each stream in publication order, everything published once a
subscription is entered. Which node runs an interview is for its lease to say (`cluster`).
A message published in a request's context carries its id (`requestId`, optional: older
nodes neither send nor expect it), for its reader to log under.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from redis.asyncio import Redis

from correlation import current_request_id
from wire.json_input import JsonRefused, parse_json

logger = logging.getLogger(__name__)

Message = dict[str, Any]
QUEUE = 1024
REQUEST_ID = "requestId"


def with_request_id(message: Message) -> Message:
    """`message` stamped with the id of the request in context, if any (a copy then)."""
    request_id = current_request_id.get()
    return message if request_id is None else {**message, REQUEST_ID: request_id}


def request_id_of(message: Message) -> str | None:
    """The id of the request a message was published from, if it says."""
    request_id = message.get(REQUEST_ID)
    return request_id if isinstance(request_id, str) else None


class InterviewBus(Protocol):
    """Events out of an interview, commands into it."""

    async def publish_event(self, session_id: str, event: Message) -> None: ...

    def events(
        self, session_id: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Message]]: ...

    async def send_command(self, session_id: str, command: Message) -> None: ...

    def commands(
        self, session_id: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Message]]: ...


async def _drain(queue: asyncio.Queue[Message]) -> AsyncIterator[Message]:
    while True:
        yield await queue.get()


class LocalBus:
    """One node: queues in memory; a subscriber 1024 messages behind loses the oldest."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Message]]] = defaultdict(set)

    async def publish_event(self, session_id: str, event: Message) -> None:
        self._deliver(f"events:{session_id}", with_request_id(event))

    @asynccontextmanager
    async def events(self, session_id: str) -> AsyncIterator[AsyncIterator[Message]]:
        async with self._subscription(f"events:{session_id}") as stream:
            yield stream

    async def send_command(self, session_id: str, command: Message) -> None:
        self._deliver(f"commands:{session_id}", with_request_id(command))

    @asynccontextmanager
    async def commands(self, session_id: str) -> AsyncIterator[AsyncIterator[Message]]:
        async with self._subscription(f"commands:{session_id}") as stream:
            yield stream

    def _deliver(self, channel: str, message: Message) -> None:
        for queue in self._subscribers.get(channel, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE)
        self._subscribers[channel].add(queue)
        try:
            yield _drain(queue)
        finally:
            self._subscribers[channel].discard(queue)
            if not self._subscribers[channel]:
                del self._subscribers[channel]


class RedisBus:
    """Many nodes: Redis pub/sub channels, one per stream of each interview."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def publish_event(self, session_id: str, event: Message) -> None:
        await self._redis.publish(
            self._channel("events", session_id), json.dumps(with_request_id(event))
        )

    @asynccontextmanager
    async def events(self, session_id: str) -> AsyncIterator[AsyncIterator[Message]]:
        async with self._subscription(self._channel("events", session_id)) as stream:
            yield stream

    async def send_command(self, session_id: str, command: Message) -> None:
        await self._redis.publish(
            self._channel("commands", session_id), json.dumps(with_request_id(command))
        )

    @asynccontextmanager
    async def commands(self, session_id: str) -> AsyncIterator[AsyncIterator[Message]]:
        async with self._subscription(self._channel("commands", session_id)) as stream:
            yield stream

    def _channel(self, kind: str, session_id: str) -> str:
        return f"{self._prefix}:interview:{session_id}:{kind}"

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[AsyncIterator[Message]]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        # SUBSCRIBE's reply, the connection's first: Redis has registered the subscription, so
        # nothing published from now on is missed, however late this node reads it.
        await pubsub.get_message(timeout=None)

        async def messages() -> AsyncIterator[Message]:
            async for raw in pubsub.listen():
                if raw.get("type") != "message":
                    continue
                try:
                    message = parse_json(raw["data"])
                except JsonRefused as error:
                    logger.warning("dropped a bus message on %s: %s", channel, error)
                    continue
                if isinstance(message, dict):
                    yield message
                else:
                    logger.warning("dropped a bus message on %s: not a JSON object", channel)

        try:
            yield messages()
        finally:
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
