"""Guests in a process of their own: aiortc peers that speak and time what they hear.

    python -m bench.guests --base-url http://127.0.0.1:PORT --target engine --cpu 1

Commands arrive as JSON lines on stdin; answers leave as JSON lines on stdout:

    {"cmd": "grow", "n": 10}                      -> {"event": "grown", ...}
    {"cmd": "drop", "n": 2}                       -> {"event": "dropped", ...}
    {"cmd": "mark"}                               -> {"event": "marked"}  (a window starts)
    {"cmd": "report"}                             -> {"event": "report", ...}  (its figures)
    {"cmd": "churn", "count": 50, "parallel": 4, "hold_s": 0}  -> {"event": "churned", ...}
    {"cmd": "quit"}                               -> {"event": "bye"}

A guest joins like a browser would: for the engine it registers (one account per process),
creates a session, opens the interview socket, offers, waits for the answer, the `live`
state and the first packet of the host's audio; for the echo server it offers on `/echo`.

The guests are light on purpose, so their own CPU does not blur what is measured: the
microphone sends Opus packets of real eSpeak NG speech with silences (or `--wav`), encoded
once at start-up and looped, and what the server sends back is not decoded: each RTP packet
of it is timestamped as aiortc hands it over (after SRTP), which is where jitter and
dropouts are measured. ICE stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import random
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import av
import httpx
import numpy as np
import websockets
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from bench.common import FRAME_S, Summary, die_with_parent, pin_to_cpu, run
from rtc.peers.ice import IcePolicy, install_ice_policy

RATE = 48_000
FRAME = 960
TIME_BASE = fractions.Fraction(1, RATE)
DROPOUT_MS = 60.0
JOIN_TIMEOUT_S = 30.0

CONVERSATION = (
    "I got my first bicycle when I was seven years old, and it was bright red.",
    "My grandmother told us stories about the harbour, the boats and the storms that winter.",
    "We moved to the city in the spring, and everything felt loud and new and a bit frightening.",
)
SHORT_ANSWERS = ("Yes, I remember that.", "It was a long time ago.", "We were very happy there.")
SCRIPTS = {"conversation": (CONVERSATION, 4.5), "latency": (SHORT_ANSWERS, 2.0)}


# What the guests say


def speech_48k(text: str) -> bytes:
    """`text` spoken by eSpeak NG, as 48 kHz mono s16le."""
    from rtc.bridge.offline.speech import SpeechSynthesizer, resample_pcm

    speech = SpeechSynthesizer().synthesize(text)
    return resample_pcm(speech.pcm, speech.sample_rate, RATE)


def encode_loop(pcm: bytes) -> list[bytes]:
    """Opus packets (one per 20 ms) of `pcm` played in a loop, in the encoder's steady state."""
    samples = np.frombuffer(pcm, np.int16)
    samples = np.concatenate([samples, np.zeros(-samples.size % FRAME, np.int16)])
    frames = samples.reshape(-1, FRAME)
    encoder = OpusEncoder()
    packets: list[bytes] = []
    for index, chunk in enumerate(np.concatenate([frames, frames])):
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = index * FRAME
        frame.time_base = TIME_BASE
        payloads, _ = encoder.encode(frame)
        packets += payloads
    return packets[-len(frames) :]


def speech_loops(script: str, silence_s: float, wav: str | None) -> list[list[bytes]]:
    """One encoded loop per utterance: the utterance, then `silence_s` of silence."""
    silence = bytes(2 * round(silence_s * RATE))
    if wav is not None:
        from rtc.audio import load_clip

        return [encode_loop(load_clip(wav).tobytes() + silence)]
    texts, _ = SCRIPTS[script]
    return [encode_loop(speech_48k(text) + silence) for text in texts]


class PacketMicrophone(MediaStreamTrack):
    """Sends pre-encoded Opus packets in a loop, one every 20 ms on a steady clock."""

    kind = "audio"

    def __init__(self, packets: list[bytes], offset: int) -> None:
        super().__init__()
        self._packets = packets
        self._offset = offset
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._index += 1
            delay = self._start + self._index * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        packet = av.Packet(self._packets[(self._offset + self._index) % len(self._packets)])
        packet.pts = self._index * FRAME
        packet.time_base = TIME_BASE
        return packet


