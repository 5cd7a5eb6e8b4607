"""Director notes: every injection and topic change, kept with the session's transcript."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from store.database import Database
from store.schema import director_notes
from store.types import utc_now


@dataclass(frozen=True, slots=True)
class DirectorNoteRecord:
    """One row of `director_notes`."""

    id: uuid.UUID
    session_id: uuid.UUID
    user_id: uuid.UUID | None
    kind: str
    text: str
    now: bool
    relative_offset_ms: int
    created_at: datetime


class DirectorNoteStore:
    """Reads and writes `director_notes`."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine

    async def add(
        self,
        session_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None,
        kind: str,
        text: str,
        now: bool,
        relative_offset_ms: int,
    ) -> DirectorNoteRecord:
        """Store a note given at `relative_offset_ms` on the interview clock."""
        statement = (
            insert(director_notes)
            .values(
                id=uuid.uuid4(),
                session_id=session_id,
                user_id=user_id,
                kind=kind,
                text=text,
                now=now,
                relative_offset_ms=relative_offset_ms,
                created_at=utc_now(),
            )
            .returning(*director_notes.c)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(statement)).one()
        return DirectorNoteRecord(**row._mapping)

    async def all(self, session_id: uuid.UUID) -> list[DirectorNoteRecord]:
        """The session's notes in interview order."""
        statement = (
            select(director_notes)
            .where(director_notes.c.session_id == session_id)
            .order_by(director_notes.c.relative_offset_ms, director_notes.c.created_at)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return [DirectorNoteRecord(**row._mapping) for row in rows]
