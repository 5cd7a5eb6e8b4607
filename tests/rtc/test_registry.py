"""Two nodes' registries on one PostgreSQL and one Redis: each interview starts on one node
only, and a node that loses an interview's lease ends it there and writes nothing more."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from cluster.lease import LeaseToken
from cluster.leases import Leases
from cluster.stores import RedisLeaseStore
from config import Settings
from director.bus import LocalBus
from monumento.interviews import NodeHooks, StoreInterviewPersistence
from recorder.manifest import session_media_dir
from recorder.session import SUPERSEDED_DIR, SessionRecorder
from rtc.bridge.base import HostEvent
from rtc.bridge.brief import HostBrief
from rtc.interview import Interview, VadSettings
from rtc.registry import (
    STALE_START,
    InterviewRegistry,
    InterviewRequest,
    JoinRefused,
    RegistrySettings,
)
from rtc.turns import InterviewPhase
from store import schema
from store.database import Database
from store.director_notes import DirectorNoteStore
from store.messages import MessageStore
from store.sessions import SessionRecord, SessionStore
from store.users import UserStore
from tests.conftest import REDIS_URL, ManualSleep


class SilentHost:
    """A host that never gets to speak: these interviews end before any media flows."""

    async def start(self) -> None: ...
    async def send_audio(self, pcm: bytes) -> None: ...
    async def send_video(self, jpeg: bytes) -> None: ...
    async def guest_started_speaking(self) -> None: ...
    async def guest_stopped_speaking(self) -> None: ...
    async def inject(self, text: str, *, now: bool) -> None: ...
    async def set_topics(self, topics: list[str]) -> None: ...
    async def wrap_up(self) -> None: ...

    async def events(self) -> AsyncIterator[HostEvent]:
        return
        yield

    def report(self) -> dict[str, Any]:
        return {}

    async def close(self) -> None: ...


@dataclass
class Node:
    """One node: its registry, and the sleep its lease renewals wait on."""

    name: str
    registry: InterviewRegistry
    renewals: ManualSleep
    data_dir: Path


@dataclass
class Deployment:
    """Two nodes sharing the database and Redis."""

    a: Node
    b: Node
    sessions: SessionStore
    redis: Redis
    prefix: str
    database: Database

    async def new_session(self) -> SessionRecord:
        user = await UserStore(self.database).create(f"{uuid.uuid4().hex}@example.com", "x", None)
        return await self.sessions.create(
            user.id,
            vibe="The Historian",
            mode="Auto-Pilot",
            duration_minutes=5,
            video_url=None,
            metadata={},
        )

    def lease_key(self, session_id: uuid.UUID) -> str:
        return f"{self.prefix}:interview:{session_id}:lease"


def request_of(session: SessionRecord) -> InterviewRequest:
    return InterviewRequest(
        session_id=session.id,
        status=session.status,
        brief=HostBrief.of_session(session.vibe, session.mode, session.duration_minutes, {}),
    )


@pytest.fixture
async def deployment(tmp_path: Path, empty_postgres: str) -> AsyncIterator[Deployment]:
    database = Database(Settings(database_url=empty_postgres).resolved_database_url)
    redis = Redis.from_url(REDIS_URL)
    await redis.ping()  # no Redis: the test fails here
    prefix = f"monumento-test-{uuid.uuid4().hex[:8]}"
    sessions = SessionStore(database)
    persistence = StoreInterviewPersistence(
        sessions, MessageStore(database), DirectorNoteStore(database)
    )
    executor = ThreadPoolExecutor(max_workers=1)

    def node(name: str) -> Node:
        renewals = ManualSleep()
        data_dir = tmp_path / name
        leases = Leases(RedisLeaseStore(redis, prefix), name, sleep=renewals)
        registry = InterviewRegistry(
            bridge_factory=lambda _brief: SilentHost(),
            persistence=persistence,
            settings=RegistrySettings(vad=VadSettings(), rejoin_grace_s=600.0),
            hooks=NodeHooks(leases, LocalBus(), persistence),
            recorders=lambda session_id: SessionRecorder(
                session_media_dir(data_dir, session_id), str(session_id), executor
            ),
            on_recorded=lambda session_id: None,
        )
        return Node(name, registry, renewals, data_dir)

    a, b = node("a"), node("b")
    try:
        yield Deployment(a, b, sessions, redis, prefix, database)
    finally:
        await a.registry.close()
        await b.registry.close()
        executor.shutdown()
        await redis.aclose()
        await database.close()


async def joined(node: Node, request: InterviewRequest) -> Interview | JoinRefused:
    try:
        return await node.registry.join(request)
    except JoinRefused as refused:
        return refused


async def test_two_nodes_joined_at_once_start_one_interview(deployment: Deployment) -> None:
    session = await deployment.new_session()
    request = request_of(session)
    outcomes = await asyncio.gather(joined(deployment.a, request), joined(deployment.b, request))
    started = [o for o in outcomes if isinstance(o, Interview)]
    refused = [o for o in outcomes if isinstance(o, JoinRefused)]
    assert len(started) == 1 and [r.code for r in refused] == ["interview_elsewhere"]
    owner, other = (
        (deployment.a, deployment.b) if outcomes[0] is started[0] else (deployment.b, deployment.a)
    )
    assert len(owner.registry) == 1 and len(other.registry) == 0
    holder = await deployment.redis.get(deployment.lease_key(session.id))
    assert holder is not None and LeaseToken.decode(holder.decode()).node == owner.name
    # A rejoin on the other node, later, is refused too; on the owner it finds the interview.
    await started[0].release_guest()
    refusal = await joined(other, request)
    assert isinstance(refusal, JoinRefused) and refusal.code == "interview_elsewhere"
    assert len(other.registry) == 0
    assert await owner.registry.join(request) is started[0]
    started[0].end("the test is over")
    await owner.registry.wait_until_empty()
    assert await deployment.redis.get(deployment.lease_key(session.id)) is None  # released


async def taken_over(deployment: Deployment) -> tuple[SessionRecord, Interview, Interview]:
    """Redis restarts (every lease gone) while node a's interview waits for its first media,
    past the stale-start minute; a rejoin through node b then takes the interview over.
    Returns the session, a's interview and b's."""
    session = await deployment.new_session()
    on_a = await deployment.a.registry.join(request_of(session))
    await deployment.redis.delete(deployment.lease_key(session.id))  # Redis restarted
    async with deployment.database.engine.begin() as connection:  # a's claim is stale now
        await connection.execute(
            update(schema.sessions)
            .where(schema.sessions.c.id == session.id)
            .values(started_at=datetime.now(UTC) - STALE_START * 2)
        )
    on_b = await deployment.b.registry.join(request_of(session))
    return session, on_a, on_b


async def test_the_node_that_lost_the_lease_ends_its_interview_and_writes_nothing_more(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = deployment.a, deployment.b
    session, on_a, on_b = await taken_over(deployment)
    seen = on_a.subscribe()
    claimed_by_b = (await deployment.sessions.get(session.id)).started_at  # type: ignore[union-attr]

    a.renewals.tick()  # a's next renewal finds b's lease
    async with asyncio.timeout(30):
        await a.registry.wait_until_empty()

    assert on_a.phase is InterviewPhase.ENDED
    assert on_b.phase is not InterviewPhase.ENDED and b.registry.get(session.id) is on_b
    told = [event async for event in seen]
    assert {"type": "error", "code": "interview_elsewhere"}.items() <= told[1].items()
    assert told[-1]["state"] == "ended"
    assert "lost, another node owns the interview now" in caplog.text
    await assert_untouched_by_a(deployment, session, claimed_by_b)


async def test_an_interview_ending_before_the_next_renewal_still_writes_nothing(
    deployment: Deployment,
) -> None:
    """The guest on node a leaves before a's next renewal: its last writes check first."""
    session, on_a, _ = await taken_over(deployment)
    claimed_by_b = (await deployment.sessions.get(session.id)).started_at  # type: ignore[union-attr]
    on_a.end("the guest ended the interview")
    async with asyncio.timeout(30):
        await deployment.a.registry.wait_until_empty()
    assert deployment.a.renewals.asked == [deployment.a.renewals.asked[0]]  # no renewal ran
    await assert_untouched_by_a(deployment, session, claimed_by_b)


async def assert_untouched_by_a(
    deployment: Deployment, session: SessionRecord, claimed_by_b: datetime | None
) -> None:
    """Node a left the session as node b made it: b's start claim, lease and recording."""
    a, b = deployment.a, deployment.b
    after = await deployment.sessions.get(session.id)
    assert after is not None
    assert after.started_at == claimed_by_b  # a did not undo b's start claim
    assert after.status == "created"  # a set nothing
    holder = await deployment.redis.get(deployment.lease_key(session.id))
    assert holder is not None and LeaseToken.decode(holder.decode()).node == "b"  # not deleted
    # a's part of the recording is kept aside, out of finalisation and of the session's place.
    assert not session_media_dir(a.data_dir, session.id).exists()
    assert len(list((a.data_dir / "media" / SUPERSEDED_DIR).iterdir())) == 1
    assert session_media_dir(b.data_dir, session.id).exists()
