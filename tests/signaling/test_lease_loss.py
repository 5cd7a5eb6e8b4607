"""A live interview whose lease another node took (as after a Redis restart): the node that
lost it ends its interview without writing the session's status or finalising its recording."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from cluster.lease import LeaseToken
from monumento.app import create_app
from recorder.manifest import read_manifest, session_media_dir
from recorder.session import SUPERSEDED_DIR
from tests.conftest import REDIS_URL
from tests.director.test_director_socket import live_interview, server_settings
from tests.live_server import LiveServer, serve

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def prefix() -> str:
    return f"monumento-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await client.ping()  # no Redis: the test fails here
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def server(
    tmp_path: Path, database_url: str, prefix: str, redis: Redis
) -> AsyncIterator[LiveServer]:
    settings = server_settings(
        tmp_path, database_url, redis_url=REDIS_URL, redis_key_prefix=prefix, node_id="a"
    )
    async with serve(create_app(settings)) as live:
        yield live


async def test_a_live_interview_whose_lease_was_taken_leaves_the_session_alone(
    server: LiveServer, tmp_path: Path, prefix: str, redis: Redis
) -> None:
    live_before = REGISTRY.get_sample_value("monumento_interviews_live")
    guest, token, session_id = await live_interview(server)
    key = f"{prefix}:interview:{session_id}:lease"
    ours = LeaseToken.decode((await redis.get(key)).decode())
    assert ours.node == "a"
    theirs = LeaseToken("b", ours.fence + 1).encode()
    try:
        await redis.set(key, theirs, px=15_000)  # node b holds it now
        await guest.send({"type": "end"})  # the end's writes check the lease first
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
    finally:
        await guest.close()
    assert server.app is not None
    await server.app.state.signaling.registry.wait_until_empty()
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
        session = (
            await http.get(f"/sessions/{session_id}", headers={"Authorization": f"Bearer {token}"})
        ).json()
    assert session["status"] == "live"  # as node a left it when media flowed; no end status
    assert session["videoUrl"] is None
    assert REGISTRY.get_sample_value("monumento_interviews_live") == live_before  # not leaked
    assert REGISTRY.get_sample_value(
        "monumento_interviews_finished_total", {"outcome": "handed_over"}
    )
    assert server.app.state.finalisation.idle.is_set()  # nothing queued
    assert await redis.get(key) == theirs.encode()  # b's lease was not deleted
    media = tmp_path / "data" / "media"
    assert not session_media_dir(tmp_path / "data", session_id).exists()
    (aside,) = (media / SUPERSEDED_DIR).iterdir()
    manifest = read_manifest(aside)
    assert manifest is not None and manifest.tracks and manifest.state == "complete"
