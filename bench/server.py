"""A benchmark server in a process of its own: the engine (with a host) or the echo server.

    python -m bench.server --kind offline --data-dir /tmp/x --cpu 0

Once it listens (on 127.0.0.1, a free port) it prints one JSON line to stdout,
`{"event": "ready", "port": …, "pid": …}`, then serves as `monumento serve` would (uvicorn
on uvloop) until SIGTERM (SIGINT is ignored: the benchmark that started it stops it; it
also gets SIGTERM if that benchmark dies). `GET /_bench/stats` reports the process's
RSS, threads, tasks, running interviews, event-loop stalls (a watchdog thread logs every
thread's stack to stderr when the loop stalls) and, with `?objects=1`, the live
engine/aiortc objects (`?gc=1` collects garbage first, `?trim=1` also returns freed heap
to the OS with malloc_trim); with `--tracemalloc`, `?snapshot=baseline` takes a snapshot of
the traced allocations and `?snapshot=diff` lists what grew since. `--unprotected` is
`bench.hostile`'s baseline: the engine with its body and frame limits off.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
import tracemalloc
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.common import (
    NullMailer,
    QuietServer,
    bench_settings,
    die_with_parent,
    install_fast_audio_level,
    loopback_config,
    pin_to_cpu,
    rss_mib,
)

KINDS = ("offline", "instant", "echo", "echo-naive")
UVICORN_WS_MAX_SIZE = 16 * 1024 * 1024  # uvicorn's own default
TRACKED = frozenset(
    {
        "RTCPeerConnection",
        "RTCRtpSender",
        "RTCRtpReceiver",
        "RemoteStreamTrack",
        "Interview",
        "GuestPeer",
        "HostVoiceTrack",
        "OfflineHost",
        "InstantHost",
        "PocketSphinxTranscriber",
        "EchoTrack",
    }
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.server",
        description="A benchmark server (engine or echo) in its own process, on 127.0.0.1.",
    )
    parser.add_argument("--kind", choices=KINDS, required=True, help="what to serve")
    parser.add_argument("--data-dir", type=Path, help="where the engine keeps its SQLite file")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    parser.add_argument(
        "--minute-seconds",
        type=float,
        default=120.0,
        help="INTERVIEW_MINUTE_SECONDS (a 5-minute interview lasts 5 times this; default 120)",
    )
    parser.add_argument(
        "--answer",
        default=None,
        help="what the instant host says (default: a sentence of about 3 s)",
    )
    parser.add_argument(
        "--fast-audio-level",
        action="store_true",
        help="replace aiortc's pure-Python audio level with a numpy one (what-if)",
    )
    parser.add_argument(
        "--watchdog-ms",
        type=float,
        default=50.0,
        help="log all threads' stacks when the loop stalls this long (default 50 ms)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace allocations (slow), so /_bench/stats?snapshot=… can say what grew",
    )
    parser.add_argument(
        "--unprotected",
        action="store_true",
        help="baseline: bodies read whole before the size check, uvicorn's 16 MiB frames",
    )
    return parser.parse_args(argv)


def unprotect() -> dict[str, Any]:
    """Turn off the engine's limits on bodies and frames (issue 12), for a baseline that
    shows what they prevent; returns the uvicorn options that go with it.

    Bodies are read whole and then measured, as `api/bodies.py` did before it counted them
    as they stream in; uvicorn buffers each WebSocket frame up to its default 16 MiB
    instead of refusing one over `MAX_FRAME_BYTES` from its header.
    """
    import api.bodies

    async def read_whole_body(request: Request, limit: int = api.bodies.MAX_BODY_BYTES) -> bytes:
        body = await request.body()
        if len(body) > limit:
            raise api.bodies.too_large(limit)
        return body

    api.bodies.read_capped_body = read_whole_body
    return {"ws_max_size": UVICORN_WS_MAX_SIZE}


def build_app(args: argparse.Namespace) -> tuple[ASGIApp, Any]:
    """The app to serve and the engine's interview registry (None for the echo server)."""
    if args.kind.startswith("echo"):
        from bench.echo_server import create_echo_app

        return create_echo_app(compact=args.kind == "echo"), None
    from bench.hosts import SPOKEN_ANSWER, InstantHost, speech_answer
    from monumento.app import create_app

    if args.data_dir is None:
        raise SystemExit("--data-dir is needed for the engine")
    settings = bench_settings(args.data_dir, interview_minute_seconds=args.minute_seconds)
    factory = None
    if args.kind == "instant":
        factory = InstantHost.factory(speech_answer(args.answer or SPOKEN_ANSWER))
    app = create_app(settings, mailer=NullMailer(), bridge_factory=factory)
    return app, app.state.signaling.registry