# What the guests hear


class Probe:
    """Arrival times and sequence numbers of the RTP packets one guest receives."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.sequences: list[int] = []
        self.first = asyncio.Event()

    def record(self, packet: RtpPacket) -> None:
        self.arrivals.append(time.perf_counter())
        self.sequences.append(packet.sequence_number)
        if not self.first.is_set():
            self.first.set()

    def reset(self) -> None:
        self.arrivals.clear()
        self.sequences.clear()


_handle_rtp_packet = RTCRtpReceiver._handle_rtp_packet


async def _timestamp_rtp(self: RTCRtpReceiver, packet: RtpPacket, arrival_time_ms: int) -> None:
    """Receivers with a probe only timestamp their packets (no jitter buffer, no decoding)."""
    probe: Probe | None = getattr(self, "_bench_probe", None)
    if probe is None:
        await _handle_rtp_packet(self, packet, arrival_time_ms)
    else:
        probe.record(packet)


RTCRtpReceiver._handle_rtp_packet = _timestamp_rtp  # type: ignore[method-assign]


# The servers


class EngineTarget:
    """The Monumento server: one account, a session per guest, the interview socket."""

    needs_live = True

    def __init__(self, base_url: str) -> None:
        self._ws = base_url.replace("http://", "ws://", 1)
        self._http = httpx.AsyncClient(base_url=f"{base_url}/api/v1", timeout=30.0)
        self._token = ""

    async def setup(self) -> None:
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        response = await self._http.post(
            "/auth/register",
            json={"email": email, "password": "benchmark password", "fullName": "Bench Guest"},
        )
        response.raise_for_status()
        self._token = response.json()["accessToken"]

    async def socket_url(self) -> str:
        body = {
            "vibe": "The Historian",
            "mode": "Auto-Pilot",
            "durationMinutes": 5,
            "metadata": {"topics": ["your first bicycle", "your grandmother", "the city"]},
        }
        response = await self._http.post(
            "/sessions", json=body, headers={"Authorization": f"Bearer {self._token}"}
        )
        response.raise_for_status()
        session_id = response.json()["id"]
        return f"{self._ws}/api/v1/sessions/{session_id}/interview?token={self._token}"

    async def close(self) -> None:
        await self._http.aclose()


class EchoTarget:
    """The bare echo server: `/echo`, no account, no session."""

    needs_live = False

    def __init__(self, base_url: str) -> None:
        self._url = base_url.replace("http://", "ws://", 1) + "/echo"

    async def setup(self) -> None:
        pass

    async def socket_url(self) -> str:
        return self._url

    async def close(self) -> None:
        pass


Target = EngineTarget | EchoTarget


class Guest:
    """One guest: a socket for signaling and events, a peer for media."""

    def __init__(self, target: Target, packets: list[bytes], offset: int) -> None:
        self._target = target
        self.probe = Probe()
        self.pc = RTCPeerConnection()
        self._microphone = PacketMicrophone(packets, offset)
        self._socket: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._live = asyncio.Event()
        self.closed = asyncio.Event()
        self.errors: list[str] = []

    async def join(self) -> None:
        """Offer, answer, and wait until the server's audio flows (and, for the engine, live)."""
        async with asyncio.timeout(JOIN_TIMEOUT_S):
            self.pc.addTrack(self._microphone)
            for transceiver in self.pc.getTransceivers():
                transceiver.receiver._bench_probe = self.probe  # type: ignore[attr-defined]
            url = await self._target.socket_url()
            self._socket = await websockets.connect(url, max_size=2**20)
            self._reader = asyncio.create_task(self._read())
            await self.pc.setLocalDescription(await self.pc.createOffer())
            await self._send({"type": "offer", "sdp": self.pc.localDescription.sdp})
            answer = await self._answer
            await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            if self._target.needs_live:
                await self._live.wait()
            await self.probe.first.wait()

    async def end(self) -> None:
        """Ask the engine to end the interview and wait for it to close the socket."""
        await self._send({"type": "end"})
        async with asyncio.timeout(JOIN_TIMEOUT_S):
            await self.closed.wait()

    async def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _send(self, message: dict[str, Any]) -> None:
        await self._socket.send(json.dumps(message))

    async def _read(self) -> None:
        try:
            async for raw in self._socket:
                event = json.loads(raw)
                kind = event.get("type")
                if kind == "answer" and not self._answer.done():
                    self._answer.set_result(event["sdp"])
                elif kind == "state" and event.get("state") == "live":
                    self._live.set()
                elif kind == "error":
                    self.errors.append(f"{event.get('code')}: {event.get('error')}")
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            if not self._answer.done():
                self._answer.set_exception(ConnectionError(f"socket closed: {self.errors}"))


