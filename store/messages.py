"""Transcript messages of a session, in the order they were said."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from store.database import Database
from store.schema import messages
from store.types import utc_now


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One row of `messages`."""

    id: uuid.UUID
    session_id: uuid.UUID
    role: str
    text: str
    created_at: datetime
    relative_offset_ms: int | None
    audio_url: str | None
    metadata: dict[str, Any]


UPDATABLE_COLUMNS = frozenset({"text", "relative_offset_ms", "audio_url", "metadata"})
_CHRONOLOGICAL = (messages.c.created_at.asc(), messages.c.id.asc())


class MessageStore:
    """Reads and writes `messages`; callers check the session's ownership first."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine

    async def add(
        self,
        session_id: uuid.UUID,
        *,
        role: str,
        text: str,
        relative_offset_ms: int | None = None,
        audio_url: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MessageRecord:
        """Append a message, stamped now."""
        statement = (
            insert(messages)
            .values(
                id=uuid.uuid4(),
                session_id=session_id,
                role=role,
                text=text,
                created_at=utc_now(),
                relative_offset_ms=relative_offset_ms,
                audio_url=audio_url,
                metadata=metadata or {},
            )
            .returning(*messages.c)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(statement)).one()
        return MessageRecord(**row._mapping)

    async def all(self, session_id: uuid.UUID) -> list[MessageRecord]:
        """Every message of the session, oldest first."""
        statement = select(messages).where(messages.c.session_id == session_id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement.order_by(*_CHRONOLOGICAL))).all()
        return [MessageRecord(**row._mapping) for row in rows]

    async def page(
        self, session_id: uuid.UUID, *, offset: int, limit: int
    ) -> tuple[list[MessageRecord], int]:
        """One page of the session's messages, oldest first, and how many there are."""
        statement = (
            select(messages)
            .where(messages.c.session_id == session_id)
            .order_by(*_CHRONOLOGICAL)
            .offset(offset)
            .limit(limit)
        )
        count = (
            select(func.count()).select_from(messages).where(messages.c.session_id == session_id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
            total = (await connection.execute(count)).scalar_one()
        return [MessageRecord(**row._mapping) for row in rows], total

    async def update(
        self, session_id: uuid.UUID, message_id: uuid.UUID, changes: dict[str, Any]
    ) -> MessageRecord | None:
        """Apply changes to a message of this session; None if it is not in the session."""
        unknown = set(changes) - UPDATABLE_COLUMNS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        where = (messages.c.id == message_id, messages.c.session_id == session_id)
        async with self._engine.begin() as connection:
            if changes:
                statement = update(messages).where(*where).values(**changes)
                row = (await connection.execute(statement.returning(*messages.c))).one_or_none()
            else:
                row = (await connection.execute(select(messages).where(*where))).one_or_none()
        return None if row is None else MessageRecord(**row._mapping)

    async def delete(self, session_id: uuid.UUID, message_id: uuid.UUID) -> bool:
        """Delete a message of this session; False if it is not in the session."""
        statement = delete(messages).where(
            messages.c.id == message_id, messages.c.session_id == session_id
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1
