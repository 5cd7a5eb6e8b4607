"""Interviews end by themselves on time, and release everything they held."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection

from monumento.app import create_app
from tests.conftest import make_settings
from tests.live_server import LiveServer, serve
from tests.rtc.guest_client import GuestClient
from tests.signaling.test_interview_socket import finished_session, new_session, socket_url

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
JOINS = 50


@pytest.fixture
async def fast_server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    """A server where an interview minute lasts three seconds (five minutes: 15 s)."""
    settings = make_settings(
        tmp_path, database_url, rtc_host_addresses="127.0.0.1", interview_minute_seconds=3.0
    )
    async with serve(create_app(settings)) as live:
        yield live


async def test_the_interview_wraps_up_and_ends_on_time(fast_server: LiveServer) -> None:
    token, headers, session_id = await new_session(fast_server)
    guest = GuestClient(socket_url(fast_server, session_id, token))
    try:
        await guest.join()
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
        closing = await guest.wait_for(
            lambda e: e["type"] == "transcript" and "out of time" in e["text"], within_s=20
        )
        assert 12_000 <= closing["relativeOffset"] <= 13_000  # wrap-up: the last fifth
        ended = await guest.wait_for(
            lambda e: e["type"] == "state" and e["state"] == "ended", within_s=10
        )
        assert ended["remainingMs"] == 0
        assert 15_000 <= ended["elapsedMs"] < 16_500
    finally:
        await guest.close()
    assert (await finished_session(fast_server, headers, session_id))["status"] == "ready"


def _open_files() -> int:
    """Open descriptors, not counting the database's: its connection pool (bounded) may grow."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
    return sum(".db" not in target for target in targets)


def _resources() -> tuple[int, int, int]:
    gc.collect()
    peers = sum(type(obj) is RTCPeerConnection for obj in gc.get_objects())
    return len(asyncio.all_tasks()), _open_files(), peers


async def test_joining_and_leaving_50_times_leaks_nothing(fast_server: LiveServer) -> None:
    registry = fast_server.app.state.signaling.registry

    async def join_and_end() -> None:
        token, _, session_id = await new_session(fast_server)
        guest = GuestClient(socket_url(fast_server, session_id, token))
        try:
            await guest.join()
            await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
            await guest.send({"type": "end"})
            await guest.wait_for(lambda e: e["type"] == "_closed")
        finally:
            await guest.close()

    finalisation = fast_server.app.state.finalisation

    async def settled() -> tuple[int, int, int]:
        async with asyncio.timeout(10 * JOINS):  # each recording finalised, on a busy machine
            await registry.wait_until_empty()
            await finalisation.idle.wait()
        await asyncio.sleep(0.5)
        return _resources()

    await join_and_end()  # warm-up: first-use caches and pools
    before = await settled()
    for _ in range(JOINS):
        await join_and_end()
    tasks, files, peers = await settled()
    assert tasks <= before[0], f"tasks {before[0]} → {tasks}"
    assert files <= before[1] + 2, f"open files {before[1]} → {files}"
    assert peers <= before[2], f"peer connections {before[2]} → {peers}"
