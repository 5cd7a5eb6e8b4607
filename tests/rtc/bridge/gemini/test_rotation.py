"""Rotations against a Live endpoint that refuses a second socket of a session, and one that
does not: goAway mid-utterance, the deadline before a resumable point, a refusal then a drop.

The guest is driven as the engine drives the bridge: 20 ms chunks, with the VAD's hints
(speech starts 80 ms in; it ends after 500 ms of silence). Nothing waits on wall-clock
time: each step waits for what the previous one caused, as the fake or the host saw it.
"""

from __future__ import annotations

import dataclasses

import pytest

from rtc.bridge.base import HostStatus, TurnComplete
from rtc.bridge.gemini.bridge import GeminiLiveBridge
from rtc.bridge.gemini.tuning import GeminiTuning, Rotation
from tests.fakes.audio import chunks, silence, voiced
from tests.fakes.gemini_live import FakeConnection, FakeGeminiConfig, FakeGeminiLive
from tests.rtc.bridge.gemini.test_bridge import Recorder, interview

GUEST_RATE = 16_000
ANSWER_S = 1.0
"""Each half of the guest's answer: the switch comes between the two."""
WHOLE_MS = round(2 * ANSWER_S * 1000) - 100
"""The voiced time the fake must hear for the answer to count as heard whole."""
CLOSE_LATE = 30.0
"""The fake's grace after goAway: it never closes the old socket first in these tests."""
LIFETIME_S = 0.5
"""Guest audio a connection hears before the fake sends goAway."""
STRICT = FakeGeminiConfig(
    pace=0, numbered=True, audio_lifetime=LIFETIME_S, go_away_grace=CLOSE_LATE
)
"""goAway once a connection has heard half a second of the guest; refuses overlaps."""


@pytest.fixture(params=["strict", "lenient"])
def endpoint(request: pytest.FixtureRequest) -> FakeGeminiConfig:
    """The strict fake (one socket a session, as the Gemini API) and the lenient one."""
    return dataclasses.replace(STRICT, one_socket_per_session=request.param == "strict")


async def say(bridge: GeminiLiveBridge, seconds: float, *, starts: bool = True) -> None:
    """The guest speaks for `seconds`; the engine's VAD calls speech after 80 ms if `starts`."""
    for index, chunk in enumerate(chunks(voiced(seconds))):
        if starts and index == 4:
            await bridge.guest_started_speaking()
        await bridge.send_audio(chunk)


async def fall_silent(bridge: GeminiLiveBridge) -> None:
    """600 ms of silence; the engine's VAD calls the end of speech after 500 ms."""
    for index, chunk in enumerate(chunks(silence(0.6))):
        await bridge.send_audio(chunk)
        if index == 25:
            await bridge.guest_stopped_speaking()


def served(fake: FakeGeminiLive) -> list[FakeConnection]:
    """The connections whose setup completed (not those refused at setup)."""
    return [c for c in fake.connections if c.setup_at is not None]


def statuses(recorder: Recorder) -> list[str]:
    return [e.state for e in recorder.events if isinstance(e, HostStatus)]


def steady(rotation: Rotation = "make-before-break", margin_s: float = 1.0) -> GeminiTuning:
    """Every sample goes up (so counts compare exactly); the deadline is `margin_s` before
    the fake's close."""
    return GeminiTuning(cost_control=False, rotation=rotation, rotation_margin_s=margin_s)


