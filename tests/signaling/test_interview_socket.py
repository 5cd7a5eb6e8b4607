"""The interview socket end to end: a real aiortc guest, the offline host, real speech.

The server runs under uvicorn on loopback, ICE is kept on 127.0.0.1, and the guest speaks
eSpeak NG speech into its microphone track. Every check holds on a busy machine: audio is
counted in frames rather than timed, and each wait ends on its event or a generous timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from monumento.app import create_app
from recorder.manifest import session_media_dir
from rtc.registry import STALE_START
from signaling.budget import CANDIDATE_BURST, OFFER_BURST
from store import schema
from tests.conftest import FakeClock, make_settings, register, until
from tests.live_server import LiveServer, serve
from tests.media.speech import speech_pcm
from tests.rtc.guest_client import GuestClient

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ANSWER = "I got my first bicycle when I was seven years old, and it was bright red."
# Four seconds of speech: the host must give way well before the guest has finished.
BARGE_IN = "Wait, wait, let me add something about that bicycle and the summer I rode it."
LOUD = 500.0  # RMS of a host frame with voice in it (GuestClient.loud_since's threshold)
# A guest's turn heard and answered: PocketSphinx on a busy machine may take half a minute.
TURN_S = 180.0


def serve_interviews(
    tmp_path: Path, database_url: str, rejoin_grace_s: float
) -> contextlib.AbstractAsyncContextManager[LiveServer]:
    """A server whose five-minute interviews take five minutes: time enough on a busy machine."""
    settings = make_settings(
        tmp_path,
        database_url,
        rtc_host_addresses="127.0.0.1",
        rejoin_grace_seconds=rejoin_grace_s,
    )
    return serve(create_app(settings))


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    """A server whose grace outlasts any rejoin, however slowly the guest comes back."""
    async with serve_interviews(tmp_path, database_url, rejoin_grace_s=50.0) as live:
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
    server: LiveServer, headers: dict[str, str], session_id: str, within_s: float = 300.0
) -> dict[str, Any]:
    """The session once its recording has been finalised (status `ready` or `failed`).

    Polls as a client should: a 429 (a slow finalisation outlasts the user's 100 requests a
    minute) is waited out for its `Retry-After`; `within_s` is generous for a busy machine.
    """
    seen: list[tuple[str, float | None]] = []
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1", headers=headers) as http:
        try:
            async with asyncio.timeout(within_s):
                while True:
                    response = await http.get(f"/sessions/{session_id}")
                    if response.status_code == 429:
                        await asyncio.sleep(int(response.headers["Retry-After"]))
                        continue
                    session: dict[str, Any] = response.json()
                    seen.append((session["status"], session["progress"]))
                    if session["status"] in ("ready", "failed"):
                        return session
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"never finalised in {within_s} s: {seen[-5:]}") from None


def socket_url(server: LiveServer, session_id: str, token: str) -> str:
    return f"{server.ws}/api/v1/sessions/{session_id}/interview?token={token}"


async def test_a_guest_is_interviewed_by_the_offline_host(server: LiveServer) -> None:
    token, headers, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.join()
        live = await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
        assert live["remainingMs"] <= 300_000
        opening = await guest.wait_for(lambda e: e["type"] == "transcript" and e["role"] == "ai")
        assert "your first bicycle" in opening["text"]
        assert opening["final"] is True
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "speaking")
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "listening")
        assert guest.loud_since(0), "the host's voice never reached the guest"

        asked_at = len(guest.events)
        guest.microphone.say(speech_pcm(ANSWER, 48_000))
        heard = await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "user",
            within_s=TURN_S,
            after=asked_at,
        )
        assert heard["final"] is True and heard["text"]
        follow_up = await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "ai",
            within_s=TURN_S,
            after=asked_at,
        )
        assert follow_up["relativeOffset"] > heard["relativeOffset"] > opening["relativeOffset"]

        # Barge in while the host asks its next question: it gives way while the guest is
        # still talking, and from 300 ms of its audio on (what was on the way) it is silent.
        await guest.wait_for(
            lambda e: e["type"] == "host" and e["state"] == "speaking",
            within_s=TURN_S,
            after=asked_at,
        )
        barge_at = len(guest.events)
        guest.microphone.say(speech_pcm(BARGE_IN, 48_000))
        await guest.wait_for(
            lambda e: e["type"] == "host" and e["state"] == "interrupted", after=barge_at
        )
        assert not guest.microphone.spoken.is_set(), "the host gave way only after the guest"
        cut = len(guest.host_levels)
        await guest.until(lambda: len(guest.host_levels) >= cut + 25)  # 20 ms frames
        after_cut = [level for _, level in guest.host_levels[cut + 15 : cut + 25]]
        assert max(after_cut) <= LOUD, "the host kept talking over the guest"

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
            ('{"type": "ping", "x": ' + "[" * 30_000 + "]" * 30_000 + "}", "json_too_deep"),
            ('{"type": "ping", "x": NaN}', "invalid_json_value"),
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


async def test_a_frame_over_64_kib_is_refused_by_the_protocol_layer_with_1009(
    server: LiveServer,
) -> None:
    token, _, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.connect()
        await guest.socket.send('{"type": "ping", "padding": "' + "x" * (10 << 20) + '"}')
        await guest.wait_for(lambda e: e["type"] == "_closed")
        assert guest.close_code == 1009  # message too big, from the frame's header
    finally:
        await guest.close()
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.http}/healthz")).status_code == 200


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
    await asyncio.sleep(1.0)  # at least a second away (no upper bound: the grace is long)

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


async def test_an_interview_ends_when_the_guest_does_not_come_back(
    tmp_path: Path, database_url: str
) -> None:
    async with serve_interviews(tmp_path, database_url, rejoin_grace_s=3.0) as server:
        token, headers, session_id = await new_session(server)
        guest = GuestClient(socket_url(server, session_id, token))
        await guest.join()
        try:
            await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
        finally:
            await guest.close()
        registry = server.app.state.signaling.registry
        async with asyncio.timeout(60):  # the 3 s grace, then the ending, on a busy machine
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
        # aiortc's queue is unbounded: the engine drains it (in its own time, on a busy machine).
        await until(lambda: video._queue.qsize() < 10)
    finally:
        await guest.close()


def recording_files(folder: Path) -> dict[str, bytes]:
    """Every file of a session's recording, by its path in the folder."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


