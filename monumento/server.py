"""How uvicorn runs the app: the one place its protocol limits and log redaction are set,
for `monumento serve`, the tests' live server and the benchmarks alike, and the server
class that drains a node on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import uvicorn

from monumento.redaction import redact_uvicorn_logs
from signaling.protocol import MAX_FRAME_BYTES

logger = logging.getLogger(__name__)


def uvicorn_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn for `app` on `host:port`; `options` add to or override the defaults.

    `ws_max_size` makes the WebSocket protocol layer refuse a frame over `MAX_FRAME_BYTES`
    from its header (close 1009) before buffering it: without it uvicorn buffers frames of
    up to 16 MiB before any handler could look at their size. uvicorn's loggers get the
    token redactor: its request lines carry query strings, `?token=` included.
    """
    redact_uvicorn_logs()
    defaults: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "ws_max_size": MAX_FRAME_BYTES,
    }
    return uvicorn.Config(app, host=host, port=port, **(defaults | options))


class DrainingServer(uvicorn.Server):
    """uvicorn whose first SIGTERM or SIGINT drains the node before its usual shutdown.

    What it relies on in uvicorn's `Server` (0.29 and later, pinned in pyproject.toml):
    signals arrive through `handle_exit(sig, frame)`, called by a `signal.signal` handler
    between two bytecodes of the loop's thread (so the drain is started with
    `call_soon_threadsafe`, never run inside the handler); `main_loop` reads `should_exit`
    every 0.1 s, then `shutdown` stops listening, closes every connection (WebSockets with
    1012) and runs the lifespan's shutdown, which ends the interviews still live; the
    signals seen are raised again once `serve` returns, so the process ends as signalled.
    Until then the node keeps listening: live guests rejoin it and directors reach it.
    A second signal exits at once, as plain uvicorn does on the first.
    """

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_requested = False
        self._draining: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await super().serve(sockets)
        finally:
            if self._draining is not None:  # still waiting when a second signal cut it short
                self._draining.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._draining

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or not self.started or self._drain_requested:
            super().handle_exit(sig, frame)  # not serving yet, or the second signal
            return
        self._drain_requested = True
        self._loop.call_soon_threadsafe(self._start_drain, sig)

    def _start_drain(self, sig: int) -> None:
        self._draining = asyncio.create_task(self._drain_then_exit(sig), name="drain")

    async def _drain_then_exit(self, sig: int) -> None:
        try:
            await self._drain()
        except Exception:
            logger.exception("the drain failed: shutting down at once")
        if not self.should_exit:
            super().handle_exit(sig, None)
