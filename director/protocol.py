"""The director socket's client messages, parsed and checked without any I/O."""

from __future__ import annotations

from dataclasses import dataclass

from signaling.protocol import Ping, ProtocolError, parse_json_frame

MAX_NOTE_CHARS = 4000
MAX_TOPICS = 50
MAX_TOPIC_CHARS = 300


@dataclass(frozen=True, slots=True)
class Inject:
    """Context for the host; `now` asks it to address the note at once."""

    text: str
    client_id: str
    now: bool


@dataclass(frozen=True, slots=True)
class Topics:
    """Replace the topic list the host works through."""

    topics: list[str]
    client_id: str | None


DirectorMessage = Inject | Topics | Ping


def parse_director_message(text: str) -> DirectorMessage:
    """One frame of a director's socket as a typed message, or `ProtocolError`."""
    message = parse_json_frame(text)
    kind = message["type"]
    client_id = message.get("id")
    if client_id is not None and not isinstance(client_id, str | int):
        raise ProtocolError("invalid_message", "id must be a string")
    client_id = None if client_id is None else str(client_id)[:200]
    if kind == "inject":
        note = message.get("text")
        if not isinstance(note, str) or not note.strip():
            raise ProtocolError("invalid_message", "inject: text must be a non-empty string")
        if len(note) > MAX_NOTE_CHARS:
            raise ProtocolError(
                "note_too_long", f"inject: text must be at most {MAX_NOTE_CHARS} characters"
            )
        now = message.get("now", False)
        if not isinstance(now, bool):
            raise ProtocolError("invalid_message", "inject: now must be true or false")
        return Inject(note.strip(), client_id or "", now)
    if kind == "topics":
        topics = message.get("topics")
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise ProtocolError("invalid_message", "topics: topics must be a list of strings")
        if len(topics) > MAX_TOPICS or any(len(t) > MAX_TOPIC_CHARS for t in topics):
            raise ProtocolError(
                "invalid_message",
                f"topics: at most {MAX_TOPICS} topics of {MAX_TOPIC_CHARS} characters each",
            )
        return Topics([t.strip() for t in topics if t.strip()], client_id)
    if kind == "ping":
        return Ping()
    raise ProtocolError("unknown_type", f"Unknown message type {kind!r}")