async def refused_join(server: LiveServer, session_id: str, token: str) -> dict[str, Any]:
    """A guest's join that the server must refuse: the error event, after checking the close."""
    late = GuestClient(socket_url(server, session_id, token))
    try:
        await late.connect()
        error = await late.wait_for(lambda e: e["type"] == "error")
        await late.wait_for(lambda e: e["type"] == "_closed")
        assert late.close_code == 4409, error
    finally:
        await late.close()
    return error


async def test_a_finished_interview_never_runs_again_and_its_recording_stays(
    server: LiveServer, tmp_path: Path
) -> None:
    token, headers, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.join()
        await guest.wait_for(lambda e: e["type"] == "transcript" and e["role"] == "ai")
        await guest.send({"type": "end"})
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
    finally:
        await guest.close()
    ready = await finished_session(server, headers, session_id)
    assert ready["status"] == "ready"
    folder = session_media_dir(tmp_path / "data", session_id)
    recorded = recording_files(folder)
    assert "guest-audio.ogg" in recorded and "final/interview.mp4" in recorded

    # The attack: reopen the session, then join again.
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1", headers=headers) as http:
        put = await http.put(f"/sessions/{session_id}", json={"status": "created"})
    assert put.status_code == 200
    assert (put.json()["status"], put.json()["videoUrl"]) == ("ready", ready["videoUrl"])
    assert (await refused_join(server, session_id, token))["code"] == "interview_over"

    # Even with the status forced back in the database, and then the start mark cleared too.
    sessions = server.app.state.api.sessions
    await sessions.set_status(uuid.UUID(session_id), "created")
    assert (await refused_join(server, session_id, token))["code"] == "interview_over"
    await sessions.release_start(uuid.UUID(session_id))
    error = await refused_join(server, session_id, token)
    assert error["code"] == "interview_over" and "already recorded" in error["error"]
    assert recording_files(folder) == recorded


async def test_guests_joining_at_once_start_one_interview(server: LiveServer) -> None:
    token, _, session_id = await new_session(server)
    guests = [GuestClient(socket_url(server, session_id, token)) for _ in range(3)]
    try:
        await asyncio.gather(*(guest.connect() for guest in guests))
        firsts = [
            await guest.wait_for(lambda e: e["type"] in ("state", "error")) for guest in guests
        ]
        assert sorted(event["type"] for event in firsts) == ["error", "error", "state"]
        assert {event.get("code") for event in firsts} == {None, "already_joined"}
        assert len(server.app.state.signaling.registry) == 1
    finally:
        for guest in guests:
            await guest.close()