# The process


class LagMonitor:
    """How late this process's own loop runs: a 10 ms sleep that overshoots by over 40 ms
    means the guests' timestamps of that moment are late too (a client-side stall)."""

    def __init__(self) -> None:
        self.stalls: list[tuple[float, float]] = []  # (perf_counter, lateness in ms)

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.010)
            late = (time.perf_counter() - before - 0.010) * 1000
            if late > 40:
                self.stalls.append((time.perf_counter(), late))


class Guests:
    """The guests of this process, and the commands it takes."""

    def __init__(self, target: Target, loops: list[list[bytes]], script: str, seed: int) -> None:
        self._target = target
        self._loops = loops
        self._script = script
        self._random = random.Random(seed)
        self.guests: list[Guest] = []
        self._mark_wall = time.perf_counter()
        self._mark_cpu = time.process_time()
        self.lag = LagMonitor()

    def _new_guest(self) -> Guest:
        index = len(self.guests)
        packets = self._loops[index % len(self._loops)]
        first = self._script == "latency" and index == 0
        offset = 0 if first else self._random.randrange(len(packets))
        return Guest(self._target, packets, offset)

    async def grow(self, n: int, parallel: int = 5) -> dict[str, Any]:
        started = time.perf_counter()
        while len(self.guests) < n:
            batch = [self._new_guest() for _ in range(min(parallel, n - len(self.guests)))]
            self.guests += batch
            await asyncio.gather(*(guest.join() for guest in batch))
        return {"event": "grown", "n": len(self.guests), "seconds": time.perf_counter() - started}

    async def drop(self, n: int) -> dict[str, Any]:
        """End the interviews of the first `n` guests and leave (the engine), or just leave."""
        leaving, self.guests = self.guests[:n], self.guests[n:]

        async def leave(guest: Guest) -> None:
            try:
                if self._target.needs_live:
                    await guest.end()
            finally:
                await guest.close()

        await asyncio.gather(*(leave(guest) for guest in leaving))
        return {"event": "dropped", "n": len(self.guests)}

    def mark(self) -> dict[str, Any]:
        self.lag.stalls.clear()
        for guest in self.guests:
            guest.probe.reset()
        self._mark_wall = time.perf_counter()
        self._mark_cpu = time.process_time()
        return {"event": "marked"}

    def report(self) -> dict[str, Any]:
        wall = time.perf_counter() - self._mark_wall
        cpu = time.process_time() - self._mark_cpu
        jitter: list[np.ndarray] = []
        dropouts = guests_hit = lost = packets = 0
        worst_gap = 0.0
        gap_times: list[float] = []  # when each dropout ended, since the mark (s)
        for guest in self.guests:
            arrivals = np.asarray(guest.probe.arrivals)
            packets += arrivals.size
            if arrivals.size < 2:
                dropouts += 1
                guests_hit += 1
                continue
            gaps = np.diff(arrivals) * 1000
            jitter.append(np.abs(gaps - FRAME_S * 1000))
            late = int(np.count_nonzero(gaps > DROPOUT_MS))
            gap_times += (arrivals[1:][gaps > DROPOUT_MS] - self._mark_wall).round(2).tolist()
            dropouts += late
            guests_hit += late > 0
            worst_gap = max(worst_gap, float(gaps.max()))
            steps = np.diff(np.asarray(guest.probe.sequences)) % 65536
            lost += int(np.clip(steps - 1, 0, None).sum())
        summary = Summary.of(np.concatenate(jitter) if jitter else [])
        return {
            "event": "report",
            "guests": len(self.guests),
            "window_s": wall,
            "packets": packets,
            "expected": round(wall / FRAME_S) * len(self.guests),
            "jitter_ms": summary.as_dict(),
            "dropouts": dropouts,
            "guests_with_dropouts": guests_hit,
            "max_gap_ms": worst_gap,
            "lost": lost,
            "dropout_times_s": sorted(gap_times)[:200],
            "client_stalls_s": [
                (round(at - self._mark_wall, 2), round(late, 1)) for at, late in self.lag.stalls
            ],
            "client_cpu_pct": 100 * cpu / wall if wall > 0 else 0.0,
        }

    async def churn(self, count: int, parallel: int, hold_s: float = 0.0) -> dict[str, Any]:
        """`count` interviews, `parallel` at a time: join, go live, (talk `hold_s`,) end."""
        started = time.perf_counter()
        gate = asyncio.Semaphore(parallel)
        failures: list[str] = []

        async def once() -> None:
            async with gate:
                guest = self._new_guest()
                try:
                    await guest.join()
                    await asyncio.sleep(hold_s)
                    await guest.end()
                except Exception as error:
                    failures.append(f"{type(error).__name__}: {error} {guest.errors}")
                finally:
                    await guest.close()

        await asyncio.gather(*(once() for _ in range(count)))
        return {
            "event": "churned",
            "count": count,
            "failures": failures[:5],
            "failed": len(failures),
            "seconds": time.perf_counter() - started,
        }

    async def close(self) -> None:
        await asyncio.gather(*(guest.close() for guest in self.guests), return_exceptions=True)
        self.guests.clear()


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve_commands(guests: Guests) -> None:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    monitor = asyncio.create_task(guests.lag.run())
    handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
        "grow": lambda c: guests.grow(int(c["n"]), int(c.get("parallel", 5))),
        "drop": lambda c: guests.drop(int(c["n"])),
        "churn": lambda c: guests.churn(
            int(c["count"]), int(c.get("parallel", 4)), float(c.get("hold_s", 0.0))
        ),
    }
    while line := await reader.readline():
        command = json.loads(line)
        name = command.get("cmd")
        try:
            if name == "quit":
                break
            if name == "mark":
                reply(guests.mark())
            elif name == "report":
                reply(guests.report())
            elif name in handlers:
                reply(await handlers[name](command))
            else:
                reply({"event": "error", "detail": f"unknown command {name!r}"})
        except Exception as error:
            reply({"event": "error", "detail": f"{name}: {type(error).__name__}: {error}"})
    monitor.cancel()
    await guests.close()
    reply({"event": "bye"})


