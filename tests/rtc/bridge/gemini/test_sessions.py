"""GeminiLiveBridge across connections: rotations, losses, refused handles, outages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY

from rtc.bridge.base import HostStatus, Transcript, TurnComplete
from rtc.bridge.gemini.tuning import GeminiTuning
from tests.fakes.audio import chunks, silence, voiced
from tests.fakes.gemini_live import FakeGeminiConfig, FakeGeminiLive
from tests.rtc.bridge.gemini.test_bridge import WAIT, Recorder, bridge_for, interview, speak

NUMBERED = FakeGeminiConfig(pace=0, numbered=True)
STEADY = GeminiTuning(cost_control=False)
"""Every sample goes up, so that counts compare exactly."""


def texts(contents: list[dict[str, Any]]) -> list[str]:
    """The text of each client content turn."""
    return [part["text"] for c in contents for turn in c["turns"] for part in turn["parts"]]


def statuses(recorder: Recorder) -> list[HostStatus]:
    return [e for e in recorder.events if isinstance(e, HostStatus)]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_fragmented_transcripts_make_whole_lines() -> None:
    config = FakeGeminiConfig(pace=0, fragment_chars=3)
    async with FakeGeminiLive(config) as fake, interview(fake) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await speak(bridge)
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
    assert recorder.lines("user") == [config.heard_text]
    assert recorder.lines("ai") == [config.reply_text] * 2
    partials = recorder.lines("ai", final=False)
    assert len(partials) > 20 and all(config.reply_text.startswith(p) for p in partials)


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
async def test_a_rotation_mid_turn_is_forced_at_the_deadline_and_caught_up(strict: bool) -> None:
    # The host's reply lasts 2 s of real time; the deadline comes 0.4 s into it.
    config = FakeGeminiConfig(reply_seconds=2.0, pace=1.0, one_socket_per_session=strict)
    tuning = GeminiTuning(rotation_margin_s=0.5, cost_control=False)
    note = "Ask about the lighthouse."
    async with FakeGeminiLive(config) as fake, interview(fake, tuning) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        opening = len(recorder.audio())
        await speak(bridge, pause=0.5)
        await recorder.until(lambda: len(recorder.audio()) > opening)  # it answers...
        fake.go_away_now(grace=0.8)  # ...when the service says goAway
        await recorder.until(lambda: bridge.go_away is not None)  # the host speaks on
        await bridge.inject(note, now=False)  # held while the connection goes away
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        stats = bridge.stats
    first, second = [c for c in fake.connections if c.setup_at is not None]
    cut = recorder.lines("ai")[1]
    assert config.reply_text.startswith(cut) and cut != config.reply_text
    assert recorder.lines("ai").count(cut) == 1
    assert second.setup["sessionResumption"] == {"handle": "fake-handle-1"}
    catch_up, held = texts(second.client_contents)
    assert f"Guest: {config.heard_text}" in catch_up and f"You (cut off): {cut}" in catch_up
    assert held == f"[Director] {note}"
    assert [c["turnComplete"] for c in second.client_contents] == [True, False]
    assert not any(note in t for t in texts(first.client_contents))
    assert statuses(recorder) == []
    assert (stats.rotations, stats.forced_rotations, stats.connection_losses) == (1, 1, 0)
    assert stats.refused_overlaps == fake.overlaps_refused == int(strict)
    assert stats.go_away_to_switch_max_s >= 0.3  # the deadline, then the switch
    assert stats.samples_replayed == 0  # the guest's answer had been answered


async def test_a_refused_handle_restarts_a_seeded_session_that_carries_on() -> None:
    note = "Ask about the boats."
    restarts = metric("monumento_gemini_switches_total", kind="restarted")
    async with FakeGeminiLive(NUMBERED) as fake, interview(fake, STEADY) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await speak(bridge)
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        await bridge.inject(note, now=False)
        await fake.wait_for(lambda: len(fake.client_contents) == 2)
        fake.refuse_next_resumption()
        await fake.close_all(1011, "Internal error encountered.")
        await recorder.until(lambda: recorder.count(TurnComplete) == 3)
        stats = bridge.stats
    assert statuses(recorder) == [
        HostStatus("reconnecting", "1011 Internal error encountered."),
        HostStatus("restarted"),
    ]
    lost, refused, fresh = fake.connections
    assert refused.setup["sessionResumption"] == {"handle": "fake-handle-2"}
    assert refused.close_code == 1007
    assert fresh.setup["sessionResumption"] == {}
    instruction = fresh.setup["systemInstruction"]["parts"][0]["text"]
    assert "THE INTERVIEW SO FAR" in instruction and f"  - {note}" in instruction
    for line in (*lost.heard, *lost.replies[:1]):
        assert line in instruction
    (nudge,) = fresh.client_contents
    assert texts([nudge])[0].startswith("[Connection] The call was reconnected")
    assert nudge["turnComplete"] is True
    assert recorder.lines("ai")[-1] == fresh.replies[0]  # the host carried on, not re-opened
    assert sum(f"[Director] {note}" in texts(c.client_contents) for c in fake.connections) == 1
    assert (stats.connection_losses, stats.restarts, stats.refused_handles) == (1, 1, 1)
    assert metric("monumento_gemini_switches_total", kind="restarted") == restarts + 1


async def test_audio_during_an_outage_is_held_and_sent_in_order() -> None:
    resumes = metric("monumento_gemini_switches_total", kind="resumed")
    async with FakeGeminiLive(NUMBERED) as fake:
        async with interview(fake, STEADY) as (bridge, recorder):
            await recorder.until(lambda: recorder.count(TurnComplete) == 1)
            sent = await speak(bridge)
            await recorder.until(lambda: recorder.count(TurnComplete) == 2)
            fake.accepting.clear()
            await fake.close_all(1011, "Internal error encountered.")
            await recorder.until(lambda: len(statuses(recorder)) == 1)
            during = await speak(bridge, seconds=1.5)  # nowhere to go yet
            assert bridge.stats.samples_sent <= sent
            fake.accepting.set()
            await recorder.until(lambda: HostStatus("resumed") in recorder.events)
            await recorder.until(lambda: recorder.count(TurnComplete) == 3)
            stats = bridge.stats
        given = sent + during
        await fake.wait_for(lambda: fake.samples_received == given)
    assert fake.connections[1].samples_received >= during - 960  # the outage's audio went there
    assert fake.connections[1].heard == [f"{NUMBERED.heard_text} (#3)"]  # and was answered
    assert recorder.lines("user") == [h for c in fake.connections for h in c.heard]
    assert stats.samples_buffered >= during - 960 and stats.backlog_max_samples >= during - 960
    assert stats.samples_dropped == 0 and stats.resumes == 1
    assert metric("monumento_gemini_switches_total", kind="resumed") == resumes + 1


async def test_a_network_drop_is_a_loss_too() -> None:
    async with FakeGeminiLive(NUMBERED) as fake, interview(fake) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        fake.drop_all()
        await recorder.until(lambda: HostStatus("resumed") in recorder.events)
        await speak(bridge)
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
    reconnecting = statuses(recorder)[0]
    assert reconnecting.state == "reconnecting" and reconnecting.detail.startswith("1006")
    assert fake.connections[1].setup["sessionResumption"] == {"handle": "fake-handle-1"}
    assert fake.connections[1].client_contents == []  # nothing was missed: no catch-up


async def test_it_gives_up_when_no_connection_can_be_had() -> None:
    tuning = GeminiTuning(reconnect_attempts=2, backoff_initial_s=0.01, connect_timeout_s=0.2)
    async with FakeGeminiLive(NUMBERED) as fake:
        bridge = bridge_for(fake, tuning=tuning)
        await bridge.start()
        recorder = Recorder(bridge)
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        fake.accepting.clear()
        await fake.close_all(1011, "Internal error encountered.")
        async with asyncio.timeout(WAIT):
            await recorder.task  # events() ended without close()
        assert [s.state for s in statuses(recorder)] == ["reconnecting", "disconnected"]
        assert bridge.stats.failed_attempts == 2
        await bridge.send_audio(voiced(0.02))  # dropped quietly: the status said it all
        await bridge.close()
        fake.accepting.set()


async def test_close_during_a_reconnection_leaves_no_task_behind() -> None:
    async with FakeGeminiLive(NUMBERED) as fake:
        before = asyncio.all_tasks()
        bridge = bridge_for(fake)
        await bridge.start()
        recorder = Recorder(bridge)
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        fake.accepting.clear()
        await fake.close_all(1011, "Internal error encountered.")
        await recorder.until(lambda: len(statuses(recorder)) == 1)
        for chunk in chunks(silence(0.5)):
            await bridge.send_audio(chunk)
        await bridge.close()
        async with asyncio.timeout(WAIT):
            await recorder.task
        left = asyncio.all_tasks() - before - fake.server_tasks()
        assert left == set()
        stats = bridge.stats  # what was held for the connection that never opened is counted
        assert stats.samples_dropped == 8_000
        assert stats.samples_given == stats.samples_sent + stats.samples_withheld + 8_000
        assert isinstance(recorder.events[-1], HostStatus | Transcript | TurnComplete)
        fake.accepting.set()