@pytest.mark.parametrize("rotation", ["make-before-break", "break-before-make"])
async def test_go_away_mid_answer_waits_for_the_answer_then_rotates(
    endpoint: FakeGeminiConfig, rotation: Rotation
) -> None:
    async with (
        FakeGeminiLive(endpoint) as fake,
        interview(fake, steady(rotation)) as (
            bridge,
            recorder,
        ),
    ):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)  # the opening
        await say(bridge, ANSWER_S)  # the guest is answering...
        await fake.wait_for(lambda: fake.connections[0].go_aways == 1)  # ...when goAway comes
        fake.config.audio_lifetime = None  # the next connection lives on
        await say(bridge, ANSWER_S, starts=False)
        await fall_silent(bridge)
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        await fake.wait_for(lambda: len(served(fake)) == 2)
        stats = bridge.stats
    first, second = served(fake)
    assert len(first.heard) == 1 and first.heard_ms[0] >= WHOLE_MS  # heard whole, there
    assert first.answered == 1 and recorder.lines("ai")[-1] == first.replies[-1]
    assert recorder.lines("user") == first.heard
    assert second.setup["sessionResumption"] == {"handle": "fake-handle-2"}
    assert bridge.go_away == f"{CLOSE_LATE:g}s" and second.client_contents == []  # no catch-up
    assert stats.forced_rotations == 0 and stats.samples_replayed == 0
    overlap_refused = endpoint.one_socket_per_session and rotation == "make-before-break"
    assert fake.overlaps_refused == stats.refused_overlaps == int(overlap_refused)
    assert len(fake.connections) == 2 + overlap_refused  # one extra connection at most
    assert statuses(recorder) == []  # a rotation is invisible


async def test_the_deadline_mid_answer_rotates_and_replays_the_answer(
    endpoint: FakeGeminiConfig,
) -> None:
    # goAway says 0.4 s are left: the deadline (half of it, under the margin) is 0.2 s later.
    endpoint = dataclasses.replace(endpoint, go_away_time_left=0.4)
    async with FakeGeminiLive(endpoint) as fake:
        async with interview(fake, steady()) as (bridge, recorder):
            await recorder.until(lambda: recorder.count(TurnComplete) == 1)
            await say(bridge, ANSWER_S)
            await fake.wait_for(lambda: fake.connections[0].go_aways == 1)
            fake.config.audio_lifetime = None
            await fake.wait_for(lambda: len(served(fake)) == 2)  # forced, mid-answer
            await say(bridge, ANSWER_S, starts=False)  # the answer straddles the switch
            await fall_silent(bridge)
            await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        stats = bridge.stats  # closed: the tail short of a batch went up too
        sent = stats.samples_sent + stats.samples_replayed
        await fake.wait_for(lambda: fake.samples_received == sent)
    old, new = served(fake)
    assert old.heard == [] and old.samples_received >= LIFETIME_S * GUEST_RATE
    # The new session heard the whole answer (the first half replayed) and answered it.
    assert len(new.heard) == 1 and new.heard_ms[0] >= WHOLE_MS and new.answered == 1
    assert recorder.lines("user") == new.heard and recorder.lines("ai")[-1] == new.replies[0]
    assert stats.forced_rotations == 1
    assert stats.samples_replayed == old.samples_received  # all it heard of the answer
    assert stats.samples_sent == stats.samples_given and stats.samples_dropped == 0
    assert fake.overlaps_refused == int(endpoint.one_socket_per_session)
    assert statuses(recorder) == []


async def test_a_refused_overlap_then_a_drop_mid_answer_loses_nothing() -> None:
    strict = dataclasses.replace(STRICT, go_away_time_left=0.4)  # the deadline 0.2 s later
    async with FakeGeminiLive(strict) as fake, interview(fake, steady()) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await say(bridge, ANSWER_S)
        await fake.wait_for(lambda: fake.connections[0].go_aways == 1)
        fake.config.audio_lifetime = None
        await fake.wait_for(lambda: len(served(fake)) == 2)  # refused once, then resumed
        fake.drop_all()  # the new connection's TCP dies, mid-answer
        await recorder.until(lambda: "resumed" in statuses(recorder))
        await say(bridge, ANSWER_S, starts=False)
        await fall_silent(bridge)
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        stats = bridge.stats
    first, refused, dropped, last = fake.connections
    assert refused.setup_at is None and refused.close_code == 1011
    assert dropped.close_code == 1006
    handle = {"handle": "fake-handle-1"}
    assert dropped.setup["sessionResumption"] == last.setup["sessionResumption"] == handle
    assert first.heard == dropped.heard == []
    assert len(last.heard) == 1 and last.heard_ms[0] >= WHOLE_MS and last.answered == 1
    assert recorder.lines("user") == last.heard
    assert fake.overlaps_refused == 1  # the reconnection after the drop broke first
    assert statuses(recorder) == ["reconnecting", "resumed"]
    assert stats.samples_replayed >= first.samples_received  # to the last, at least
    assert stats.samples_dropped == 0


