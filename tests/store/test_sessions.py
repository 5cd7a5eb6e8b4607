"""The sessions store's interview start, on both databases: claimed once, even at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from config import Settings
from store import schema
from store.database import Database
from store.sessions import SessionStore
from store.users import UserStore


async def test_only_one_of_many_concurrent_claims_starts_the_interview(database_url: str) -> None:
    database = Database(Settings(database_url=database_url).resolved_database_url)
    try:
        user = await UserStore(database).create(
            email=f"{uuid.uuid4().hex}@example.com", password_hash="x", full_name=None
        )
        sessions = SessionStore(database)
        session = await sessions.create(
            user.id,
            vibe="The Jester",
            mode="Auto-Pilot",
            duration_minutes=5,
            video_url=None,
            metadata={},
        )
        claims = await asyncio.gather(*(sessions.claim_start(session.id) for _ in range(8)))
        assert sorted(claims) == [False] * 7 + [True]
        stored = await sessions.get(session.id)
        assert stored is not None and stored.started_at is not None

        await sessions.release_start(session.id)  # it ended before any media flowed
        assert await sessions.claim_start(session.id)
        assert not await sessions.claim_start(session.id)
    finally:
        await database.close()


async def test_a_start_left_by_a_dead_process_is_taken_over_once_it_is_stale(
    database_url: str,
) -> None:
    database = Database(Settings(database_url=database_url).resolved_database_url)
    try:
        user = await UserStore(database).create(
            email=f"{uuid.uuid4().hex}@example.com", password_hash="x", full_name=None
        )
        sessions = SessionStore(database)
        session = await sessions.create(
            user.id,
            vibe="The Jester",
            mode="Auto-Pilot",
            duration_minutes=5,
            video_url=None,
            metadata={},
        )
        assert await sessions.claim_start(session.id)  # then the process died
        minute = timedelta(minutes=1)
        assert not await sessions.claim_stale_start(session.id, minute)  # too fresh to tell

        two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
        async with database.engine.begin() as connection:
            await connection.execute(
                update(schema.sessions)
                .where(schema.sessions.c.id == session.id)
                .values(started_at=two_minutes_ago)
            )
        claims = await asyncio.gather(
            *(sessions.claim_stale_start(session.id, minute) for _ in range(4))
        )
        assert sorted(claims) == [False] * 3 + [True]

        async with database.engine.begin() as connection:
            await connection.execute(
                update(schema.sessions)
                .where(schema.sessions.c.id == session.id)
                .values(started_at=two_minutes_ago)
            )
        await sessions.set_status(session.id, "live")  # it did take place
        assert not await sessions.claim_stale_start(session.id, minute)
    finally:
        await database.close()
