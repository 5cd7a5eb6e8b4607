"""Interview events as the sockets send them, and the fan-out to everyone watching."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

logger = logging.getLogger(__name__)

Event = dict[str, Any]
SUBSCRIBER_QUEUE = 1024


def state_event(state: str, elapsed_ms: int, remaining_ms: int) -> Event:
    """`{"type": "state", ...}`: the lifecycle and the timer."""
    return {"type": "state", "state": state, "elapsedMs": elapsed_ms, "remainingMs": remaining_ms}


def host_event(state: str) -> Event:
    """`{"type": "host", ...}`: what the AI host is doing."""
    return {"type": "host", "state": state}


def transcript_event(role: str, text: str, relative_offset_ms: int, final: bool) -> Event:
    """`{"type": "transcript", ...}`: a live transcript line."""
    return {
        "type": "transcript",
        "role": role,
        "text": text,
        "relativeOffset": relative_offset_ms,
        "final": final,
    }


def error_event(message: str, code: str) -> Event:
    """`{"type": "error", ...}`: a problem the client should show or act on."""
    return {"type": "error", "error": message, "code": code}


class Subscription:
    """One watcher's bounded queue of events; iteration ends when the interview closes it."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.overflowed = False

    def offer(self, event: Event | None) -> None:
        """Queue an event; a watcher that fell 1024 events behind is cut off, not waited for."""
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            logger.warning("a watcher fell too far behind and was cut off")
            self._queue.get_nowait()
            self._queue.put_nowait(None)

    def close(self) -> None:
        """Stop receiving; iteration ends once the queue is drained."""
        self._hub.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self._queue.get()) is not None:
            yield event


class EventHub:
    """Publishes every event to every subscription (the guest and any directors)."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    def subscribe(self) -> Subscription:
        """A new subscription; on a closed hub it ends at once."""
        subscription = Subscription(self)
        if self._closed:
            subscription.offer(None)
        else:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription and end its iteration."""
        if subscription in self._subscriptions:
            self._subscriptions.discard(subscription)
            subscription.offer(None)

    def publish(self, event: Event) -> None:
        """Send an event to everyone subscribed."""
        for subscription in self._subscriptions:
            subscription.offer(event)

    def close(self) -> None:
        """End every subscription; later ones end at once."""
        self._closed = True
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription)
