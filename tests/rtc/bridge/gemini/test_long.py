"""An hour-long interview on short-lived Gemini Live connections, with time compressed.

The guest's hour of audio (16 kHz, in the engine's 20 ms chunks, with the engine's VAD
hints) is fed as fast as the loop allows: the audio is the clock. The fake's connections
live two minutes of that audio, so the hour sees a few dozen rotations, and the script
adds three unplanned losses (a 1011 mid-turn, a 1011 whose handle is refused, a network
drop) and director notes. The fake is strict, as the Gemini API is: it refuses a resume
while the session's earlier socket is open, so the first rotation is refused once and
every rotation after it breaks before it makes. The figures are printed (run with `-s`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rtc.bridge.base import HostStatus
from rtc.bridge.gemini.bridge import GeminiLiveBridge
from rtc.bridge.gemini.tuning import GeminiTuning
from tests.conftest import until
from tests.fakes.audio import chunks, silence, voiced
from tests.fakes.gemini_live import FakeGeminiConfig, FakeGeminiLive
from tests.rtc.bridge.gemini.test_bridge import Recorder, bridge_for

MINUTE = 60 * 50
"""20 ms chunks in a minute of audio."""
ENGINE_START_CHUNKS = 4
"""The engine's VAD calls speech 60-80 ms after it starts."""
ENGINE_HANGOVER_CHUNKS = 25
"""…and its end after 500 ms of silence."""
YIELD_CHUNKS = 5
"""The engine's task waits for the next frame every 20 ms; the feed lets the loop run every
100 ms of audio (a starved loop would not even answer a close frame in time)."""
MAX_LEAD = 20 * 16_000
"""Samples the feed may be ahead of what the bridge sent. Fed as fast as the loop allows, the
audio outruns a rotation that takes a busy machine seconds of wall time by many minutes, and
would overflow the bridge's minute of backlog; in real time, a rotation holds well under a
second. So the compressed clock stops while the bridge holds this much, as it would if the
guest spoke in real time."""


