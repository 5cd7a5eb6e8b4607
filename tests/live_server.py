"""The whole server on a real loopback port (uvicorn in the test's event loop)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from starlette.applications import Starlette

from monumento.drain import node_drain
from monumento.server import DrainingServer, uvicorn_config


@dataclass(frozen=True, slots=True)
class LiveServer:
    """Where the server listens (`app` is None when it runs in another process)."""

    app: Starlette | None
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[LiveServer]:
    """Run `app` under uvicorn until the block ends; its lifespan runs too."""
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, access_log=True))
    task = await _started(server)
    try:
        yield LiveServer(app, port)
    finally:
        server.should_exit = True
        await task


async def _started(server: uvicorn.Server) -> asyncio.Task[None]:
    """`server` serving in a task, once it listens."""
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.02)
    return task


class InProcessNode(DrainingServer):
    """`monumento serve`'s server, but the signal handlers stay pytest's.

    uvicorn raises the signals it caught again once it stops, which would end pytest: here
    the test "sends" a signal by calling `handle_exit(signal.SIGTERM, None)` itself.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True, slots=True)
class DrainingNode:
    """A served app that drains on `server.handle_exit`; `exited` ends when uvicorn does."""

    live: LiveServer
    server: InProcessNode
    exited: asyncio.Task[None]


@asynccontextmanager
async def serve_node(app: Starlette) -> AsyncIterator[DrainingNode]:
    """Run `app` as `monumento serve` does (its drain included) until it exits or the block ends."""
    port = free_port()
    config = uvicorn_config(app, host="127.0.0.1", port=port, access_log=True)
    server = InProcessNode(config, drain=node_drain(app))
    task = await _started(server)
    try:
        yield DrainingNode(LiveServer(app, port), server, task)
    finally:
        server.should_exit = True
        await task


def spawn_server(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """`monumento serve` in a child process, configured by `env` alone."""
    return subprocess.Popen(
        [sys.executable, "-m", "monumento.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


async def wait_ready(base: str, within_s: float = 30.0) -> None:
    """Until the server at `base` answers `/readyz` with 200."""
    async with httpx.AsyncClient() as http, asyncio.timeout(within_s):
        while True:
            try:
                if (await http.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


@asynccontextmanager
async def serve_process(env: dict[str, str]) -> AsyncIterator[LiveServer]:
    """`monumento serve` in a child process until the block ends (then SIGTERM)."""
    live = LiveServer(None, free_port())
    process = spawn_server(env, live.port)
    try:
        await wait_ready(live.http)
        yield live
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
