"""Pipeline latency: the guest's last word in, the host's first sound out, instant host.

    .venv/bin/python -m bench.latency              # 35 turns of one guest, about 2 minutes
    .venv/bin/python -m bench.latency --guests 10  # the same under the load of 10 guests

The server (the whole app, with `InstantHost`, which answers each turn at once with a
0.2 s tone) runs in this process, pinned to the first CPU; the guests run in a child process
(`bench/guests.py`, short eSpeak NG answers with 1.5 s silences) pinned to the second. Every
`--rejoin-every` turns the guests end their interviews and join new ones: the wait for the
outbound track's next 20 ms frame slot (0-20 ms) depends on the phase between the guest's
frames and the server's, which is fixed for a connection and random between connections.
Engine and aiortc classes are wrapped in this process only, to timestamp (perf_counter):

- `arrival`: the guest's RTP packet reaches aiortc's receiver (after SRTP);
- `decoded`: the decoded frame is handed to the engine (`RemoteStreamTrack.recv` returns);
- `voiced`: the last voiced 20 ms frame of the turn reaches the VAD
  (`VoiceActivityDetector.process`);
- `ended`: the VAD reports SPEECH_ENDED, one hang-over (500 ms) of silence later;
- `out`: the first frame with host audio leaves `HostVoiceTrack.recv` (`OutboundMixer`
  said it held host audio);
- `sent`: that frame is Opus-encoded and about to go out as RTP (`_next_encoded_frame`).

Reported, per turn, with p50/p95/p99: the raw `out - voiced`; the server-added latency
beyond the VAD hang-over `out - voiced - hang-over` (target p95 <= 30 ms); its parts; the
same to the wire (`sent`); and, per frame, the inbound path `decoded - arrival` (aiortc's
jitter buffer and decoder thread, which the VAD-based figure does not see).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpreceiver import RemoteStreamTrack

from bench.common import (
    Child,
    Summary,
    children,
    code_state,
    cpu_pair,
    install_fast_audio_level,
    machine,
    now_stamp,
    pin_to_cpu,
    run,
    serve_here,
    write_json,
)

TARGET_P95_MS = 30.0
ARRIVALS_KEPT = 2_000
WARM_UP_TURNS = 1  # per guest: the first turn may fall while the host is still connecting


@dataclass
class Turn:
    """Timestamps (perf_counter seconds) of one guest turn and the host's answer."""

    voiced: float
    voiced_arrival: float | None
    ended: float
    queued: float | None = None
    out: float | None = None
    sent: float | None = None


@dataclass
class InterviewProbe:
    """What one interview's wrapped objects recorded."""

    hangover_s: float
    last_voiced: tuple[float, float | None] | None = None
    waiting: Turn | None = None
    turns: list[Turn] = field(default_factory=list)
    unanswered: int = 0
    mixer_had_host: bool = False


PROBES: list[InterviewProbe] = []
INBOUND_S: list[float] = []
_ARRIVAL: contextvars.ContextVar[float | None] = contextvars.ContextVar("arrival", default=None)


def _wrap(owner: type, name: str, make: Callable[[Any], Any]) -> None:
    setattr(owner, name, make(getattr(owner, name)))


