"""The business and engine metrics move as an interview runs (a real guest, the offline host).

The metrics are process-wide and other tests move them too: each check compares the value
before and after, within this test's own interview.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from monumento.logs import JsonFormatter
from tests.live_server import LiveServer
from tests.media.speech import speech_pcm
from tests.rtc.guest_client import GuestClient
from tests.signaling.test_interview_socket import (
    ANSWER,
    TURN_S,
    finished_session,
    new_session,
    serve_interviews,
    socket_url,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SAMPLES: dict[str, tuple[str, dict[str, str]]] = {
    "created": ("monumento_sessions_created_total", {}),
    "live": ("monumento_interviews_live", {}),
    "processing": ("monumento_interviews_finished_total", {"outcome": "processing"}),
    "finalised": ("monumento_recordings_finalised_total", {"result": "ready"}),
    "jobs": ("monumento_finalisation_jobs", {}),
    "replies": ("monumento_voice_to_voice_seconds_count", {}),
    "reply_seconds": ("monumento_voice_to_voice_seconds_sum", {}),
}


def sample(name: str) -> float:
    metric, labels = SAMPLES[name]
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def samples() -> dict[str, float]:
    return {name: sample(name) for name in SAMPLES}


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    async with serve_interviews(tmp_path, database_url, rejoin_grace_s=50.0) as live:
        yield live


async def test_an_interview_moves_the_metrics_and_its_log_lines_name_it(
    server: LiveServer,
) -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter("node-a"))
    engine_logger = logging.getLogger("rtc.interview")
    engine_logger.addHandler(handler)
    level = engine_logger.level
    engine_logger.setLevel(logging.INFO)
    before = samples()
    token, headers, session_id = await new_session(server)
    assert sample("created") == before["created"] + 1

    guest = GuestClient(socket_url(server, session_id, token))
    try:
        await guest.join()
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
        assert sample("live") == before["live"] + 1
        async with httpx.AsyncClient() as http:
            scraped = (await http.get(f"{server.http}/metrics")).text
        assert "monumento_interviews_live" in scraped
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "listening")

        asked_at = len(guest.events)
        guest.microphone.say(speech_pcm(ANSWER, 48_000))
        await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "ai",
            within_s=TURN_S,
            after=asked_at,
        )
        await guest.wait_for(  # the reply has played out: its first frame went out before
            lambda e: e["type"] == "host" and e["state"] == "listening",
            within_s=TURN_S,
            after=asked_at,
        )
        assert sample("replies") >= before["replies"] + 1
        assert sample("reply_seconds") > before["reply_seconds"]

        await guest.send({"type": "end"})
        await guest.wait_for(lambda e: e["type"] == "_closed")
    finally:
        await guest.close()
        engine_logger.removeHandler(handler)
        engine_logger.setLevel(level)

    session = await finished_session(server, headers, session_id)
    assert session["status"] == "ready"
    assert sample("live") == before["live"]
    assert sample("processing") == before["processing"] + 1
    assert sample("finalised") == before["finalised"] + 1
    assert sample("jobs") == before["jobs"]

    ending = [
        entry
        for entry in map(json.loads, lines.getvalue().splitlines())
        if entry["message"].startswith(f"interview {session_id} ending")
    ]
    assert len(ending) == 1
    assert ending[0]["session"] == session_id
    assert ending[0]["node"] == "node-a"
    assert ending[0]["request_id"]  # the guest's socket's, carried into the interview