@dataclass
class Script:
    """A guest's side of an interview: utterances and silences, with actions at minutes."""

    turns: list[tuple[float, float]]
    """(seconds of speech, seconds of silence after it), in order."""
    actions: dict[int, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    """What to do once the audio clock passes a minute."""

    @property
    def seconds(self) -> float:
        return sum(speech + pause for speech, pause in self.turns)


async def feed(bridge: GeminiLiveBridge, script: Script) -> int:
    """Give the bridge the script's audio, as the engine would; returns the samples given."""
    cache: dict[tuple[str, float], list[bytes]] = {}
    given = sent_chunks = 0
    minutes_done = 0
    for speech, pause in script.turns:
        spoken = cache.setdefault(("v", speech), chunks(voiced(speech)))
        quiet = cache.setdefault(("s", pause), chunks(silence(pause)))
        for index, chunk in enumerate(spoken):
            if index == ENGINE_START_CHUNKS:
                await bridge.guest_started_speaking()
            await bridge.send_audio(chunk)
            if index % YIELD_CHUNKS == 0:
                await let_the_loop_run(bridge)
        for index, chunk in enumerate(quiet):
            await bridge.send_audio(chunk)
            if index == ENGINE_HANGOVER_CHUNKS:
                await bridge.guest_stopped_speaking()
            if index % YIELD_CHUNKS == 0:
                await let_the_loop_run(bridge)
        given += (len(spoken) + len(quiet)) * 320
        sent_chunks += len(spoken) + len(quiet)
        while minutes_done < sent_chunks // MINUTE:
            minutes_done += 1
            if (action := script.actions.get(minutes_done)) is not None:
                await action()
    return given


async def let_the_loop_run(bridge: GeminiLiveBridge) -> None:
    """One step of the loop, or until the bridge is no more than `MAX_LEAD` behind."""
    await asyncio.sleep(0)
    if held(bridge) > MAX_LEAD:
        await until(lambda: held(bridge) <= MAX_LEAD // 2)


def held(bridge: GeminiLiveBridge) -> int:
    """Samples given to the bridge and still waiting to go up."""
    stats = bridge.stats
    return stats.samples_given - stats.samples_sent - stats.samples_withheld - stats.samples_dropped


def matched(lines: list[str], said: list[str], *, unread: int = 0) -> int:
    """Check `lines` are the bridge's final lines of `said`, in order, each exactly once
    (cut ones as a prefix); returns how many were cut. Up to `unread` of `said` may be
    missing: what a connection said after the bridge stopped reading it (it was going)."""
    assert len(said) - unread <= len(lines) <= len(said), (len(lines), len(said), unread)
    cut = at = 0
    for line in lines:
        while at < len(said) and not (line and said[at].startswith(line)):
            at += 1
        assert at < len(said), (line, said)
        cut += line != said[at]
        at += 1
    return cut


def unanswered(timeline: list[str]) -> int:
    """How many heard guest turns no finished host reply followed before the next one."""
    runs = "".join("h" if event == "heard" else "r" for event in timeline).split("h")[1:]
    return sum("r" not in run for run in runs)


def statuses(recorder: Recorder) -> list[str]:
    return [e.state for e in recorder.events if isinstance(e, HostStatus)]


def director_texts(contents: list[dict[str, Any]]) -> list[str]:
    return [
        part["text"]
        for content in contents
        for turn in content["turns"]
        for part in turn["parts"]
        if part["text"].startswith("[Director]")
    ]


async def test_an_hour_long_interview_loses_no_sample_line_or_note() -> None:
    config = FakeGeminiConfig(
        pace=0,
        reply_seconds=0.5,
        numbered=True,
        fragment_chars=7,
        audio_lifetime=120.0,
        go_away_grace=1.0,
    )
    tuning = GeminiTuning(cost_control=False, rotation_margin_s=0.3, backoff_initial_s=0.05)
    # 72 exchanges of 50 s: the guest answers for 35 s, then listens for 15 s.
    script = Script(turns=[(35.0, 15.0)] * 72)
    assert script.seconds == 3600
    notes = [f"Note {n}: ask about year {1950 + n}." for n in range(16)]
    sent_notes: list[str] = []
    refused_at: list[int] = []
    async with FakeGeminiLive(config) as fake:
        bridge = bridge_for(fake, tuning=tuning)
        await bridge.start()
        recorder = Recorder(bridge)

        async def note() -> None:
            text = notes[len(sent_notes)]
            sent_notes.append(text)
            await bridge.inject(text, now=len(sent_notes) % 2 == 0)

        async def fail_mid_turn() -> None:
            fake.fail_next_turn(1011)

        async def refuse_handle() -> None:
            refused_at.append(len(fake.connections))
            fake.refuse_next_resumption()
            await fake.close_all(1011, "Internal error encountered.")
            await note()  # a note while the connection is down

        async def network_drop() -> None:
            # A dead TCP connection acknowledges nothing: audio written between the failure
            # and its detection is lost, and only an unanswered utterance is replayed. The
            # drop comes when nothing is in flight, so that the sample counts add up
            # exactly; test_rotation drops a connection mid-utterance.
            await fake.wait_for(
                lambda: (
                    fake.samples_received
                    == bridge.stats.samples_sent + bridge.stats.samples_replayed
                )
            )
            await asyncio.sleep(0.05)  # what the fake sent has arrived
            fake.drop_all()
            await recorder.until(lambda: len(statuses(recorder)) == 5)

        script.actions = {m: note for m in range(2, 60, 4)}
        script.actions |= {15: fail_mid_turn, 31: refuse_handle, 45: network_drop}
        began = time.monotonic()
        given = await feed(bridge, script)
        # A switch may be under way: its held audio goes up once it is done.
        await fake.wait_for(lambda: bridge.stats.samples_sent == given)
        await bridge.close()
        wall = time.monotonic() - began
        async with asyncio.timeout(20):
            await recorder.task
        stats = bridge.stats
        await fake.wait_for(lambda: fake.samples_received == given + stats.samples_replayed)

    heard = [line for c in fake.connections for line in c.heard]
    replies = [line for c in fake.connections for line in c.replies]
    print(
        f"\n60-minute interview in {wall:.1f} s: {len(fake.connections)} connections, "
        f"{stats.rotations} rotations ({stats.forced_rotations} forced), "
        f"max rotation {stats.rotation_max_s * 1000:.0f} ms, max goAway→switch "
        f"{stats.go_away_to_switch_max_s * 1000:.0f} ms, losses {stats.connection_losses} "
        f"(resumed {stats.resumes}, restarted {stats.restarts}, max outage "
        f"{stats.outage_max_s * 1000:.0f} ms), samples given {given} / received "
        f"{fake.samples_received}, buffered {stats.samples_buffered}, "
        f"max backlog {stats.backlog_max_samples}, replayed {stats.samples_replayed}, "
        f"{len(heard)} guest and {len(replies)} host lines, "
        f"{fake.overlaps_refused} second socket refused"
    )
    # Every sample reached the service; only unanswered utterances went twice.
    assert stats.samples_given == given == 3600 * 16_000
    assert stats.samples_sent == given and stats.samples_dropped == 0
    assert fake.samples_received == given + stats.samples_replayed
    # Every utterance was heard whole (none split across connections) and answered. One
    # heard by a connection that went before the bridge read its answer was replayed to the
    # next connection, heard whole there and answered: it is heard twice.
    heard_ms = [ms for c in fake.connections for ms in c.heard_ms]
    replayed = len(heard) - len(script.turns)
    assert len(heard) == len(heard_ms) and replayed >= 0
    assert min(heard_ms) > 34_000  # 35 s each; the fake's energy VAD misses a few troughs
    assert unanswered(fake.timeline) <= replayed
    # The connections: rotations, losses, one refused handle, one refused second socket.
    assert fake.overlaps_refused == stats.refused_overlaps == 1
    assert stats.rotations >= 20
    assert (stats.connection_losses, stats.resumes, stats.restarts) == (3, 2, 1)
    assert stats.refused_handles == 1
    assert statuses(recorder) == [
        "reconnecting",
        "resumed",
        "reconnecting",
        "restarted",
        "reconnecting",
        "resumed",
    ]
    # Every transcript line, once; the host never opened the interview twice.
    user_lines = recorder.lines("user")
    assert len(user_lines) == len(script.turns)
    unread = stats.forced_rotations + stats.connection_losses
    cut = matched(user_lines, heard, unread=replayed)
    cut += matched(recorder.lines("ai"), replies, unread=unread)
    interruptions = sum(c.interruptions for c in fake.connections)  # the guest barged in
    assert cut <= stats.forced_rotations + stats.connection_losses + interruptions
    assert sum("Welcome" in str(c.client_contents) for c in fake.connections) == 1
    # Every director note reached exactly one connection...
    assert len(sent_notes) == 16  # every 4 minutes, and one during the refused handle
    for text in sent_notes:
        reached = [
            c for c in fake.connections if f"[Director] {text}" in director_texts(c.client_contents)
        ]
        assert len(reached) == 1, text
    # ...and the fresh session after the refused handle was seeded with those sent before.
    fresh = fake.connections[refused_at[0] + 1]
    assert fresh.setup["sessionResumption"] == {}
    seed = fresh.setup["systemInstruction"]["parts"][0]["text"]
    before, during = sent_notes[:8], sent_notes[8]  # minutes 2 to 30; at 31
    assert all(f"  - {text}" in seed for text in before) and during not in seed
    assert f"[Director] {during}" in director_texts(fresh.client_contents)


async def test_cost_control_stops_streaming_long_silences() -> None:
    config = FakeGeminiConfig(pace=0, reply_seconds=0.5, numbered=True, audio_lifetime=60.0)
    tuning = GeminiTuning(rotation_margin_s=0.3)  # cost control on, with its defaults
    # Twenty minutes: answers of 20 s, the host's questions (15 s of listening), and four
    # long silences of two minutes (a long story from the host, a guest thinking).
    turns = [(20.0, 15.0)] * 24 + [(20.0, 120.0)] * 4
    script = Script(turns=turns)
    async with FakeGeminiLive(config) as fake:
        bridge = bridge_for(fake, tuning=tuning)
        await bridge.start()
        recorder = Recorder(bridge)
        given = await feed(bridge, script)
        await bridge.close()
        async with asyncio.timeout(20):
            await recorder.task
        stats = bridge.stats
        sent = given - stats.samples_withheld
        await fake.wait_for(lambda: fake.samples_received == sent + stats.samples_replayed)
    reduction = stats.samples_withheld / given
    print(
        f"\ncost control over {script.seconds / 60:.0f} min ({len(turns)} answers): "
        f"given {given}, sent {fake.samples_received}, withheld {stats.samples_withheld} "
        f"({reduction:.0%} fewer samples), {stats.stream_ends} audioStreamEnd, "
        f"{stats.rotations} rotations ({stats.forced_rotations} forced), "
        f"replayed {stats.samples_replayed}"
    )
    assert stats.samples_given == given
    assert stats.samples_sent == given - stats.samples_withheld
    assert fake.samples_received == stats.samples_sent + stats.samples_replayed
    # The transcript has each answer once, in order, each heard whole (its onset came with
    # the pre-roll) by the connection it came from. An answer a connection heard but went
    # before the bridge read the reply was replayed to the next one, and heard there again.
    heard = [line for c in fake.connections for line in c.heard]
    heard_ms = dict(zip(heard, [ms for c in fake.connections for ms in c.heard_ms], strict=True))
    lines = recorder.lines("user")
    assert len(lines) == len(turns)
    assert matched(lines, heard, unread=stats.forced_rotations) == 0
    assert all(heard_ms[line] > 19_000 for line in lines), (lines, heard_ms)
    assert stats.stream_ends == len(turns)  # every silence after an answer
    # The service got each marker once, and again with a replayed answer.
    assert sum(c.audio_stream_ends for c in fake.connections) >= stats.stream_ends
    assert reduction > 0.4