def install_probes() -> None:
    """Wrap the engine's and aiortc's classes in this process to timestamp a turn's path."""
    from rtc.interview import Interview
    from rtc.mixer import OutboundMixer
    from rtc.peers.outbound import HostVoiceTrack
    from rtc.vad import VadEvent, VoiceActivityDetector

    def interview_init(original: Any) -> Any:
        def __init__(self: Interview, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            probe = InterviewProbe(hangover_s=self._vad.hangover_ms / 1000)
            self._vad._bench_probe = probe  # type: ignore[attr-defined]
            self.mixer._bench_probe = probe  # type: ignore[attr-defined]
            PROBES.append(probe)

        return __init__

    def handle_rtp(original: Any) -> Any:
        async def _handle_rtp_packet(
            self: RTCRtpReceiver, packet: Any, arrival_time_ms: int
        ) -> None:
            now = time.perf_counter()
            track = self._track
            if track is not None:
                state = track.__dict__.setdefault("_bench_rtp", {"origin": packet.timestamp})
                arrivals: dict[int, float] = state.setdefault("arrivals", {})
                arrivals[(packet.timestamp - state["origin"]) % 2**32] = now
                if len(arrivals) > ARRIVALS_KEPT:
                    del arrivals[next(iter(arrivals))]
            await original(self, packet, arrival_time_ms)

        return _handle_rtp_packet

    def remote_recv(original: Any) -> Any:
        async def recv(self: RemoteStreamTrack) -> Any:
            frame = await original(self)
            state = self.__dict__.get("_bench_rtp")
            if state is not None and frame.pts is not None:
                arrival = state.get("arrivals", {}).pop(frame.pts, None)
                if arrival is not None:
                    INBOUND_S.append(time.perf_counter() - arrival)
                    _ARRIVAL.set(arrival)  # the engine's listening task reads it in the VAD
            return frame

        return recv

    def vad_process(original: Any) -> Any:
        def process(self: VoiceActivityDetector, frame: bytes) -> VadEvent | None:
            now = time.perf_counter()
            event: VadEvent | None = original(self, frame)
            probe: InterviewProbe | None = getattr(self, "_bench_probe", None)
            if probe is None:
                return event
            voiced = event is VadEvent.SPEECH_STARTED or (
                event is None and self.speaking and self._unvoiced_run == 0
            )
            if voiced:
                probe.last_voiced = (now, _ARRIVAL.get())
            elif event is VadEvent.SPEECH_ENDED and probe.last_voiced is not None:
                if probe.waiting is not None:
                    probe.unanswered += 1
                voiced_at, arrival = probe.last_voiced
                probe.waiting = Turn(voiced_at, arrival, time.perf_counter())
            return event

        return process

    def push_host(original: Any) -> Any:
        def wrapped(self: OutboundMixer, samples: Any) -> None:
            original(self, samples)
            probe: InterviewProbe | None = getattr(self, "_bench_probe", None)
            if probe is not None and probe.waiting is not None and probe.waiting.queued is None:
                probe.waiting.queued = time.perf_counter()

        return wrapped

    def next_frame(original: Any) -> Any:
        def wrapped(self: OutboundMixer) -> Any:
            samples, had_host = original(self)
            probe: InterviewProbe | None = getattr(self, "_bench_probe", None)
            if probe is not None:
                probe.mixer_had_host = had_host
            return samples, had_host

        return wrapped

    def track_recv(original: Any) -> Any:
        async def recv(self: HostVoiceTrack) -> Any:
            frame = await original(self)
            probe: InterviewProbe | None = getattr(self._mixer, "_bench_probe", None)
            if probe is not None and probe.mixer_had_host and probe.waiting is not None:
                turn, probe.waiting = probe.waiting, None
                turn.out = time.perf_counter()
                probe.turns.append(turn)
                self._bench_turn = turn  # type: ignore[attr-defined]
            return frame

        return recv

    def next_encoded(original: Any) -> Any:
        async def _next_encoded_frame(self: RTCRtpSender, codec: Any) -> Any:
            encoded = await original(self, codec)
            track = self.track
            turn: Turn | None = getattr(track, "_bench_turn", None)
            if turn is not None and encoded is not None:
                turn.sent = time.perf_counter()
                track.__dict__["_bench_turn"] = None
            return encoded

        return _next_encoded_frame

    _wrap(Interview, "__init__", interview_init)
    _wrap(RTCRtpReceiver, "_handle_rtp_packet", handle_rtp)
    _wrap(RemoteStreamTrack, "recv", remote_recv)
    _wrap(VoiceActivityDetector, "process", vad_process)
    _wrap(OutboundMixer, "push_host", push_host)
    _wrap(OutboundMixer, "next_frame", next_frame)
    _wrap(HostVoiceTrack, "recv", track_recv)
    _wrap(RTCRtpSender, "_next_encoded_frame", next_encoded)


def set_audio_prefetch(prefetch: int) -> None:
    """What-if: aiortc's audio jitter buffer holding `prefetch` frames instead of 4."""
    from aiortc.jitterbuffer import JitterBuffer

    def receiver_init(original: Any) -> Any:
        def __init__(self: RTCRtpReceiver, kind: str, transport: Any) -> None:
            original(self, kind, transport)
            if kind == "audio":
                buffer = JitterBuffer(capacity=16, prefetch=prefetch)
                self.__dict__["_RTCRtpReceiver__jitter_buffer"] = buffer

        return __init__

    _wrap(RTCRtpReceiver, "__init__", receiver_init)


@dataclass(frozen=True)
class Timed:
    """One complete turn: each span in ms, the hang-over taken off where it says so."""

    raw: float
    added: float
    hangover: float
    reply: float
    queue: float
    pacing: float
    encode: float
    added_to_wire: float
    rtp_to_rtp: float | None


def measured_turns() -> list[Timed]:
    """Complete turns after each interview's warm-up."""
    timed: list[Timed] = []
    for probe in PROBES:
        hang = probe.hangover_s
        for turn in probe.turns[WARM_UP_TURNS:]:
            if turn.out is None or turn.sent is None or turn.queued is None:
                continue
            arrival = turn.voiced_arrival
            timed.append(
                Timed(
                    raw=(turn.out - turn.voiced) * 1000,
                    added=(turn.out - turn.voiced - hang) * 1000,
                    hangover=(turn.ended - turn.voiced) * 1000,
                    reply=(turn.out - turn.ended) * 1000,
                    queue=(turn.queued - turn.ended) * 1000,
                    pacing=(turn.out - turn.queued) * 1000,
                    encode=(turn.sent - turn.out) * 1000,
                    added_to_wire=(turn.sent - turn.voiced - hang) * 1000,
                    rtp_to_rtp=None if arrival is None else (turn.sent - arrival - hang) * 1000,
                )
            )
    return timed


ADDED = "server-added beyond the hang-over (target p95 <= 30)"


def report(args: argparse.Namespace, wall_s: float) -> dict[str, Any]:
    turns = measured_turns()
    rows: dict[str, Summary] = {
        "raw: last voiced frame at VAD -> first host frame out": Summary.of(t.raw for t in turns),
        ADDED: Summary.of(t.added for t in turns),
        "  hang-over as observed: voiced -> SPEECH_ENDED": Summary.of(t.hangover for t in turns),
        "  SPEECH_ENDED -> first host frame out": Summary.of(t.reply for t in turns),
        "    SPEECH_ENDED -> host audio queued in the mixer": Summary.of(t.queue for t in turns),
        "    queued -> out (waiting for the next 20 ms frame slot)": Summary.of(
            t.pacing for t in turns
        ),
        "  first host frame out -> encoded, to the wire": Summary.of(t.encode for t in turns),
        "beyond the hang-over, to the wire (sent)": Summary.of(t.added_to_wire for t in turns),
        "RTP in -> RTP out, beyond the hang-over": Summary.of(
            t.rtp_to_rtp for t in turns if t.rtp_to_rtp is not None
        ),
        "inbound, per frame: RTP in -> decoded frame to engine": Summary.of(
            value * 1000 for value in INBOUND_S
        ),
    }
    print(
        f"\n{len(turns)} turns measured in {wall_s:.0f} s "
        f"({sum(p.unanswered for p in PROBES)} unanswered); figures in ms"
    )
    print(f"{'':58s} {'p50':>8s} {'p95':>8s} {'p99':>8s} {'max':>8s}")
    for label, summary in rows.items():
        print(f"{label:58s} {summary.row()}")
    added = rows[ADDED]
    verdict = "met" if added.p95 <= TARGET_P95_MS else "NOT met"
    print(
        f"\nserver-added latency beyond the VAD hang-over: p95 {added.p95:.1f} ms "
        f"(target <= {TARGET_P95_MS:.0f} ms): {verdict}"
    )
    return {
        "turns": len(turns),
        "guests": args.guests,
        "figures_ms": {label.strip(): summary.as_dict() for label, summary in rows.items()},
        "raw_turns_ms": [asdict(turn) for turn in turns],
    }


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    server_cpu, client_cpu = cpu_pair()
    pin_to_cpu(server_cpu)
    print(f"bench.latency - {now_stamp()} - {machine()} - {code_state()}")
    what_if = [", numpy audio level"] if args.fast_audio_level else []
    if args.audio_prefetch is not None:
        what_if.append(f", audio jitter buffer prefetch {args.audio_prefetch}")
    print(
        f"server in this process on CPU {server_cpu}, {args.guests} guest(s) on CPU "
        f"{client_cpu}; {args.turns} turns{''.join(what_if)}"
    )
    if args.fast_audio_level:
        install_fast_audio_level()
    if args.audio_prefetch is not None:
        set_audio_prefetch(args.audio_prefetch)
    install_probes()
    from bench.common import NullMailer, bench_settings
    from bench.hosts import InstantHost, tone_answer
    from monumento.app import create_app

    with tempfile.TemporaryDirectory(prefix="monumento-bench-") as tmp:
        settings = bench_settings(Path(tmp) / "data", interview_minute_seconds=120.0)
        app = create_app(
            settings, mailer=NullMailer(), bridge_factory=InstantHost.factory(tone_answer(0.2))
        )
        async with serve_here(app) as port, children() as started:
            guests = await Child.start(
                "guests",
                "bench.guests",
                [
                    *("--base-url", f"http://127.0.0.1:{port}", "--target", "engine"),
                    *("--cpu", str(client_cpu), "--script", "latency", "--silence-s", "1.5"),
                ],
                Path(tmp),
            )
            started.append(guests)
            await guests.expect("ready", 120)
            await guests.request({"cmd": "grow", "n": args.guests}, "grown", 60 + 3 * args.guests)
            began = time.perf_counter()
            deadline = began + args.turns / args.guests * 10 + 60
            reported = 0
            rejoin_at = args.rejoin_every * args.guests
            while (done := len(measured_turns())) < args.turns:
                if time.perf_counter() > deadline:
                    print(f"\ngave up waiting: {done} of {args.turns} turns")
                    break
                if done >= reported + 10:
                    reported = done
                    print(f"  {done} turns", flush=True)
                if args.rejoin_every and done >= rejoin_at:
                    # New connections, new phases between the guest's and the host's frames.
                    await guests.request({"cmd": "drop", "n": args.guests}, "dropped", 60)
                    await guests.request({"cmd": "grow", "n": args.guests}, "grown", 60)
                    rejoin_at = done + args.rejoin_every * args.guests
                await asyncio.sleep(0.5)
            wall = time.perf_counter() - began
            await guests.request({"cmd": "quit"}, "bye", 60)
    return report(args, wall)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency",
        description=(
            "Server-added latency from the guest's last speech frame to the host's first "
            "audio frame, with a host that answers instantly."
        ),
    )
    parser.add_argument("--turns", type=int, default=35, help="turns to measure (default 35)")
    parser.add_argument("--guests", type=int, default=1, help="guests speaking at once (default 1)")
    parser.add_argument(
        "--fast-audio-level",
        action="store_true",
        help="what-if: a numpy audio level instead of aiortc's Python loop",
    )
    parser.add_argument(
        "--rejoin-every",
        type=int,
        default=5,
        metavar="TURNS",
        help=(
            "guests leave and join again after this many turns each, so turns sample many "
            "phases of the 20 ms frame clocks (default 5; 0: never)"
        ),
    )
    parser.add_argument(
        "--audio-prefetch",
        type=int,
        metavar="FRAMES",
        help="what-if: aiortc's audio jitter buffer prefetch (aiortc uses 4)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.turns < 1 or args.guests < 1:
        parser.error("--turns and --guests must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    write_json(args.json, run(amain(args)))


if __name__ == "__main__":
    main()
