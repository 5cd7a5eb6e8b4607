"""Interview sessions: what the guest asked for (vibe, mode, duration) and where it stands."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, insert, select, update

from store.database import Database
from store.schema import sessions
from store.types import utc_now


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One row of `sessions`."""

    id: uuid.UUID
    user_id: uuid.UUID
    vibe: str
    mode: str
    duration_minutes: int
    status: str
    video_url: str | None
    transcript_url: str | None
    summary: str | None
    summary_generated_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    progress: float | None = None
    started_at: datetime | None = None
    """When the interview started; from then on `SERVER_OWNED` columns are the server's."""


SERVER_OWNED = frozenset({"status", "video_url", "transcript_url"})
"""Columns a user may set only before the session's interview starts (CONTRACT.md)."""
UPDATABLE_COLUMNS = SERVER_OWNED | {
    "vibe",
    "mode",
    "duration_minutes",
    "summary",
    "summary_generated_at",
    "metadata",
}


class SessionStore:
    """Reads and writes `sessions`; every call that a user makes is scoped to its owner."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine

    async def create(
        self,
        user_id: uuid.UUID,
        *,
        vibe: str,
        mode: str,
        duration_minutes: int,
        video_url: str | None,
        metadata: dict[str, Any],
    ) -> SessionRecord:
        """Insert a session in the `created` state."""
        now = utc_now()
        statement = (
            insert(sessions)
            .values(
                id=uuid.uuid4(),
                user_id=user_id,
                vibe=vibe,
                mode=mode,
                duration_minutes=duration_minutes,
                status="created",
                video_url=video_url,
                metadata=metadata,
                created_at=now,
                updated_at=now,
            )
            .returning(*sessions.c)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(statement)).one()
        return SessionRecord(**row._mapping)

    async def get(self, session_id: uuid.UUID) -> SessionRecord | None:
        """The session, whoever owns it (for role-checked callers)."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(select(sessions).where(sessions.c.id == session_id))
            ).one_or_none()
        return None if row is None else SessionRecord(**row._mapping)

    async def get_owned(self, session_id: uuid.UUID, user_id: uuid.UUID) -> SessionRecord | None:
        """The session if this user owns it."""
        record = await self.get(session_id)
        return record if record is not None and record.user_id == user_id else None

    async def list_owned(
        self, user_id: uuid.UUID, *, offset: int, limit: int
    ) -> tuple[list[SessionRecord], int]:
        """One page of the user's sessions, newest first, and how many there are in all."""
        page = (
            select(sessions)
            .where(sessions.c.user_id == user_id)
            .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        count = select(func.count()).select_from(sessions).where(sessions.c.user_id == user_id)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(page)).all()
            total = (await connection.execute(count)).scalar_one()
        return [SessionRecord(**row._mapping) for row in rows], total

    async def update_owned(
        self, session_id: uuid.UUID, user_id: uuid.UUID, changes: dict[str, Any]
    ) -> SessionRecord | None:
        """Apply column changes to the user's session; None if it is not theirs.

        Once the interview has started, `SERVER_OWNED` columns keep their values: the
        choice is made in the same statement, so no start can slip in between."""
        unknown = set(changes) - UPDATABLE_COLUMNS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        not_started = sessions.c.started_at.is_(None)
        values: dict[str, Any] = {
            name: case((not_started, value), else_=sessions.c[name])
            if name in SERVER_OWNED
            else value
            for name, value in changes.items()
        }
        statement = (
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.user_id == user_id)
            .values(**values, updated_at=utc_now())
            .returning(*sessions.c)
        )
        async with self._engine.begin() as connection:
            row = (await connection.execute(statement)).one_or_none()
        return None if row is None else SessionRecord(**row._mapping)

    async def merge_metadata_owned(
        self,
        session_id: uuid.UUID,
        user_id: uuid.UUID,
        patch: dict[str, Any],
        check: Callable[[dict[str, Any]], None],
    ) -> SessionRecord | None:
        """Merge `patch` into the metadata at the top level, in one transaction; `check` sees
        the merged metadata first and may raise to leave the row as it was."""
        return await self._merge_metadata(
            patch, sessions.c.id == session_id, sessions.c.user_id == user_id, check=check
        )

    async def merge_metadata(
        self, session_id: uuid.UUID, patch: dict[str, Any]
    ) -> SessionRecord | None:
        """The server's own additions to the metadata (the host's connection report)."""
        return await self._merge_metadata(patch, sessions.c.id == session_id)

    async def _merge_metadata(
        self,
        patch: dict[str, Any],
        *where: ColumnElement[bool],
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> SessionRecord | None:
        async with self._engine.begin() as connection:
            current = (
                await connection.execute(
                    select(sessions.c.metadata).where(*where).with_for_update()
                )
            ).scalar_one_or_none()
            if current is None:
                return None
            merged = {**current, **patch}
            if check is not None:
                check(merged)
            row = (
                await connection.execute(
                    update(sessions)
                    .where(*where)
                    .values(metadata=merged, updated_at=utc_now())
                    .returning(*sessions.c)
                )
            ).one()
        return SessionRecord(**row._mapping)

    async def claim_start(self, session_id: uuid.UUID) -> bool:
        """Mark the session's interview started, if it never was: True for the one caller
        that did it (one statement, so two nodes joining at once cannot both start)."""
        statement = (
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.started_at.is_(None))
            .values(started_at=utc_now())
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1

    async def claim_stale_start(self, session_id: uuid.UUID, older_than: timedelta) -> bool:
        """Take over a start claimed more than `older_than` ago by a process that died
        before any media flowed (the status is still `created`); True for the one caller
        that did. Only for a session whose interview runs nowhere (the caller checks)."""
        statement = (
            update(sessions)
            .where(
                sessions.c.id == session_id,
                sessions.c.status == "created",
                sessions.c.started_at < utc_now() - older_than,
            )
            .values(started_at=utc_now())
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1

    async def release_start(self, session_id: uuid.UUID) -> None:
        """Undo `claim_start` for an interview that ended before any media flowed (nothing
        was said or recorded), so the guest may try again."""
        statement = update(sessions).where(sessions.c.id == session_id).values(started_at=None)
        async with self._engine.begin() as connection:
            await connection.execute(statement)

    async def set_status(self, session_id: uuid.UUID, status: str, **columns: Any) -> None:
        """Move the session to a status (the engine's and the recorder's transitions)."""
        await self.set_server_fields(session_id, status=status, **columns)

    async def set_server_fields(self, session_id: uuid.UUID, **columns: Any) -> None:
        """Fields the server maintains: status, progress, video and transcript URLs."""
        statement = (
            update(sessions)
            .where(sessions.c.id == session_id)
            .values(**columns, updated_at=utc_now())
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)

    async def delete_owned(self, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Delete the user's session and (by cascade) its messages."""
        statement = delete(sessions).where(
            sessions.c.id == session_id, sessions.c.user_id == user_id
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1
