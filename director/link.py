"""The interview's side of director mode: its events out to the bus, commands in to the host.

Runs beside each live interview on the node that holds the guest's media (`directing`, which
the composition root enters around each interview). Every command is applied in arrival
order, stored with its offset on the interview clock, and answered with an `ack` (or an
`error`) addressed to the director connection that sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from correlation import current_request_id
from director.bus import InterviewBus, Message, request_id_of
from rtc.events import error_event
from rtc.interview import Interview
from rtc.turns import InterviewPhase

logger = logging.getLogger(__name__)

DRAIN_S = 5.0


class NoteKeeper(Protocol):
    """Where director notes are stored."""

    async def save_director_note(
        self,
        session_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None,
        kind: str,
        text: str,
        now: bool,
        relative_offset_ms: int,
    ) -> None: ...


@asynccontextmanager
async def directing(
    interview: Interview, bus: InterviewBus, notes: NoteKeeper
) -> AsyncIterator[None]:
    """Serve the interview's directors while the block runs. A block that ends normally
    (the interview has ended) lets the last events reach them first, up to 5 s; one that
    raises (this node lost the interview) stops at once: nothing more is published."""
    directors = asyncio.create_task(serve_directors(interview, bus, notes))
    try:
        yield
        try:
            async with asyncio.timeout(DRAIN_S):
                await directors
        except TimeoutError:
            logger.warning("the last events of %s did not all reach the bus", interview.session_id)
    finally:
        directors.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await directors


async def serve_directors(interview: Interview, bus: InterviewBus, notes: NoteKeeper) -> None:
    """Publish the interview's events and apply the directors' commands until it has ended."""
    session_id = str(interview.session_id)
    async with bus.commands(session_id) as commands:
        applier = asyncio.create_task(_apply_commands(interview, bus, commands, notes))
        try:
            await _publish_events(interview, bus)  # returns once the interview has ended
        finally:
            applier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await applier


async def _apply_commands(
    interview: Interview, bus: InterviewBus, commands: AsyncIterator[Message], notes: NoteKeeper
) -> None:
    async for command in commands:
        current_request_id.set(request_id_of(command))  # this task's: the director's request
        reply = await _apply(interview, command, notes)
        await bus.publish_event(str(interview.session_id), {**reply, "to": command.get("from")})


async def _publish_events(interview: Interview, bus: InterviewBus) -> None:
    subscription = interview.subscribe(with_state=False)
    try:
        async for event in subscription:
            await bus.publish_event(str(interview.session_id), event)
    finally:
        subscription.close()


async def _apply(interview: Interview, command: Message, notes: NoteKeeper) -> Message:
    if interview.phase is not InterviewPhase.LIVE:
        return error_event(
            "The interview is not live: notes can only be sent while it runs", "not_live"
        )
    kind = command.get("kind")
    offset = interview.elapsed_ms()
    user = command.get("user")
    user_id = uuid.UUID(user) if isinstance(user, str) else None
    try:
        if kind == "inject":
            text, now = str(command["text"]), bool(command.get("now"))
            await interview.take_note(text, now=now)
        elif kind == "topics":
            topics = [str(topic) for topic in command["topics"]]
            await interview.set_topics(topics)
            text, now = "; ".join(topics), False
        else:
            return error_event(f"Unknown command {kind!r}", "unknown_type")
    except Exception:
        logger.exception("the host of %s did not take a director's note", interview.session_id)
        return error_event("The AI host did not take the note: try again", "host_unavailable")
    try:
        await notes.save_director_note(
            interview.session_id,
            user_id=user_id,
            kind=str(kind),
            text=text,
            now=now,
            relative_offset_ms=offset,
        )
    except Exception:
        logger.exception("could not store a director note of %s", interview.session_id)
    return {"type": "ack", "id": command.get("id")}
