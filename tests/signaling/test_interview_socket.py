"""The interview socket end to end: a real aiortc guest, the offline host, real speech.

The server runs under uvicorn on loopback, ICE is kept on 127.0.0.1, and the guest speaks
eSpeak NG speech into its microphone track.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monumento.app import create_app
from tests.conftest import make_settings, register
from tests.live_server import LiveServer, serve
from tests.media.speech import speech_pcm
from tests.rtc.guest_client import GuestClient

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ANSWER = "I got my first bicycle when I was seven years old, and it was bright red."


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    settings = make_settings(
        tmp_path,
        database_url,
        rtc_host_addresses="127.0.0.1",
        interview_minute_seconds=12.0,
        rejoin_grace_seconds=3.0,
    )
    async with serve(create_app(settings)) as live:
        yield live


async def new_session(server: LiveServer, **changes: Any) -> tuple[str, dict[str, str], str]:
    """An account and a session; returns (token, auth headers, session id)."""
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
        auth = await register(http)
        headers = {"Authorization": f"Bearer {auth['accessToken']}"}
        body = {
            "vibe": "The Historian",
            "mode": "Auto-Pilot",
            "durationMinutes": 5,
            "metadata": {"topics": ["your first bicycle"]},
            **changes,
        }
        session = (await http.post("/sessions", json=body, headers=headers)).json()
    return auth["accessToken"], headers, session["id"]


async def finished_session(
    server: LiveServer, headers: dict[str, str], session_id: str, within_s: float = 90.0
) -> dict[str, Any]:
    """The session once its recording has been finalised (status `ready` or `failed`)."""
    seen: list[tuple[str, float | None]] = []
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1", headers=headers) as http:
        for _ in range(int(within_s * 5)):
            session: dict[str, Any] = (await http.get(f"/sessions/{session_id}")).json()
            seen.append((session["status"], session["progress"]))
            if session["status"] in ("ready", "failed"):
                return session
            await asyncio.sleep(0.2)
    raise AssertionError(f"never finalised: {seen[-5:]}")


def socket_url(server: LiveServer, session_id: str, token: str) -> str:
    return f"{server.ws}/api/v1/sessions/{session_id}/interview?token={token}"


async def test_a_guest_is_interviewed_by_the_offline_host(server: LiveServer) -> None:
    token, headers, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.join()
        live = await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
        assert live["remainingMs"] <= 60_000
        opening = await guest.wait_for(lambda e: e["type"] == "transcript" and e["role"] == "ai")
        assert "your first bicycle" in opening["text"]
        assert opening["final"] is True
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "speaking")
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "listening")
        assert guest.loud_since(0), "the host's voice never reached the guest"

        asked_at = len(guest.events)
        guest.microphone.say(speech_pcm(ANSWER, 48_000))
        heard = await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "user", after=asked_at
        )
        assert heard["final"] is True and heard["text"]
        follow_up = await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "ai", after=asked_at
        )
        assert follow_up["relativeOffset"] > heard["relativeOffset"] > opening["relativeOffset"]

        # Barge in while the host asks its next question.
        await guest.wait_for(
            lambda e: e["type"] == "host" and e["state"] == "speaking", after=asked_at
        )
        barge_at = len(guest.events)
        started = time.monotonic()
        guest.microphone.say(speech_pcm("Wait, wait, let me add something.", 48_000))
        await guest.wait_for(
            lambda e: e["type"] == "host" and e["state"] == "interrupted", after=barge_at
        )
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.3)
        assert not guest.loud_since(time.monotonic() - 0.1), "the host kept talking over the guest"

        await guest.send({"type": "end"})
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ending")
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
        await guest.wait_for(lambda e: e["type"] == "_closed")
        assert guest.close_code == 1000
    finally:
        await guest.close()

    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1", headers=headers) as http:
        messages = (await http.get(f"/sessions/{session_id}/messages")).json()
    session = await finished_session(server, headers, session_id)
    roles = [message["role"] for message in messages]
    assert roles[:3] == ["ai", "user", "ai"]
    offsets = [message["relativeOffset"] for message in messages]
    assert offsets == sorted(offsets)
    assert 0 <= offsets[0] < 5_000
    assert session["status"] == "ready" and session["progress"] == 1.0
    assert session["videoUrl"].endswith(f"/sessions/{session_id}/recording/files/video")
    registry = server.app.state.signaling.registry
    assert len(registry) == 0


async def test_a_socket_without_a_valid_token_is_refused(server: LiveServer) -> None:
    _, _, session_id = await new_session(server)
    for token in ("", "forged.token.value"):
        guest = GuestClient(socket_url(server, session_id, token))
        try:
            await guest.connect()
            error = await guest.wait_for(lambda e: e["type"] == "error")
            assert error["code"] == "unauthorized"
            await guest.wait_for(lambda e: e["type"] == "_closed")
            assert guest.close_code == 4401
        finally:
            await guest.close()


async def test_only_the_owner_joins_and_unknown_sessions_are_not_found(
    server: LiveServer,
) -> None:
    _, _, session_id = await new_session(server)
    stranger_token, _, _ = await new_session(server)
    for url in (
        socket_url(server, session_id, stranger_token),
        socket_url(server, "not-a-session", stranger_token),
    ):
        guest = GuestClient(url)
        try:
            await guest.connect()
            error = await guest.wait_for(lambda e: e["type"] == "error")
            assert error["code"] == "not_found"
            await guest.wait_for(lambda e: e["type"] == "_closed")
            assert guest.close_code == 4404
        finally:
            await guest.close()


async def test_bad_messages_get_error_events_and_the_socket_stays_open(
    server: LiveServer,
) -> None:
    token, _, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.connect()
        cases = [
            ("{not json", "malformed_json"),
            ('["offer"]', "invalid_message"),
            ('{"type": "dance"}', "unknown_type"),
            ('{"type": "offer"}', "invalid_message"),
            ('{"type": "offer", "sdp": "v=0 nonsense"}', "invalid_sdp"),
            (
                '{"type": "candidate", "candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host"}',
                "invalid_sdp",
            ),
            ('{"type": "candidate", "sdpMLineIndex": "zero"}', "invalid_message"),
            ('{"type": "ping", "padding": "' + "x" * 70_000 + '"}', "frame_too_large"),
        ]
        for frame, code in cases:
            before = len(guest.events)
            await guest.socket.send(frame)
            error = await guest.wait_for(lambda e: e["type"] == "error", after=before)
            assert error["code"] == code, frame[:60]
            assert error["error"]
        await guest.socket.send(b"binary")
        await guest.wait_for(lambda e: e.get("code") == "invalid_message", after=len(cases))
        before = len(guest.events)
        await guest.send({"type": "ping"})
        await guest.wait_for(lambda e: e["type"] == "pong", after=before)
    finally:
        await guest.close()


async def test_an_offer_without_audio_is_refused_with_a_clear_message(server: LiveServer) -> None:
    token, _, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.connect()
        guest.pc.createDataChannel("chat")
        await guest.pc.setLocalDescription(await guest.pc.createOffer())
        await guest.send({"type": "offer", "sdp": guest.pc.localDescription.sdp})
        error = await guest.wait_for(lambda e: e["type"] == "error")
        assert error["code"] == "invalid_sdp"
        assert "Microphone track missing" in error["error"]
    finally:
        await guest.close()


async def test_a_second_guest_is_refused_and_a_rejoin_resumes_the_same_interview(
    server: LiveServer,
) -> None:
    token, _, session_id = await new_session(server)
    first = GuestClient(socket_url(server, session_id, token))
    await first.join()
    try:
        live = await first.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
        await first.wait_for(lambda e: e["type"] == "transcript" and e["role"] == "ai")
        second = GuestClient(socket_url(server, session_id, token))
        try:
            await second.connect()
            error = await second.wait_for(lambda e: e["type"] == "error")
            assert error["code"] == "already_joined"
            await second.wait_for(lambda e: e["type"] == "_closed")
            assert second.close_code == 4409
        finally:
            await second.close()
    finally:
        await first.close()
    interview = server.app.state.signaling.registry.get(uuid.UUID(session_id))
    assert interview is not None
    await asyncio.sleep(1.0)

    rejoined = GuestClient(socket_url(server, session_id, token))
    try:
        await rejoined.join()
        state = await rejoined.wait_for(lambda e: e["type"] == "state")
        assert state["state"] == "live"
        assert state["elapsedMs"] >= live["elapsedMs"] + 1000  # the same clock runs on
        assert server.app.state.signaling.registry.get(interview.session_id) is interview
        await rejoined.wait_for(lambda e: e["type"] == "host")
        await rejoined.send({"type": "end"})
        await rejoined.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
    finally:
        await rejoined.close()


async def test_an_interview_ends_when_the_guest_does_not_come_back(server: LiveServer) -> None:
    token, headers, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token))
    await guest.join()
    try:
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
    finally:
        await guest.close()
    registry = server.app.state.signaling.registry
    async with asyncio.timeout(10):
        await registry.wait_until_empty()
    assert (await finished_session(server, headers, session_id))["status"] == "ready"
    late = GuestClient(socket_url(server, session_id, token))
    try:
        await late.connect()
        error = await late.wait_for(lambda e: e["type"] == "error")
        assert error["code"] == "interview_over"
    finally:
        await late.close()


async def test_a_guest_with_a_camera_joins_and_its_video_does_not_pile_up(
    server: LiveServer,
) -> None:
    token, _, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token), camera=True)
    try:
        await guest.join()
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "speaking")
        interview = server.app.state.signaling.registry.get(uuid.UUID(session_id))
        video = interview._guest.video
        assert video is not None and video.kind == "video"
        await asyncio.sleep(2.0)  # ~60 frames sent
        assert video._queue.qsize() < 10  # aiortc's queue is unbounded: the engine drains it
    finally:
        await guest.close()
