"""The interview engine with the Gemini Live host: real SDK, fake endpoint on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config import Settings
from monumento.app import create_app
from tests.conftest import make_settings
from tests.fakes.gemini_live import FakeGeminiConfig, FakeGeminiLive
from tests.fakes.tls import local_tls
from tests.live_server import LiveServer, serve
from tests.media.speech import speech_pcm
from tests.rtc.guest_client import GuestClient
from tests.signaling.test_interview_socket import (
    ANSWER,
    finished_session,
    new_session,
    socket_url,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGeminiLive]:
    async with FakeGeminiLive(FakeGeminiConfig(reply_seconds=1.5)) as fake:
        yield fake


def gemini_settings(
    tmp_path: Path, database_url: str, gemini: FakeGeminiLive, **overrides: Any
) -> Settings:
    """A server whose host is Gemini Live at the fake endpoint (its certificate trusted)."""
    ca_file = tmp_path / "fake-gemini-ca.pem"
    ca_file.write_bytes(local_tls().cert_pem)
    return make_settings(
        tmp_path,
        database_url,
        rtc_host_addresses="127.0.0.1",
        interview_minute_seconds=12.0,
        gemini_api_key="test-key",
        gemini_base_url=gemini.base_url,
        gemini_ca_file=ca_file,
        **overrides,
    )


@pytest.fixture
async def server(
    tmp_path: Path, database_url: str, gemini: FakeGeminiLive
) -> AsyncIterator[LiveServer]:
    settings = gemini_settings(tmp_path, database_url, gemini, gemini_model="gemini-test-live")
    async with serve(create_app(settings)) as live:
        yield live


async def test_a_guest_is_interviewed_by_the_gemini_host(
    server: LiveServer, gemini: FakeGeminiLive
) -> None:
    token, headers, session_id = await new_session(server, vibe="The Jester")
    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.join()
        opening = await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "ai" and e["final"]
        )
        assert opening["text"] == FakeGeminiConfig().reply_text
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "listening")
        assert guest.loud_since(0)

        setup = gemini.connections[0].setup
        assert setup["model"].endswith("gemini-test-live")
        assert "comedian" in str(setup)  # the Jester's persona is in the system instruction
        assert "Fenrir" in str(setup)  # and its voice

        asked_at = len(guest.events)
        guest.microphone.say(speech_pcm(ANSWER, 48_000))
        heard = await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "user" and e["final"],
            after=asked_at,
        )
        assert heard["text"] == FakeGeminiConfig().heard_text
        reply = await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "ai" and e["final"],
            after=asked_at,
        )
        assert reply["relativeOffset"] > heard["relativeOffset"] > opening["relativeOffset"]
        await guest.send({"type": "end"})
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
    finally:
        await guest.close()

    # Every 20 ms of the guest's audio reached the model, from the moment the interview went live.
    sent_s = gemini.connections[0].samples_received / 16_000
    assert sent_s > len(speech_pcm(ANSWER, 16_000)) / 2 / 16_000
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1", headers=headers) as http:
        messages = (await http.get(f"/sessions/{session_id}/messages")).json()
    assert [(m["role"], m["text"]) for m in messages[:3]] == [
        ("ai", FakeGeminiConfig().reply_text),
        ("user", FakeGeminiConfig().heard_text),
        ("ai", FakeGeminiConfig().reply_text),
    ]
    # The host's connection history is kept with the session.
    session = await finished_session(server, headers, session_id)
    report = session["metadata"]["hostConnection"]["gemini"]
    assert report["connections"] == 1 and report["rotations"] == 0
    assert report["samplesSent"] == gemini.connections[0].samples_received
    assert report["samplesDropped"] == 0