async def amain(args: argparse.Namespace) -> None:
    install_ice_policy(IcePolicy(host_addresses=("127.0.0.1",)))
    target: Target = (
        EngineTarget(args.base_url) if args.target == "engine" else EchoTarget(args.base_url)
    )
    silence_s = args.silence_s if args.silence_s is not None else SCRIPTS[args.script][1]
    loops = speech_loops(args.script, silence_s, args.wav)
    try:
        await target.setup()
        reply({"event": "ready", "loops_s": [len(loop) * FRAME_S for loop in loops]})
        await serve_commands(Guests(target, loops, args.script, args.seed))
    finally:
        await target.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.guests",
        description="Benchmark guests (aiortc peers) driven by JSON lines on stdin.",
    )
    parser.add_argument("--base-url", required=True, help="http://127.0.0.1:PORT of the server")
    parser.add_argument("--target", choices=("engine", "echo"), required=True)
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    parser.add_argument(
        "--script",
        choices=tuple(SCRIPTS),
        default="conversation",
        help="long sentences (default) or short answers (latency); loops start at random",
    )
    parser.add_argument("--silence-s", type=float, help="silence after each utterance (s)")
    parser.add_argument("--wav", help="speak this audio file instead of eSpeak NG sentences")
    parser.add_argument("--seed", type=int, default=1, help="seed of the loops' start offsets")
    args = parser.parse_args(argv)
    if not args.base_url.startswith("http://127.0.0.1:"):
        parser.error("--base-url must be http://127.0.0.1:PORT (the benchmarks stay on loopback)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pin_to_cpu(args.cpu)
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    try:
        run(amain(args))
    except Exception as error:
        reply({"event": "error", "detail": f"{type(error).__name__}: {error}"})
        raise


if __name__ == "__main__":
    main()
