"""SIGTERM drains a node: not ready, no new interviews, the live one runs to its end, exit.

The server is `monumento serve`'s own (`DrainingServer`), run in the test's loop; the test
delivers the signal by calling `handle_exit` as uvicorn's signal handler does. One test sends
a real SIGTERM to a `monumento serve` process. Every wait ends on an event.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from config import Settings
from monumento.app import create_app
from recorder.jobs import pending_recordings
from recorder.manifest import read_manifest, session_media_dir
from tests.conftest import make_settings, until
from tests.live_server import (
    DrainingNode,
    LiveServer,
    free_port,
    serve,
    serve_node,
    spawn_server,
    wait_ready,
)
from tests.media.speech import speech_pcm
from tests.rtc.guest_client import GuestClient
from tests.signaling.test_interview_socket import (
    ANSWER,
    TURN_S,
    finished_session,
    new_session,
    socket_url,
)

# The in-process nodes run on SQLite; `monumento serve` uses its default (SQLite too).
sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# Ending, recording closed and finalised (a child process), on a busy machine.
EXIT_S = 300.0


def node_settings(tmp_path: Path, database_url: str, drain_timeout_s: float) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        rtc_host_addresses="127.0.0.1",
        rejoin_grace_seconds=50.0,
        drain_timeout_seconds=drain_timeout_s,
    )


@dataclass(frozen=True, slots=True)
class LiveGuest:
    client: GuestClient
    headers: dict[str, str]
    session_id: str
    url: str


async def live_guest(live: LiveServer) -> LiveGuest:
    """A guest in a live interview whose host has asked its first question."""
    token, headers, session_id = await new_session(live)
    url = socket_url(live, session_id, token)
    guest = GuestClient(url)
    await guest.join()
    await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
    await guest.wait_for(lambda e: e["type"] == "transcript" and e["role"] == "ai")
    return LiveGuest(guest, headers, session_id, url)


async def sigterm(node: DrainingNode) -> None:
    """What uvicorn's handler does on SIGTERM; returns once the node drains."""
    node.server.handle_exit(signal.SIGTERM, None)
    registry = node.live.app.state.signaling.registry  # type: ignore[union-attr]
    await until(lambda: registry.draining or node.exited.done())


@sqlite
async def test_a_draining_node_refuses_new_interviews_and_exits_once_the_live_one_ends(
    tmp_path: Path, database_url: str
) -> None:
    settings = node_settings(tmp_path, database_url, drain_timeout_s=600.0)
    async with serve_node(create_app(settings)) as node:
        live = node.live
        joined = await live_guest(live)
        guest, session_id = joined.client, joined.session_id
        rejoined: GuestClient | None = None
        try:
            other_token, _, other_session = await new_session(live)
            registry = live.app.state.signaling.registry  # type: ignore[union-attr]
            interview = registry.get(uuid.UUID(session_id))
            await sigterm(node)
            async with httpx.AsyncClient(base_url=live.http) as http:
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["code"] == "not_ready"
                assert ready.json()["failing"] == ["draining"]
                assert (await http.get("/healthz")).status_code == 200

            newcomer = GuestClient(socket_url(live, other_session, other_token))
            try:
                await newcomer.connect()
                refused = await newcomer.wait_for(lambda e: e["type"] == "error")
                assert refused["code"] == "node_draining"
                await newcomer.wait_for(lambda e: e["type"] == "_closed")
                assert newcomer.close_code == 1013
            finally:
                await newcomer.close()

            # The live interview goes on: the guest is heard.
            asked_at = len(guest.events)
            guest.microphone.say(speech_pcm(ANSWER, 48_000))
            heard = await guest.wait_for(
                lambda e: e["type"] == "transcript" and e["role"] == "user",
                within_s=TURN_S,
                after=asked_at,
            )
            assert heard["text"]
            assert "_closed" not in [event["type"] for event in guest.events]

            # Its guest drops and rejoins this node: the same interview resumes.
            await guest.close()
            rejoined = GuestClient(joined.url)
            await rejoined.join()
            state = await rejoined.wait_for(lambda e: e["type"] == "state")
            assert state["state"] == "live"
            assert registry.get(uuid.UUID(session_id)) is interview is not None
            assert not node.exited.done()

            await rejoined.send({"type": "end"})
            await rejoined.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
            await rejoined.wait_for(lambda e: e["type"] == "_closed")
            assert rejoined.close_code == 1000
            async with asyncio.timeout(EXIT_S):
                await asyncio.shield(node.exited)  # the process would exit now
        finally:
            await guest.close()
            if rejoined is not None:
                await rejoined.close()

    # It finalised the recording before exiting: nothing is left for the next start.
    media = settings.data_dir / "media"
    manifest = read_manifest(session_media_dir(settings.data_dir, uuid.UUID(session_id)))
    assert manifest is not None and manifest.state == "finalised"
    assert pending_recordings(media) == []


