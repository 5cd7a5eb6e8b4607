"""How uvicorn runs the app: the one place its protocol limits and log redaction are set,
for `monumento serve`, the tests' live server and the benchmarks alike."""

from __future__ import annotations

from typing import Any

import uvicorn

from monumento.redaction import redact_uvicorn_logs
from signaling.protocol import MAX_FRAME_BYTES


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
