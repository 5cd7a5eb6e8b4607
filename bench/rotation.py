"""Gemini Live rotations: how long the guest's audio is held, and how much later the host's
next reply comes than without a rotation, for each rotation strategy.

    .venv/bin/python -m bench.rotation                  # 12 rotations a case, about 6 minutes
    .venv/bin/python -m bench.rotation --setup-ms 150   # the service's setup time modelled

`GeminiLiveBridge` speaks through the real google-genai SDK to the project's Live fake
(`tests/fakes`) on loopback, in this process. The strict fake refuses a resume while the
session's earlier socket is open (1011), as the Gemini API does; the lenient one does not.
`--setup-ms` makes the fake take that long to answer a setup, as the service does from afar
(loopback alone measures only this machine). The guest is fed in real time, as the engine
feeds the bridge: answers of 1.5 s, then 1.2 s of silence, with the engine's VAD hints.

Cases, each against a baseline of turns without a rotation in the same run:

- at a turn boundary: goAway just after the host's reply ends, the moment the bridge waits
  for; the reply measured is the next one;
- deadline mid-answer: goAway 0.4 s into an answer with 0.6 s left, so the bridge's deadline
  (half the time left, as the margin exceeds it) comes 0.3 s later, before the answer ends:
  the rotation is forced and the answer so far replayed to the new connection; the reply
  measured is that answer's.

Held: from audio stopping on the old connection to the new one having taken all that was
held (the bridge's own switch time). Reply later: from the moment the fake could tell the
answer ended (400 ms of silence fed) to the reply's first audio, minus the baseline's p50.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from google.genai import types

from bench.common import Summary, code_state, machine, now_stamp, run
from rtc.bridge.base import HostAudio, TurnComplete
from rtc.bridge.brief import HostBrief
from rtc.bridge.gemini import bridge as gemini_bridge
from rtc.bridge.gemini.bridge import GeminiLiveBridge
from rtc.bridge.gemini.metrics import BridgeMetrics
from rtc.bridge.gemini.tuning import GeminiTuning, Rotation
from tests.fakes.audio import chunks, silence, voiced
from tests.fakes.gemini_live import FakeGeminiConfig, FakeGeminiLive

Trigger = Literal["none", "boundary", "deadline"]
CHUNK_S = 0.02
ANSWER_S = 1.5
PAUSE_S = 1.2
FAKE_END_CHUNKS = 20
"""The fake's VAD ends an answer after 400 ms of silence: 20 chunks."""
GRACE_S = 5.0
DEADLINE_GRACE_S = 0.6
BRIEF = HostBrief(vibe="The Journalist", mode="Auto-Pilot", duration_minutes=60)


@dataclass(frozen=True)
class Case:
    """A rotation strategy against an endpoint, rotated at one kind of moment."""

    rotation: Rotation
    strict: bool
    trigger: Trigger

    @property
    def name(self) -> str:
        if self.trigger == "none":
            return "baseline (no rotation)"
        endpoint = "strict" if self.strict else "lenient"
        moment = "turn boundary" if self.trigger == "boundary" else "deadline mid-answer"
        return f"{self.rotation}, {endpoint} fake, {moment}"


@dataclass
class Result:
    """What one case measured, in seconds."""

    held: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    """Reply delays of the turns a rotation touched (of every turn, for the baseline)."""
    refused: int = 0
    replayed_samples: int = 0


class Reader:
    """Reads the bridge's events, noting when each reply's first audio arrives."""

    def __init__(self, bridge: GeminiLiveBridge) -> None:
        self.turns = 0
        self.first_audio: list[float] = []
        self._audio_seen = False
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._read(bridge))

    async def _read(self, bridge: GeminiLiveBridge) -> None:
        async for event in bridge.events():
            if isinstance(event, HostAudio) and not self._audio_seen:
                self._audio_seen = True
                self.first_audio.append(time.perf_counter())
            elif isinstance(event, TurnComplete):
                self.turns += 1
                self._audio_seen = False
            self._changed.set()

    async def until_turns(self, count: int) -> None:
        async with asyncio.timeout(30):
            while self.turns < count:
                self._changed.clear()
                await self._changed.wait()


@contextlib.contextmanager
def switch_times(into: list[float]) -> Iterator[None]:
    """Record each switch's held time (the bridge's own measure) while inside."""
    original = BridgeMetrics.switched

    def switched(self: BridgeMetrics, kind: Any, **kwargs: Any) -> None:
        if kind != "opened":
            into.append(kwargs["seconds"])
        original(self, kind, **kwargs)

    BridgeMetrics.switched = switched  # type: ignore[method-assign]
    try:
        yield
    finally:
        BridgeMetrics.switched = original  # type: ignore[method-assign]


class Pacer:
    """Sleeps so that chunks go out in real time, 20 ms apart."""

    def __init__(self) -> None:
        self._next = time.perf_counter()

    async def tick(self) -> None:
        self._next += CHUNK_S
        await asyncio.sleep(max(0.0, self._next - time.perf_counter()))


