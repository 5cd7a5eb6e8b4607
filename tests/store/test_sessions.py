"""The sessions store's interview start, on both databases: claimed once, even at once."""

from __future__ import annotations

import asyncio
import uuid

from config import Settings
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
