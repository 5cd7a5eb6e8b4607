"""Does the server give memory back? RSS after many interviews against the warm baseline.

    .venv/bin/python -m bench.memory                       # 200 joins, about 1-2 minutes
    .venv/bin/python -m bench.memory --joins 40 --talk-s 8 # guests talk, so the host works

The server (`bench/server.py`, the engine with the offline host by default) runs in its own
process pinned to the first CPU; the guests (`bench/guests.py`) in another, on the second.
Each interview is one guest's whole visit: create a session, join the interview socket,
offer, wait for the `live` state and the host's first audio, (talk `--talk-s`,) send `end`,
wait for the server to close the socket, close the peer; `--parallel` run at a time.

After `--warmup` interviews (imports, caches, pools and the allocator's arenas settle; the
first few last 12 s, so that the host has transcribed and spoken too) the baseline is
taken: garbage collected, no interview left running, VmRSS of the server. Then
`--joins` more interviews, with a reading after every `--every`. The report gives MiB
before and after, the growth per interview (the slope over the readings), the RSS after
malloc_trim (memory freed but kept by glibc) and the engine/aiortc objects alive beyond
those of the baseline (process-wide ones, like a shared transcriber, are there already).
The target is "back to baseline": within `--tolerance-mib` (default 5 MiB) of it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import (
    Child,
    children,
    code_state,
    cpu_pair,
    machine,
    now_stamp,
    pin_to_cpu,
    run,
    write_json,
)

HOSTS = ("offline", "instant")
WARMUP_TALK_S = 12.0


async def server_stats(
    http: httpx.AsyncClient, *, trim: bool = False, snapshot: str | None = None
) -> dict[str, Any]:
    """The server's `/_bench/stats`, after waiting for its interviews to finish."""
    async with asyncio.timeout(60):
        while True:
            stats: dict[str, Any] = (await http.get("/_bench/stats")).json()
            if stats["interviews"] == 0:
                break
            await asyncio.sleep(0.25)
    await asyncio.sleep(1.0)  # closing peers finish their last callbacks
    params = {"gc": "1", "objects": "1"}
    if trim:
        params["trim"] = "1"
    if snapshot:
        params["snapshot"] = snapshot
    result: dict[str, Any] = (await http.get("/_bench/stats", params=params)).json()
    return result


def line(done: int, stats: dict[str, Any], baseline: float) -> str:
    objects = ", ".join(f"{name} {count}" for name, count in stats["objects"].items()) or "none"
    return (
        f"{done:6d} {stats['rss_mib']:9.1f} {stats['rss_mib'] - baseline:+8.1f} "
        f"{stats['threads']:8d} {stats['tasks']:6d}   {objects}"
    )


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    server_cpu, client_cpu = cpu_pair()
    pin_to_cpu(client_cpu)
    print(f"bench.memory - {now_stamp()} - {machine()} - {code_state()}")
    print(
        f"engine + {args.host} host on CPU {server_cpu}, guests on CPU {client_cpu}; "
        f"{args.warmup} warm-up + {args.joins} interviews, {args.parallel} at a time, "
        f"talking {args.talk_s:g} s each"
    )
    with tempfile.TemporaryDirectory(prefix="monumento-bench-") as tmp_name:
        tmp = Path(tmp_name)
        async with children() as started:
            server = await Child.start(
                "server",
                "bench.server",
                [
                    *("--kind", args.host, "--cpu", str(server_cpu)),
                    *("--data-dir", str(tmp / "data")),
                    *(["--tracemalloc"] if args.tracemalloc else []),
                ],
                tmp,
            )
            started.append(server)
            port = (await server.expect("ready", 120))["port"]
            base_url = f"http://127.0.0.1:{port}"
            guests = await Child.start(
                "guests",
                "bench.guests",
                ["--base-url", base_url, "--target", "engine", "--cpu", str(client_cpu)],
                tmp,
            )
            started.append(guests)
            await guests.expect("ready", 120)
            async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
                fresh = await server_stats(http)

                async def churn(count: int, talk_s: float = args.talk_s) -> dict[str, Any]:
                    command = {
                        "cmd": "churn",
                        "count": count,
                        "parallel": args.parallel,
                        "hold_s": talk_s,
                    }
                    timeout = 120 + count * (talk_s + 5)
                    result = await guests.request(command, "churned", timeout)
                    if result["failed"]:
                        print(f"  {result['failed']} interviews failed: {result['failures']}")
                    return result

                began = time.perf_counter()
                # Long enough for a turn each, so transcription and host speech have run too.
                await churn(min(args.parallel, args.warmup), talk_s=WARMUP_TALK_S)
                await churn(max(0, args.warmup - args.parallel))
                baseline = await server_stats(http, snapshot="baseline")
                print(
                    f"\nfresh server {fresh['rss_mib']:.1f} MiB; after the warm-up "
                    f"{baseline['rss_mib']:.1f} MiB (the baseline)"
                )
                print("  done   RSS MiB  vs base  threads  tasks   live objects")
                print(line(0, baseline, baseline["rss_mib"]))
                readings = [(0, baseline["rss_mib"])]
                failed = 0
                done = 0
                while done < args.joins:
                    count = min(args.every, args.joins - done)
                    failed += (await churn(count))["failed"]
                    done += count
                    stats = await server_stats(http)
                    readings.append((done, stats["rss_mib"]))
                    print(line(done, stats, baseline["rss_mib"]), flush=True)
                trimmed = await server_stats(http, trim=True, snapshot="diff")
                wall = time.perf_counter() - began
            await guests.request({"cmd": "quit"}, "bye", 60)
    return report(args, fresh, baseline, stats, trimmed, readings, failed, wall)