@sqlite
async def test_the_drain_timeout_ends_what_is_live_and_the_next_start_finalises_it(
    tmp_path: Path, database_url: str
) -> None:
    settings = node_settings(tmp_path, database_url, drain_timeout_s=0.0)
    async with serve_node(create_app(settings)) as node:
        joined = await live_guest(node.live)
        guest, headers, session_id = joined.client, joined.headers, joined.session_id
        try:
            node.server.handle_exit(signal.SIGTERM, None)
            async with asyncio.timeout(EXIT_S):
                await asyncio.shield(node.exited)
            await guest.wait_for(lambda e: e["type"] == "_closed")
            assert guest.close_code == 1012  # uvicorn's "service restart"
        finally:
            await guest.close()
        assert len(node.live.app.state.signaling.registry) == 0  # type: ignore[union-attr]

    # Recorded, not finalised: still on disk as unfinished work, which the next start does.
    media = settings.data_dir / "media"
    assert pending_recordings(media) == [uuid.UUID(session_id)]
    async with serve(create_app(settings)) as restarted:
        session = await finished_session(restarted, headers, session_id)
    assert session["status"] == "ready"
    manifest = read_manifest(session_media_dir(settings.data_dir, uuid.UUID(session_id)))
    assert manifest is not None and manifest.state == "finalised"


@sqlite
async def test_a_second_signal_exits_at_once(tmp_path: Path, database_url: str) -> None:
    settings = node_settings(tmp_path, database_url, drain_timeout_s=600.0)
    async with serve_node(create_app(settings)) as node:
        joined = await live_guest(node.live)
        guest, session_id = joined.client, joined.session_id
        try:
            await sigterm(node)
            assert not node.exited.done()
            node.server.handle_exit(signal.SIGINT, None)
            async with asyncio.timeout(EXIT_S):
                await asyncio.shield(node.exited)
            await guest.wait_for(lambda e: e["type"] == "_closed")
            assert guest.close_code == 1012
        finally:
            await guest.close()
    assert pending_recordings(settings.data_dir / "media") == [uuid.UUID(session_id)]


async def test_sigterm_to_monumento_serve_drains_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(
        DATA_DIR=str(data),
        PASSWORD_HASH_MEMORY_KIB="1024",
        RTC_HOST_ADDRESSES="127.0.0.1",
        LOG_JSON="false",
    )
    live = LiveServer(None, free_port())
    process = spawn_server(env, live.port)
    try:
        await wait_ready(live.http)
        joined = await live_guest(live)
        guest, session_id = joined.client, joined.session_id
        try:
            process.send_signal(signal.SIGTERM)
            # The signal reaches the process when it does: readiness says when it has.
            async with httpx.AsyncClient(base_url=live.http) as http, asyncio.timeout(30):
                while (await http.get("/readyz")).status_code != 503:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert process.poll() is None
            await guest.send({"type": "end"})
            await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
        finally:
            await guest.close()
        returncode = await asyncio.to_thread(process.wait, EXIT_S)
        assert returncode == -signal.SIGTERM  # uvicorn ends as the signal says
    finally:
        if process.poll() is None:
            process.kill()
    manifest = read_manifest(session_media_dir(data, uuid.UUID(session_id)))
    assert manifest is not None and manifest.state == "finalised"