async def test_an_interview_that_never_received_media_may_be_joined_again(
    tmp_path: Path, database_url: str
) -> None:
    async with serve_interviews(tmp_path, database_url, rejoin_grace_s=1.0) as server:
        token, headers, session_id = await new_session(server)
        guest = GuestClient(socket_url(server, session_id, token))
        try:
            await guest.connect()
            await guest.wait_for(lambda e: e["type"] == "state")
        finally:
            await guest.close()
        registry = server.app.state.signaling.registry
        async with asyncio.timeout(60):  # the 1 s grace, then the ending, on a busy machine
            await registry.wait_until_empty()
        async with httpx.AsyncClient(base_url=f"{server.http}/api/v1", headers=headers) as http:
            session = (await http.get(f"/sessions/{session_id}")).json()
            assert session["status"] == "created"  # nothing took place: still the client's
            put = await http.put(f"/sessions/{session_id}", json={"status": "live"})
            assert put.json()["status"] == "live"
            await http.put(f"/sessions/{session_id}", json={"status": "created"})
        again = GuestClient(socket_url(server, session_id, token))
        try:
            await again.connect()
            state = await again.wait_for(lambda e: e["type"] in ("state", "error"))
            assert state["type"] == "state", state
        finally:
            await again.close()


async def test_a_start_left_by_a_crashed_node_before_any_media_does_not_lock_the_session(
    server: LiveServer,
) -> None:
    token, _, session_id = await new_session(server)
    sessions, database = server.app.state.api.sessions, server.app.state.api.database
    assert await sessions.claim_start(uuid.UUID(session_id))  # and then the node died
    fresh = await refused_join(server, session_id, token)  # a live claimer may lease yet
    assert fresh["code"] == "interview_over"
    async with database.engine.begin() as connection:
        await connection.execute(
            update(schema.sessions)
            .where(schema.sessions.c.id == uuid.UUID(session_id))
            .values(started_at=datetime.now(UTC) - 2 * STALE_START)
        )
    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.connect()
        state = await guest.wait_for(lambda e: e["type"] in ("state", "error"))
        assert state["type"] == "state", state
    finally:
        await guest.close()


async def test_offers_and_candidates_over_their_budget_are_refused_and_the_socket_stays_open(
    tmp_path: Path, database_url: str
) -> None:
    clock = FakeClock()
    settings = make_settings(tmp_path, database_url, rtc_host_addresses="127.0.0.1")
    async with serve(create_app(settings, rate_limit_clock=clock)) as server:
        token, _, session_id = await new_session(server)
        guest = GuestClient(socket_url(server, session_id, token))
        try:
            await guest.connect()

            async def answer_to(frame: str) -> dict[str, Any]:
                before = len(guest.events)
                await guest.socket.send(frame)
                return await guest.wait_for(lambda e: e["type"] == "error", after=before)

            bad_offer = '{"type": "offer", "sdp": "v=0 nonsense"}'
            for _ in range(OFFER_BURST):
                assert (await answer_to(bad_offer))["code"] == "invalid_sdp"  # handled
            refused = await answer_to(bad_offer)
            assert refused["code"] == "rate_limited" and "offers a minute" in refused["error"]
            clock.now += 6.0  # ten a minute: room for one more
            assert (await answer_to(bad_offer))["code"] == "invalid_sdp"
            assert (await answer_to(bad_offer))["code"] == "rate_limited"

            early = '{"type": "candidate", "candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host"}'
            for _ in range(CANDIDATE_BURST):
                assert (await answer_to(early))["code"] == "invalid_sdp"  # before the offer
            assert (await answer_to(early))["code"] == "rate_limited"

            before = len(guest.events)
            await guest.send({"type": "ping"})
            await guest.wait_for(lambda e: e["type"] == "pong", after=before)
            clock.now += 60.0
            await guest.join_on_open_socket()  # a good offer is answered
        finally:
            await guest.close()


def with_lines_replaced(sdp: str, pattern: str, replacement: str) -> str:
    return re.sub(pattern, replacement, sdp)


async def test_offers_with_bad_dtls_parameters_are_invalid_sdp_and_nothing_is_logged(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    token, _, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.connect()
        offer = await guest.offer()
        bad_offers = [
            with_lines_replaced(offer, r"a=fingerprint:[^\r\n]*\r\n", ""),
            with_lines_replaced(offer, r"a=fingerprint:[^\r\n]*", "a=fingerprint:sha-256 zz:zz"),
            with_lines_replaced(offer, r"a=fingerprint:[^\r\n]*", "a=fingerprint:md5 AB:CD"),
            with_lines_replaced(offer, r"a=setup:[^\r\n]*", "a=setup:sideways"),
        ]  # four, and the good offer is the fifth: the socket's burst of offers
        for sdp in bad_offers:
            before = len(guest.events)
            await guest.send({"type": "offer", "sdp": sdp})
            error = await guest.wait_for(lambda e: e["type"] in ("error", "answer"), after=before)
            assert error.get("code") == "invalid_sdp" and "DTLS" in error["error"], error
        await guest.join_on_open_socket()  # the real offer is answered on the same socket
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
    finally:
        await guest.close()
    gc.collect()  # a task nobody awaited is reported when it is collected
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not problems, [f"{r.name}: {r.getMessage()}" for r in problems]