class LoopWatchdog:
    """Notices when the event loop stalls, and logs every thread's stack when it does.

    A task ticks every 10 ms; a thread checks the tick every 10 ms. A stall longer than
    `threshold_s` is counted once, and the stacks of all threads are written to stderr
    (the server's log), which shows what held the loop (or the GIL) at that moment.
    """

    def __init__(self, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        self.stalls = 0
        self.worst_s = 0.0
        self._tick = time.perf_counter()

    async def tick(self) -> None:
        threading.Thread(target=self._watch, name="bench-watchdog", daemon=True).start()
        while True:
            self._tick = time.perf_counter()
            await asyncio.sleep(0.010)

    def _watch(self) -> None:
        reported = 0.0
        while True:
            time.sleep(0.010)
            tick = self._tick
            lag = time.perf_counter() - tick
            if lag > self.threshold_s and tick != reported:
                reported = tick
                self.stalls += 1
                self._dump(lag)
            if tick == reported:
                self.worst_s = max(self.worst_s, lag)

    def _dump(self, lag: float) -> None:
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        lines = [f"loop stalled for {lag * 1000:.0f} ms so far; threads:"]
        for ident, frame in sys._current_frames().items():
            if names.get(ident) == "bench-watchdog":
                continue
            # No source lines: linecache would keep every file it read (memory runs).
            stack = traceback.StackSummary.extract(
                traceback.walk_stack(frame), limit=10, lookup_lines=False
            )
            where = "".join(
                f'  File "{entry.filename}", line {entry.lineno}, in {entry.name}\n'
                for entry in reversed(stack)
            )
            lines.append(f"--- {names.get(ident, ident)}\n{where}")
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()


def with_stats(app: ASGIApp, registry: Any, watchdog: LoopWatchdog) -> ASGIApp:
    """`app`, plus `GET /_bench/stats`; the watchdog starts with the app's lifespan."""

    snapshots: dict[str, tracemalloc.Snapshot] = {}

    async def stats(request: Request) -> JSONResponse:
        if request.query_params.get("gc"):
            gc.collect()
        traced: list[dict[str, Any]] = []
        snapshot = request.query_params.get("snapshot")
        if snapshot and tracemalloc.is_tracing():
            taken = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            if snapshot == "baseline" or "baseline" not in snapshots:
                snapshots["baseline"] = taken
            else:
                stats_ = taken.compare_to(snapshots["baseline"], "traceback")
                traced.append(
                    {
                        "kib": sum(stat.size_diff for stat in stats_) / 1024,
                        "blocks": sum(stat.count_diff for stat in stats_),
                        "where": ["all traced Python allocations"],
                    }
                )
                for stat in stats_[:12]:
                    traced.append(
                        {
                            "kib": stat.size_diff / 1024,
                            "blocks": stat.count_diff,
                            "where": [str(frame) for frame in stat.traceback[-4:]],
                        }
                    )
        if request.query_params.get("trim"):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        objects: collections.Counter[str] = collections.Counter()
        if request.query_params.get("objects"):  # scans the heap: stalls the loop ~50 ms
            objects.update(
                name for obj in gc.get_objects() if (name := type(obj).__name__) in TRACKED
            )
        return JSONResponse(
            {
                "rss_mib": rss_mib(os.getpid()),
                "threads": threading.active_count(),
                "tasks": len(asyncio.all_tasks()),
                "interviews": 0 if registry is None else len(registry),
                "stalls": watchdog.stalls,
                "worst_stall_ms": watchdog.worst_s * 1000,
                "objects": dict(sorted(objects.items())),
                "traced_growth": traced,
            }
        )

    ticking: list[asyncio.Task[None]] = []

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and not ticking:
            ticking.append(asyncio.get_running_loop().create_task(watchdog.tick()))
        if scope["type"] == "http" and scope["path"] == "/_bench/stats":
            response = await stats(Request(scope, receive))
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return wrapped


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pin_to_cpu(args.cpu)
    die_with_parent()
    if args.tracemalloc:
        tracemalloc.start(8)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.fast_audio_level:
        install_fast_audio_level()
    options = unprotect() if args.unprotected else {}
    app, registry = build_app(args)

    def ready(port: int) -> None:
        sys.stdout.write(json.dumps({"event": "ready", "port": port, "pid": os.getpid()}) + "\n")
        sys.stdout.flush()

    watchdog = LoopWatchdog(args.watchdog_ms / 1000)
    server = QuietServer(
        loopback_config(with_stats(app, registry, watchdog), **options),
        on_started=ready,
        own_signals=False,
    )
    # Ctrl-C reaches the whole process group: the benchmark stops this server when it is
    # ready to (SIGTERM: a graceful shutdown), so that it never reads a vanished process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda _sig, _frame: setattr(server, "should_exit", True))
    server.run()


if __name__ == "__main__":
    main()
