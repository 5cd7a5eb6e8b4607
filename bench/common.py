"""What the benchmarks share: child processes, /proc readings, statistics, settings, speech.

Every benchmark keeps to 127.0.0.1. A child process is started with `Child.start`, talks
JSON lines over its stdin/stdout, logs to a file, dies with its parent (PR_SET_PDEATHSIG)
and is stopped by `Child.stop` (SIGTERM, then SIGKILL), or by `kill_children` at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import uvicorn
import uvloop

from auth.mail import Email
from config import Settings
from monumento.server import uvicorn_config

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
FRAME_S = 0.020
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


# Processes and CPUs


def pin_to_cpu(cpu: int | None) -> None:
    """Keep this process (and the threads it starts from now on) on one CPU."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent exits (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)


def cpu_pair() -> tuple[int, int]:
    """The CPU for the server and the one for the clients (the first two this process may use)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("these benchmarks need two CPUs: one for the server, one for the clients")
    return cpus[0], cpus[1]


def family(pid: int) -> list[int]:
    """A process and the ones it started, and they started, still running (the offline
    host's recognizer processes), from /proc/<pid>/task/<tid>/children."""
    found, parents = [pid], [pid]
    while parents:
        parent = parents.pop()
        with contextlib.suppress(OSError):  # it may end while we look
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as kids:
                    started = [int(child) for child in kids.read().split()]
                found += started
                parents += started
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) and of its family, running or
    ended (the children it has waited for), from /proc/<pid>/stat."""
    total = 0
    for member in family(pid):
        with contextlib.suppress(OSError):
            with open(f"/proc/{member}/stat", encoding="ascii") as stat:
                fields = stat.read().rpartition(")")[2].split()
            total += sum(int(field) for field in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICKS


def cpu_busy_seconds(cpu: int) -> tuple[float, float]:
    """Seconds one CPU has spent busy (anything but idle/iowait) and stolen, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if line.startswith(f"cpu{cpu} "):
                ticks = [int(value) for value in line.split()[1:]]
                busy = sum(ticks[:8]) - ticks[3] - ticks[4]
                return busy / CLOCK_TICKS, ticks[7] / CLOCK_TICKS
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def rss_mib(pid: int, *, with_family: bool = True) -> float:
    """Resident set size of a process (and its running family, unless `with_family` is
    false) in MiB, from VmRSS in /proc/<pid>/status."""
    total = 0
    for member in family(pid) if with_family else [pid]:
        with contextlib.suppress(OSError), open(f"/proc/{member}/status", encoding="ascii") as f:
            total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    return total / 1024


def thread_count(pid: int) -> int:
    """How many threads a process has."""
    return len(os.listdir(f"/proc/{pid}/task"))


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a benchmark's main coroutine on uvloop, the loop `monumento serve` runs on; ^C
    ends it with a message (its children are stopped on the way out)."""
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    except KeyboardInterrupt:
        raise SystemExit("interrupted: every process this benchmark started was stopped") from None


_CHILDREN: set[asyncio.subprocess.Process] = set()


def kill_children() -> None:
    """SIGKILL every child this process started that is still running (last resort)."""
    for process in list(_CHILDREN):
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    _CHILDREN.clear()


class ChildFailed(RuntimeError):
    """A child process exited or reported an error; the message ends with its log."""


class Child:
    """A child process speaking JSON lines: commands on stdin, events on stdout."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(cls, name: str, module: str, args: list[str], log_dir: Path) -> Child:
        """`python -m module args…` from the repository root, stderr into `log_dir/name.log`."""
        log_path = log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                module,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=REPO_ROOT,
                limit=2**24,
            )
        _CHILDREN.add(process)
        return cls(name, process, log_path)

    async def send(self, message: dict[str, Any]) -> None:
        """Write one command."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def expect(self, event: str, timeout_s: float) -> dict[str, Any]:
        """The next message of kind `event` (others are skipped); `ChildFailed` on error/exit."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    await self.process.wait()
                    raise ChildFailed(
                        f"{self.name} exited with {self.process.returncode}\n{self.log_tail()}"
                    )
                message: dict[str, Any] = json.loads(line)
                if message.get("event") == "error":
                    raise ChildFailed(f"{self.name}: {message.get('detail')}\n{self.log_tail()}")
                if message.get("event") == event:
                    return message

    async def request(
        self, command: dict[str, Any], event: str, timeout_s: float = 60.0
    ) -> dict[str, Any]:
        """Send a command and wait for its answer."""
        await self.send(command)
        return await self.expect(event, timeout_s)

    async def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, wait up to `timeout_s`, then SIGKILL."""
        process = self.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        _CHILDREN.discard(process)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the child's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"  {self.name}| {line}" for line in text[-lines:])


@contextlib.asynccontextmanager
async def children() -> AsyncIterator[list[Child]]:
    """A list to put started children in; all are stopped when the block ends, however."""
    started: list[Child] = []
    try:
        yield started
    finally:
        try:
            await asyncio.gather(*(child.stop() for child in reversed(started)))
        finally:
            kill_children()


# The server


def bench_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a benchmark server: SQLite in `data_dir`, loopback ICE, no limits, no keys."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": None,
        "redis_url": None,
        "jwt_secret": "bench-secret-that-is-long-enough-for-every-hmac-size-0123456789abcdef",
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 1024,
        "migrate_on_start": True,
        "rate_limit_per_minute": 1_000_000,
        "rtc_host_addresses": LOOPBACK,
        "rtc_udp_ports": None,
        "ice_servers": None,
        "gemini_api_key": None,
        "openai_api_key": None,
        "intro_sting_path": None,
        "log_json": False,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


class NullMailer:
    """Swallows verification emails (the console mailer would print to stdout)."""

    async def send(self, email: Email) -> None:
        del email


class QuietServer(uvicorn.Server):
    """uvicorn that can say when (and on which port) it listens.

    With `own_signals=False` it leaves SIGINT/SIGTERM to the benchmark around it.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        on_started: Callable[[int], None] | None = None,
        *,
        own_signals: bool = True,
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._own_signals = own_signals
        self.port = 0

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        if self._own_signals:
            with super().capture_signals():
                yield
        else:
            yield

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            self.port = int(self.servers[0].sockets[0].getsockname()[1])
            if self._on_started is not None:
                self._on_started(self.port)