def report(
    args: argparse.Namespace,
    fresh: dict[str, Any],
    baseline: dict[str, Any],
    after: dict[str, Any],
    trimmed: dict[str, Any],
    readings: list[tuple[int, float]],
    failed: int,
    wall: float,
) -> dict[str, Any]:
    joins, rss = zip(*readings, strict=True)
    slope_kib = float(np.polyfit(joins, rss, 1)[0]) * 1024 if len(readings) > 1 else 0.0
    growth = after["rss_mib"] - baseline["rss_mib"]
    # Process-wide singletons (a shared transcriber, …) were there at the baseline already.
    leftovers = {
        name: count - baseline["objects"].get(name, 0)
        for name, count in after["objects"].items()
        if count > baseline["objects"].get(name, 0)
    }
    verdict = "met" if abs(growth) <= args.tolerance_mib and not leftovers else "NOT met"
    print(f"\n{args.joins} interviews in {wall:.0f} s ({failed} failed)")
    print(
        f"RSS baseline {baseline['rss_mib']:.1f} MiB -> after {after['rss_mib']:.1f} MiB "
        f"({growth:+.1f} MiB, {growth * 1024 / args.joins:+.1f} KiB per interview; "
        f"slope over the readings {slope_kib:+.1f} KiB per interview)"
    )
    if len(readings) > 2:
        (j0, r0), (j1, r1) = readings[-2], readings[-1]
        print(
            f"growth over the last {j1 - j0} interviews: {r1 - r0:+.1f} MiB "
            f"({(r1 - r0) * 1024 / (j1 - j0):+.1f} KiB per interview)"
        )
    print(
        f"after malloc_trim: {trimmed['rss_mib']:.1f} MiB "
        f"({trimmed['rss_mib'] - baseline['rss_mib']:+.1f} MiB vs baseline)"
    )
    print(
        f"engine/aiortc objects alive after: {leftovers or 'none'}; threads "
        f"{baseline['threads']} -> {after['threads']}, tasks {baseline['tasks']} -> "
        f"{after['tasks']}"
    )
    if trimmed.get("traced_growth"):
        print("\nPython allocations that grew most since the baseline (tracemalloc):")
        for stat in trimmed["traced_growth"]:
            print(f"  {stat['kib']:+9.1f} KiB {stat['blocks']:+7d} blocks  {stat['where'][-1]}")
            for frame in reversed(stat["where"][:-1]):
                print(f"  {'':28s}  from {frame}")
    print(f"back to baseline (within {args.tolerance_mib:g} MiB, no objects left): {verdict}")
    return {
        "joins": args.joins,
        "failed": failed,
        "fresh": fresh,
        "baseline": baseline,
        "after": after,
        "after_trim": trimmed,
        "readings": readings,
        "slope_kib_per_join": slope_kib,
        "verdict": verdict,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory",
        description="Server RSS after many interviews (join, go live, end) vs its baseline.",
    )
    parser.add_argument("--joins", type=int, default=200, help="interviews (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="interviews before the baseline")
    parser.add_argument("--every", type=int, default=50, help="interviews between readings")
    parser.add_argument("--parallel", type=int, default=4, help="interviews at a time")
    parser.add_argument("--talk-s", type=float, default=0.0, help="guest talks this long (s)")
    parser.add_argument("--host", choices=HOSTS, default="offline", help="the engine's host")
    parser.add_argument("--tolerance-mib", type=float, default=5.0, help="'back to baseline'")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace the server's allocations (slower) and list what grew",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if min(args.joins, args.every, args.parallel) < 1 or args.warmup < 0:
        parser.error("counts must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    write_json(args.json, run(amain(args)))


if __name__ == "__main__":
    main()
