"""The ids that tie a log line or an error report to what it was part of.

The request id (one per HTTP request or socket, `api.request_id`), the session whose
interview it concerns, and this process's node id. They live in context variables, so every
task started from a request or an interview carries them on; the bus and the finalisation
queue carry the request id across to where the work continues.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
current_session_id: ContextVar[str | None] = ContextVar("current_session_id", default=None)

__all__ = ["bind_session", "current_ids", "current_request_id", "current_session_id"]


def bind_session(session_id: uuid.UUID | str) -> None:
    """From now on, in this context (a request, a socket, an interview's tasks), the work is
    about `session_id`; the context ends with its task, so there is nothing to undo."""
    current_session_id.set(str(session_id))


def current_ids() -> dict[str, str]:
    """`request_id` and `session` as far as they are known here."""
    ids: dict[str, str] = {}
    if (request_id := current_request_id.get()) is not None:
        ids["request_id"] = request_id
    if (session_id := current_session_id.get()) is not None:
        ids["session"] = session_id
    return ids
