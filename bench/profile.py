"""Where a server's CPU goes under N guests: py-spy samples, summed by function.

    .venv/bin/pip install py-spy                      # once; the profiler is not a dependency
    .venv/bin/python -m bench.profile --kind instant --guests 10

Starts the server (`bench/server.py`) pinned to the first CPU and the guests
(`bench/guests.py`) on the second, as `bench.concurrency` does, lets the guests settle,
then samples the server with `py-spy record --format raw` for `--seconds`, and prints the
functions with the most samples, by own time and including callees, in % of the samples
(a sample is a thread seen running Python or native code, so the % are shares of the CPU
the server used; the server's CPU over the same span is printed too).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Child, children, cpu_pair, cpu_seconds, pin_to_cpu, run

KINDS = {"offline": "engine", "instant": "engine", "echo": "echo", "echo-naive": "echo"}


def py_spy() -> str:
    """The py-spy next to this interpreter, or on PATH."""
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def summarize(raw: Path, top: int) -> None:
    """Print the top functions by own samples and by inclusive samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")[1:]  # the first entry names the thread
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        print("no samples")
        return
    for title, counter in (("own time", own), ("including callees", inclusive)):
        print(f"\ntop {top} by {title} ({total} samples)")
        for frame, count in counter.most_common(top):
            print(f"  {100 * count / total:5.1f} %  {frame}")


async def amain(args: argparse.Namespace) -> None:
    server_cpu, client_cpu = cpu_pair()
    pin_to_cpu(client_cpu)
    spy = py_spy()
    with tempfile.TemporaryDirectory(prefix="monumento-bench-") as tmp_name:
        tmp = Path(tmp_name)
        async with children() as started:
            server_args = ["--kind", args.kind, "--cpu", str(server_cpu)]
            server_args += ["--data-dir", str(tmp / "data")]
            if args.fast_audio_level:
                server_args.append("--fast-audio-level")
            server = await Child.start("server", "bench.server", server_args, tmp)
            started.append(server)
            port = (await server.expect("ready", 120))["port"]
            guests = await Child.start(
                "guests",
                "bench.guests",
                [
                    *("--base-url", f"http://127.0.0.1:{port}", "--target", KINDS[args.kind]),
                    *("--cpu", str(client_cpu)),
                ],
                tmp,
            )
            started.append(guests)
            await guests.expect("ready", 120)
            await guests.request({"cmd": "grow", "n": args.guests}, "grown", 120 + 3 * args.guests)
            await asyncio.sleep(3)
            raw = tmp / "profile.txt"
            command = [spy, "record", "--pid", str(server.pid), "--duration", str(args.seconds)]
            command += ["--rate", "200", "--format", "raw", "--output", str(raw)]
            command.append("--native" if args.native else "--nonblocking")
            if args.gil:
                command.append("--gil")
            before, at = cpu_seconds(server.pid), time.perf_counter()
            spy_process = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            try:
                _, errors = await spy_process.communicate()
            finally:
                if spy_process.returncode is None:
                    spy_process.kill()
                    await spy_process.wait()
            used = cpu_seconds(server.pid) - before
            print(
                f"{args.kind} server, {args.guests} guests: "
                f"{100 * used / (time.perf_counter() - at):.1f} % of a core while sampled"
            )
            if spy_process.returncode != 0 or not raw.exists():
                raise SystemExit(f"py-spy failed: {errors.decode(errors='replace')[-500:]}")
            summarize(raw, args.top)
            await guests.request({"cmd": "quit"}, "bye", 60)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile",
        description="Sample a benchmark server under N guests with py-spy; print top functions.",
    )
    parser.add_argument("--kind", choices=tuple(KINDS), default="instant", help="the server")
    parser.add_argument("--guests", type=int, default=10, help="guests (default 10)")
    parser.add_argument("--seconds", type=int, default=15, help="sampling time (default 15)")
    parser.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    parser.add_argument(
        "--native",
        action="store_true",
        help="sample native (C) frames too; py-spy then pauses the server for each sample",
    )
    parser.add_argument(
        "--fast-audio-level", action="store_true", help="what-if: numpy audio level"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    run(amain(parse_args(argv)))


if __name__ == "__main__":
    main()