def loopback_config(app: Any, **options: Any) -> uvicorn.Config:
    """As `monumento serve` configures uvicorn, on 127.0.0.1 and a free port; `options`
    override it (a baseline's)."""
    return uvicorn_config(app, host=LOOPBACK, port=0, **options)


@contextlib.asynccontextmanager
async def serve_here(app: Any) -> AsyncIterator[int]:
    """Run `app` under uvicorn in this event loop until the block ends; yields the port."""
    server = QuietServer(loopback_config(app), own_signals=False)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.02)
    try:
        yield server.port
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 20)


def fast_audio_level(frame: Any) -> int:
    """aiortc's `compute_audio_level_dbov` (RFC 6465, same result) in numpy, not a Python loop."""
    samples = np.frombuffer(frame.planes[0], dtype=np.int16).astype(np.float64)
    energy = float(np.dot(samples, samples))
    rms = math.sqrt(energy / (frame.samples * 32767 * 32767))
    if rms <= 0:
        return -127
    return round(min(max(20 * math.log10(rms), -127), 0))


def install_fast_audio_level() -> None:
    """Replace aiortc's pure-Python per-frame audio level with `fast_audio_level`."""
    import aiortc.rtp

    aiortc.rtp.compute_audio_level_dbov = fast_audio_level


# Statistics


@dataclass(frozen=True, slots=True)
class Summary:
    """Percentiles of a sample (in the unit it was given in)."""

    n: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary:
        data = np.asarray(list(values), dtype=np.float64)
        if data.size == 0:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        p50, p95, p99 = np.percentile(data, [50, 95, 99])
        return cls(
            int(data.size),
            float(p50),
            float(p95),
            float(p99),
            float(data.max()),
            float(data.mean()),
        )

    def row(self, digits: int = 1) -> str:
        """`p50 p95 p99 max` formatted for a table."""
        return " ".join(
            f"{value:8.{digits}f}" for value in (self.p50, self.p95, self.p99, self.max)
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "max": self.max,
            "mean": self.mean,
        }


def write_json(path: Path | None, data: Any) -> None:
    """Save raw results when asked to (`--json PATH`)."""
    if path is not None:
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def now_stamp() -> str:
    """The date and time a run started, for the report."""
    return time.strftime("%Y-%m-%d %H:%M %Z")


def code_state() -> str:
    """The commit measured, and whether the working tree differs from it."""
    import subprocess

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = len([line for line in git("status", "--porcelain").splitlines() if line])
    return f"commit {head}" + (f" + {changed} uncommitted changes" if changed else "")


def machine() -> str:
    """A one-line description of this machine."""
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="ascii") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as info:
        total_gib = int(info.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} x {model}, {total_gib:.0f} GiB, Python {sys.version.split()[0]}"
