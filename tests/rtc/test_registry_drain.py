"""The registry's drain: new interviews refused, starts already under way waited for."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any, NoReturn

import pytest

from cluster.leases import Leases
from cluster.stores import MemoryLeaseStore
from director.bus import LocalBus
from monumento.interviews import NodeHooks
from rtc.bridge.brief import HostBrief
from rtc.interview import VadSettings
from rtc.registry import InterviewRegistry, InterviewRequest, JoinRefused, RegistrySettings


class SlowClaims:
    """A database whose start mark answers (no: already started) when the test lets it."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()
        self.said: list[str] = []

    async def claim_start(self, session_id: uuid.UUID) -> bool:
        self.asked.set()
        await self.answer.wait()
        self.said.append("claim answered")
        return False

    async def claim_stale_start(self, session_id: uuid.UUID, older_than: timedelta) -> bool:
        return False

    async def release_start(self, session_id: uuid.UUID) -> None: ...

    async def save_transcript(
        self, session_id: uuid.UUID, role: str, text: str, relative_offset_ms: int
    ) -> None: ...

    async def set_status(self, session_id: uuid.UUID, status: str) -> None: ...

    async def save_host_report(self, session_id: uuid.UUID, report: dict[str, Any]) -> None: ...

    def handed_over(self, session_id: uuid.UUID) -> None: ...

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


def no_host(_brief: HostBrief) -> NoReturn:
    raise AssertionError("no interview starts in these tests")


def registry(persistence: SlowClaims) -> InterviewRegistry:
    return InterviewRegistry(
        bridge_factory=no_host,
        persistence=persistence,
        settings=RegistrySettings(vad=VadSettings()),
        hooks=NodeHooks(Leases(MemoryLeaseStore(), "one"), LocalBus(), persistence),
    )


def request(session_id: uuid.UUID, status: str = "live") -> InterviewRequest:
    return InterviewRequest(session_id, status, HostBrief("The Historian", "Auto-Pilot", 5))


async def test_a_draining_registry_refuses_new_interviews() -> None:
    interviews = registry(SlowClaims())
    assert not interviews.draining
    interviews.drain()
    assert interviews.draining
    with pytest.raises(JoinRefused) as refused:
        await interviews.join(request(uuid.uuid4(), "created"))
    assert refused.value.code == "node_draining"
    with pytest.raises(JoinRefused) as over:  # retrying elsewhere would not help
        await interviews.join(request(uuid.uuid4(), "ready"))
    assert over.value.code == "interview_over"
    await interviews.wait_until_empty()


async def test_a_start_under_way_when_the_drain_begins_is_joined_and_waited_for() -> None:
    claims = SlowClaims()
    interviews = registry(claims)
    session_id = uuid.uuid4()
    first = asyncio.create_task(interviews.join(request(session_id)))
    await claims.asked.wait()
    interviews.drain()
    second = asyncio.create_task(interviews.join(request(session_id)))

    async def empty() -> None:
        await interviews.wait_until_empty()
        claims.said.append("empty")

    emptied = asyncio.create_task(empty())
    claims.answer.set()
    await emptied
    assert claims.said == ["claim answered", "empty"]
    for join in (first, second):  # both shared the one start, not refused for the drain
        with pytest.raises(JoinRefused) as refused:
            await join
        assert refused.value.code == "interview_over"