async def test_after_one_refusal_every_rotation_breaks_first() -> None:
    config = dataclasses.replace(STRICT, audio_lifetime=None, connection_lifetime=None)
    async with FakeGeminiLive(config) as fake, interview(fake, steady()) as (bridge, recorder):
        for turn in range(3):
            await recorder.until(lambda n=turn: recorder.count(TurnComplete) == n + 1)
            fake.go_away_now(grace=CLOSE_LATE)  # at a resumable point
            await fake.wait_for(lambda n=turn: len(served(fake)) == n + 2)
            await say(bridge, ANSWER_S)
            await fall_silent(bridge)
        await recorder.until(lambda: recorder.count(TurnComplete) == 4)
        stats = bridge.stats
    assert stats.rotations == 3 and fake.overlaps_refused == stats.refused_overlaps == 1
    assert len(fake.connections) == 5  # 4 served, 1 refused
    assert [c.answered for c in served(fake)] == [0, 1, 1, 1]


async def test_a_reply_cut_during_the_vad_hang_over_is_carried_on() -> None:
    # The service answers 400 ms into the guest's silence, the engine's VAD says they
    # stopped only at 500 ms: a forced rotation in between must not hold the host back.
    config = FakeGeminiConfig(numbered=True, pace=1.0, reply_seconds=2.0)
    async with (
        FakeGeminiLive(config) as fake,
        interview(fake, steady(margin_s=1.0)) as (
            bridge,
            recorder,
        ),
    ):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await say(bridge, ANSWER_S)
        opening = len(recorder.audio())
        for chunk in chunks(silence(0.6)):  # the fake's VAD ends the answer at 400 ms
            await bridge.send_audio(chunk)
        await recorder.until(lambda: len(recorder.audio()) > opening)  # the reply began
        fake.go_away_now(grace=CLOSE_LATE, time_left=0.2)  # the deadline, 0.1 s on, cuts it
        await fake.wait_for(lambda: len(served(fake)) == 2)
        await bridge.guest_stopped_speaking()  # the engine's hang-over ends after the switch
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)  # the reply, carried on
        stats = bridge.stats
    old, new = served(fake)
    assert len(old.heard) == 1 and old.answered == 0  # heard, its reply cut
    (catch_up,) = new.client_contents
    assert catch_up["turnComplete"] is True  # the host carries on with its reply
    assert fake.timeline[-2:] == ["heard", "replied"] and new.replies
    assert recorder.lines("ai")[-1] == new.replies[-1]
    assert stats.forced_rotations == 1 and stats.samples_replayed == 0


async def test_speech_while_reconnecting_joins_the_unanswered_answer(
    endpoint: FakeGeminiConfig,
) -> None:
    """The line drops as the guest ends an answer, and they speak again before the bridge
    reconnects: the new session hears both whole, from the start of the first, and
    answers; the transcript has each once."""
    config = dataclasses.replace(endpoint, audio_lifetime=None)
    async with FakeGeminiLive(config) as fake, interview(fake, steady()) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await say(bridge, ANSWER_S)
        fake.accepting.clear()  # the reconnection waits until the guest spoke again
        fake.drop_all()
        await recorder.until(lambda: "reconnecting" in statuses(recorder))
        await fall_silent(bridge)
        await say(bridge, ANSWER_S)  # no host turn since the first: the same turn
        await fall_silent(bridge)
        fake.accepting.set()
        await recorder.until(lambda: recorder.count(TurnComplete) == 3)
        stats = bridge.stats
    dropped, last = fake.connections
    assert dropped.heard == [] and dropped.close_code == 1006
    half_ms = round(ANSWER_S * 1000) - 100
    assert len(last.heard) == 2 and min(last.heard_ms) >= half_ms and last.answered >= 1
    assert recorder.lines("user") == last.heard
    # The first answer, sent to the dropped connection (which acknowledged nothing), again.
    assert stats.samples_replayed >= (ANSWER_S - 0.1) * GUEST_RATE
    assert statuses(recorder) == ["reconnecting", "resumed"]