@contextlib.asynccontextmanager
async def host(
    case: Case, setup_s: float
) -> AsyncIterator[tuple[FakeGeminiLive, GeminiLiveBridge]]:
    """The fake endpoint for `case` and a started bridge talking to it."""
    config = FakeGeminiConfig(
        pace=1.0, reply_seconds=0.6, setup_delay=setup_s, one_socket_per_session=case.strict
    )
    tuning = GeminiTuning(cost_control=False, rotation=case.rotation)
    async with FakeGeminiLive(config) as fake:
        options = types.HttpOptions(async_client_args={"ssl": fake.client_ssl_context()})
        bridge = GeminiLiveBridge(
            BRIEF, api_key="bench", base_url=fake.base_url, http_options=options, tuning=tuning
        )
        await bridge.start()
        try:
            yield fake, bridge
        finally:
            await bridge.close()


async def run_case(case: Case, turns: int, setup_s: float) -> Result:
    """Feed `turns` answers; every other one is touched by a rotation (unless baseline)."""
    result = Result()
    with switch_times(result.held):
        async with host(case, setup_s) as (fake, bridge):
            reader = Reader(bridge)
            await reader.until_turns(1)  # the opening
            pacer = Pacer()
            for turn in range(turns):
                touched = case.trigger != "none" and turn % 2 == 1
                deadline = touched and case.trigger == "deadline"
                ended = await answer(bridge, fake, pacer, deadline_go_away=deadline)
                await reader.until_turns(turn + 2)
                if touched or case.trigger == "none":
                    result.replies.append(reader.first_audio[turn + 1] - ended)
                if case.trigger == "boundary" and turn % 2 == 0 and turn + 1 < turns:
                    fake.go_away_now(grace=GRACE_S)  # the next answer's reply is measured
            stats = bridge.stats
            result.refused = stats.refused_overlaps
            result.replayed_samples = stats.samples_replayed
    return result


async def answer(
    bridge: GeminiLiveBridge, fake: FakeGeminiLive, pacer: Pacer, *, deadline_go_away: bool
) -> float:
    """One answer and the silence after it, in real time; returns when the fake could tell
    the answer ended."""
    for index, chunk in enumerate(chunks(voiced(ANSWER_S))):
        if index == 4:
            await bridge.guest_started_speaking()
        if deadline_go_away and index == 20:
            fake.go_away_now(grace=DEADLINE_GRACE_S)
        await bridge.send_audio(chunk)
        await pacer.tick()
    ended = 0.0
    for index, chunk in enumerate(chunks(silence(PAUSE_S))):
        await bridge.send_audio(chunk)
        if index + 1 == FAKE_END_CHUNKS:
            ended = time.perf_counter()
        if index == 25:
            await bridge.guest_stopped_speaking()
        await pacer.tick()
    return ended


STRATEGIES: list[tuple[Rotation, bool]] = [
    ("make-before-break", False),
    ("make-before-break", True),
    ("break-before-make", True),
]
MOMENTS: list[Trigger] = ["boundary", "deadline"]
CASES = [
    Case("make-before-break", strict=False, trigger="none"),
    *(Case(rotation, strict, moment) for moment in MOMENTS for rotation, strict in STRATEGIES),
]


async def main(rotations: int, setup_ms: float) -> None:
    gemini_bridge.logger.setLevel("WARNING")
    print(f"{now_stamp()} · {code_state()} · {machine()}")
    print(f"{rotations} rotations a case; the fake answers a setup in {setup_ms:g} ms")
    results: dict[Case, Result] = {}
    for case in CASES:
        turns = rotations * 2 if case.trigger != "none" else rotations
        results[case] = await run_case(case, turns, setup_ms / 1000)
    baseline = Summary.of(results[CASES[0]].replies).p50
    print(f"\nbaseline reply delay p50 {baseline * 1000:.1f} ms (from the answer's end)")
    header = f"{'case':58} {'held p50   p95   max':>20} {'reply later p50   p95   max':>28}"
    print(header + "  refused  replayed s")
    for case, result in results.items():
        if case.trigger == "none":
            continue
        held = Summary.of(1000 * s for s in result.held)
        later = Summary.of(1000 * (s - baseline) for s in result.replies)
        print(
            f"{case.name:58} {held.p50:8.1f} {held.p95:5.1f} {held.max:5.1f}"
            f" {later.p50:15.1f} {later.p95:5.1f} {later.max:5.1f}"
            f"  {result.refused:7d}  {result.replayed_samples / 16_000:9.2f}"
        )
    print("(ms; held: the switch; reply later: beyond the baseline's p50)")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rotations", type=int, default=12, help="rotations a case")
    parser.add_argument("--setup-ms", type=float, default=0.0, help="the fake's setup time")
    args = parser.parse_args()
    run(main(args.rotations, args.setup_ms))


if __name__ == "__main__":
    cli()
