"""Recordings: each session's manifest and finished files, as the node that records them saw them.

The recorder keeps its manifest in the session folder on its own node's disk
(`recorder/manifest.py`); this table mirrors it, so every node of a deployment can answer
for a recording it did not make. `files` are the finished files that exist in the folder,
`mirrored` those of them whose copy in shared storage (the S3 bucket) is current, and
`node_id` the node whose disk holds the folder.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from store.database import Database
from store.schema import recordings
from store.types import utc_now

_LOOKUP_CHUNK = 500  # session ids per `IN (...)`: far below either database's limit


@dataclass(frozen=True, slots=True)
class RecordingRecord:
    """One row of `recordings`."""

    session_id: uuid.UUID
    node_id: str
    manifest: dict[str, Any]  # manifest.json as the recorder wrote it
    files: list[str]
    mirrored: list[str]
    updated_at: datetime


class RecordingStore:
    """Reads and writes `recordings`."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine

    async def put(
        self,
        session_id: uuid.UUID,
        *,
        node_id: str,
        manifest: dict[str, Any],
        files: list[str],
        mirrored: list[str],
    ) -> bool:
        """Insert or replace the session's row; False if the session no longer exists."""
        values = {
            "node_id": node_id,
            "manifest": manifest,
            "files": files,
            "mirrored": mirrored,
            "updated_at": utc_now(),
        }
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(recordings)
            .values(session_id=session_id, **values)
            .on_conflict_do_update(index_elements=[recordings.c.session_id], set_=values)
        )
        try:
            async with self._engine.begin() as connection:
                await connection.execute(statement)
        except IntegrityError:  # the session was deleted (its row would cascade anyway)
            return False
        return True

    async def get(self, session_id: uuid.UUID) -> RecordingRecord | None:
        """The session's row, if its recording was ever listed."""
        statement = select(recordings).where(recordings.c.session_id == session_id)
        async with self._engine.connect() as connection:
            row = (await connection.execute(statement)).one_or_none()
        return None if row is None else RecordingRecord(**row._mapping)

    async def listed(self, session_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these sessions have a row."""
        wanted = list(session_ids)
        found: set[uuid.UUID] = set()
        async with self._engine.connect() as connection:
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start : start + _LOOKUP_CHUNK]
                statement = select(recordings.c.session_id).where(
                    recordings.c.session_id.in_(chunk)
                )
                found.update((await connection.execute(statement)).scalars())
        return found
