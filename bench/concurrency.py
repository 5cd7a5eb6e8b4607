"""How many guests one core holds: the engine against a bare aiortc echo server.

    .venv/bin/python -m bench.concurrency            # default sweep, at most about 6 minutes
    .venv/bin/python -m bench.concurrency --quick    # about 1 minute

For each server (the engine with the offline host, the engine with `InstantHost`, and the
echo server of `bench/echo_server.py`), a fresh server process pinned to the first CPU and
a guests process (`bench/guests.py`) pinned to the second are started. Guests are added step
by step (N = 1, 5, 10, …); each guest loops real eSpeak NG speech (4-5 s) with 4.5 s
silences; `InstantHost` answers each turn with 3.3 s of eSpeak NG speech.
After each step settles, a window of `--window` seconds is measured:

- server CPU from /proc/<pid>/stat (utime + stime, all threads, and the same of the server's
  child processes: the offline host's recognizers) over the window, as % of one core per
  guest and as ms of CPU per guest-second;
- server RSS (VmRSS, its child processes included) against the idle server's, per guest;
- at the guests, the inter-arrival times of the RTP packets of the server's audio: jitter is
  |interval - 20 ms| (p99 reported), a dropout is a gap over 60 ms; "missing" counts frames
  the server never sent (aiortc numbers packets as sent, so those are not "lost").

A step "holds" with jitter p99 <= 40 ms, no dropout, and at most 0.5 % of the frames
missing (a saturated server falls behind: the engine's track skips frames, while the
echo's queue up, unbounded, in aiortc). A sweep stops after a step that
fails with the server's core saturated (>= 90 %), or after two failed steps in a row, unless
`--keep-going`. This machine may be shared: the CPU other processes took on the server's
core during the window is reported ("others%"), and a failed step they disturbed (> 3 %) is
measured again, up to `--retries` times. The report gives
the largest N each server holds on one core and the engine/echo CPU-per-guest ratio, per
step and from the slope of CPU against N (fixed costs cancel out); the target is <= 1.5x.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import (
    Child,
    children,
    code_state,
    cpu_busy_seconds,
    cpu_pair,
    cpu_seconds,
    machine,
    now_stamp,
    pin_to_cpu,
    rss_mib,
    run,
    write_json,
)

SERVERS = {"offline": "engine", "instant": "engine", "echo": "echo", "echo-naive": "echo"}
LABELS = {
    "offline": "engine + offline host",
    "instant": "engine + InstantHost",
    "echo": "aiortc echo",
    "echo-naive": "aiortc echo (naive)",
}
DEFAULT_STEPS = "1,5,10,15,20,25,30"
QUICK_STEPS = "1,5"
JITTER_P99_MAX_MS = 40.0
# A server that cannot keep up falls behind: the engine's track skips frames, the echo's
# frames queue up. Either way frames are missing at the guests.
MISSING_MAX = 0.005
SATURATED_PCT = 90.0
RATIO_TARGET = 1.5
# Other processes busy on the server's CPU beyond this (% of the window): a failed step is
# measured again (this machine may be shared).
DISTURBED_PCT = 3.0


@dataclass
class Step:
    """One step of a sweep: N guests, measured over one window."""

    n: int
    window_s: float
    cpu_pct: float
    rss_mib: float
    jitter_p50_ms: float
    jitter_p99_ms: float
    jitter_max_ms: float
    dropouts: int
    guests_with_dropouts: int
    max_gap_ms: float
    missing: int
    lost: int
    client_cpu_pct: float
    join_s: float
    stalls: int
    worst_stall_ms: float
    other_pct: float
    attempts: int

    @property
    def cpu_pct_per_guest(self) -> float:
        return self.cpu_pct / self.n

    @property
    def cpu_ms_per_guest_s(self) -> float:
        return self.cpu_pct * 10 / self.n

    @property
    def missing_share(self) -> float:
        return self.missing / (self.n * self.window_s / 0.020)

    @property
    def held(self) -> bool:
        return (
            self.jitter_p99_ms <= JITTER_P99_MAX_MS
            and self.dropouts == 0
            and self.missing_share <= MISSING_MAX
        )


@dataclass
class Sweep:
    """All steps of one server."""

    server: str
    idle_cpu_pct: float = 0.0
    idle_rss_mib: float = 0.0
    steps: list[Step] = field(default_factory=list)

    def rss_per_guest(self, step: Step) -> float:
        return (step.rss_mib - self.idle_rss_mib) / step.n

    @property
    def largest_held(self) -> int:
        """The largest N such that it and every smaller step held (0: not even the first)."""
        held = 0
        for step in self.steps:
            if not step.held:
                break
            held = step.n
        return held

    def slope_pct(self) -> float | None:
        """Marginal % of a core per guest: least squares over unsaturated steps."""
        points = [(s.n, s.cpu_pct) for s in self.steps if s.cpu_pct < SATURATED_PCT]
        if len({n for n, _ in points}) < 2:
            return None
        ns, cpus = zip(*points, strict=True)
        return float(np.polyfit(ns, cpus, 1)[0])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.concurrency",
        description=(
            "Guests per core: server CPU, RSS, outbound jitter and dropouts for N guests, "
            "the engine against a bare aiortc echo server."
        ),
    )
    parser.add_argument(
        "--servers",
        default="offline,instant,echo",
        help=(
            "comma-separated: offline, instant, echo, echo-naive (default: offline,instant,echo)"
        ),
    )
    parser.add_argument("--steps", help=f"guest counts (default {DEFAULT_STEPS})")
    parser.add_argument("--window", type=float, help="seconds measured per step (default 15)")
    parser.add_argument("--settle", type=float, help="seconds after joins before measuring")
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_STEPS}, short windows")
    parser.add_argument(
        "--keep-going", action="store_true", help="do not stop a sweep at saturation"
    )
    parser.add_argument(
        "--fast-audio-level",
        action="store_true",
        help="what-if: servers use a numpy audio level instead of aiortc's Python loop",
    )
    parser.add_argument("--wav", help="guests speak this audio file (looped with silences)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure a failed step again when other processes used the server's CPU",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="list when dropouts and client stalls happened"
    )
    parser.add_argument(
        "--logs", type=Path, help="copy the server and guest logs (stall stacks) here"
    )
    args = parser.parse_args(argv)
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = set(args.servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    args.steps = sorted({int(n) for n in steps.split(",")})
    if args.steps[0] < 1:
        parser.error("guest counts must be positive")
    args.window = args.window or (6.0 if args.quick else 15.0)
    args.settle = args.settle if args.settle is not None else (2.0 if args.quick else 3.0)
    return args


async def sweep(name: str, args: argparse.Namespace, tmp: Path) -> Sweep:
    """Start the server and the guests, step through N, stop both."""
    server_cpu, client_cpu = args.cpus
    result = Sweep(name)
    async with children() as started:
        server_args = ["--kind", name, "--cpu", str(server_cpu), "--data-dir", str(tmp / name)]
        if args.fast_audio_level:
            server_args.append("--fast-audio-level")
        server = await Child.start(f"server-{name}", "bench.server", server_args, tmp)
        started.append(server)
        port = (await server.expect("ready", 120))["port"]
        guest_args = [
            *("--base-url", f"http://127.0.0.1:{port}", "--target", SERVERS[name]),
            *("--cpu", str(client_cpu)),
        ]
        if args.wav:
            guest_args += ["--wav", args.wav]
        guests = await Child.start(f"guests-{name}", "bench.guests", guest_args, tmp)
        started.append(guests)
        await guests.expect("ready", 120)
        before, at = cpu_seconds(server.pid), time.perf_counter()
        await asyncio.sleep(2.0)
        result.idle_cpu_pct = 100 * (cpu_seconds(server.pid) - before) / (time.perf_counter() - at)
        result.idle_rss_mib = rss_mib(server.pid)
        print(
            f"\n{LABELS[name]}: idle {result.idle_cpu_pct:.1f} % CPU, {result.idle_rss_mib:.0f} MiB"
        )
        print(header())
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        try:
            await steps(result, args, server, guests, http)
        finally:
            await http.aclose()
            if args.logs is not None:
                args.logs.mkdir(parents=True, exist_ok=True)
                for child in (server, guests):
                    shutil.copy(child.log_path, args.logs / child.log_path.name)
        await guests.request({"cmd": "quit"}, "bye", 60)
    return result


async def steps(
    result: Sweep, args: argparse.Namespace, server: Child, guests: Child, http: httpx.AsyncClient
) -> None:
    """Grow to each N, settle, measure a window; stop at saturation."""
    name = result.server
    server_cpu = args.cpus[0]
    for n in args.steps:
        grown = await guests.request({"cmd": "grow", "n": n}, "grown", 120 + 3 * n)
        await asyncio.sleep(args.settle)
        for attempt in range(1, args.retries + 2):
            stalls_before = (await http.get("/_bench/stats")).json()["stalls"]
            await guests.request({"cmd": "mark"}, "marked")
            before, at = cpu_seconds(server.pid), time.perf_counter()
            busy_before, _ = cpu_busy_seconds(server_cpu)
            await asyncio.sleep(args.window)
            used, wall = cpu_seconds(server.pid) - before, time.perf_counter() - at
            busy = cpu_busy_seconds(server_cpu)[0] - busy_before
            report = await guests.request({"cmd": "report"}, "report")
            stats = (await http.get("/_bench/stats")).json()
            report["stalls"] = stats["stalls"] - stalls_before
            report["worst_stall_ms"] = stats["worst_stall_ms"]
            report["other_pct"] = max(0.0, 100 * (busy - used) / wall)
            report["attempts"] = attempt
            step = make_step(n, 100 * used / wall, rss_mib(server.pid), report, grown)
            disturbed = step.other_pct > DISTURBED_PCT
            if step.held or not disturbed or attempt > args.retries:
                break
            print(
                f"  (N={n}: other processes used {step.other_pct:.0f} % of the server's CPU "
                "and the step failed: measuring again)"
            )
        result.steps.append(step)
        print(row(result, step), flush=True)
        if args.verbose and (report["dropout_times_s"] or report["client_stalls_s"]):
            print(f"      dropouts at (s into the window): {report['dropout_times_s']}")
            print(f"      guests' own loop late (s, ms): {report['client_stalls_s']}")
        if args.keep_going or step.held:
            continue
        if step.cpu_pct >= SATURATED_PCT:
            print(f"  (core saturated and the step failed: {LABELS[name]} stops here)")
            break
        if len(result.steps) >= 2 and not result.steps[-2].held:
            print(f"  (two steps in a row failed: {LABELS[name]} stops here)")
            break


def make_step(
    n: int, cpu_pct: float, rss: float, report: dict[str, Any], grown: dict[str, Any]
) -> Step:
    jitter = report["jitter_ms"]
    return Step(
        n=n,
        window_s=report["window_s"],
        cpu_pct=cpu_pct,
        rss_mib=rss,
        jitter_p50_ms=jitter["p50"],
        jitter_p99_ms=jitter["p99"],
        jitter_max_ms=jitter["max"],
        dropouts=report["dropouts"],
        guests_with_dropouts=report["guests_with_dropouts"],
        max_gap_ms=report["max_gap_ms"],
        missing=max(0, report["expected"] - report["packets"]),
        lost=report["lost"],
        client_cpu_pct=report["client_cpu_pct"],
        join_s=grown["seconds"],
        stalls=report["stalls"],
        worst_stall_ms=report["worst_stall_ms"],
        other_pct=report["other_pct"],
        attempts=report["attempts"],
    )


def header() -> str:
    return (
        "   N  CPU%  %/guest  ms/guest-s  RSS MiB  MiB/guest  jit p50  jit p99  jit max"
        "  dropouts  max gap  missing  stalls  others%  client%  holds"
    )


def row(result: Sweep, step: Step) -> str:
    return (
        f"{step.n:4d} {step.cpu_pct:5.1f} {step.cpu_pct_per_guest:8.2f} "
        f"{step.cpu_ms_per_guest_s:11.2f} {step.rss_mib:8.1f} {result.rss_per_guest(step):10.2f} "
        f"{step.jitter_p50_ms:8.2f} {step.jitter_p99_ms:8.2f} {step.jitter_max_ms:8.1f} "
        f"{step.dropouts:5d}/{step.guests_with_dropouts:<3d} {step.max_gap_ms:8.1f} "
        f"{step.missing:8d} {step.stalls:7d} {step.other_pct:8.1f} {step.client_cpu_pct:8.1f}  "
        f"{'yes' if step.held else 'NO'}"
    )


def summarize(sweeps: list[Sweep]) -> None:
    print("\nSummary (holds: jitter p99 <= 40 ms, no dropout, <= 0.5 % frames missing)")
    for result in sweeps:
        slope = result.slope_pct()
        marginal = "n/a" if slope is None else f"{slope:.2f} % of a core per extra guest"
        print(f"  {LABELS[result.server]:24s} holds N = {result.largest_held:3d}   ({marginal})")
    engines = [s for s in sweeps if SERVERS[s.server] == "engine"]
    for echo in (s for s in sweeps if SERVERS[s.server] == "echo"):
        echo_steps = {s.n: s for s in echo.steps if s.cpu_pct < SATURATED_PCT}
        for engine in engines:
            ratios = [
                f"N={s.n}: {s.cpu_ms_per_guest_s / echo_steps[s.n].cpu_ms_per_guest_s:.2f}x"
                for s in engine.steps
                if s.n in echo_steps and s.cpu_pct < SATURATED_PCT
            ]
            print(
                f"  CPU per guest, {LABELS[engine.server]} / {LABELS[echo.server]}: "
                f"{', '.join(ratios) or 'n/a'}"
            )
            slope_engine, slope_echo = engine.slope_pct(), echo.slope_pct()
            if slope_engine is not None and slope_echo:
                ratio = slope_engine / slope_echo
                verdict = "met" if ratio <= RATIO_TARGET else "NOT met"
                print(
                    f"    per extra guest (slope): {ratio:.2f}x - target <= {RATIO_TARGET}x: "
                    f"{verdict}"
                )


async def amain(args: argparse.Namespace) -> list[Sweep]:
    args.cpus = server_cpu, client_cpu = cpu_pair()
    pin_to_cpu(client_cpu)
    print(f"bench.concurrency - {now_stamp()} - {machine()} - {code_state()}")
    print(
        f"server on CPU {server_cpu}, guests on CPU {client_cpu}; steps {args.steps}, "
        f"window {args.window:g} s, settle {args.settle:g} s"
        + (", numpy audio level" if args.fast_audio_level else "")
    )
    sweeps: list[Sweep] = []
    with tempfile.TemporaryDirectory(prefix="monumento-bench-") as tmp:
        for name in args.servers:
            sweeps.append(await sweep(name, args, Path(tmp)))
    summarize(sweeps)
    return sweeps


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    sweeps = run(amain(args))
    write_json(
        args.json,
        [
            {
                **asdict(s),
                "largest_held": s.largest_held,
                "slope_pct_per_guest": s.slope_pct(),
            }
            for s in sweeps
        ],
    )
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
