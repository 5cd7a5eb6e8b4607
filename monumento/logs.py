"""Logging set-up: one JSON object per line, each naming its node, and its request and session
when there are some."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from correlation import current_ids
from monumento.redaction import TokenRedactor

# Attributes every LogRecord has; anything else was passed in `extra` and is logged as a field.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "node", "request_id", "session", ...extra}`
    per line (`request_id` and `session` where the record was made in their context)."""

    def __init__(self, node: str | None = None) -> None:
        super().__init__()
        self._node = node

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._node is not None:
            entry["node"] = self._node
        entry.update(current_ids())
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_handler(*, as_json: bool, node: str | None = None) -> logging.Handler:
    """The handler every record goes through: stderr, one format, tokens redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TokenRedactor())
    handler.setFormatter(
        JsonFormatter(node)
        if as_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    return handler


def configure_logging(level: str, *, as_json: bool, node: str | None = None) -> None:
    """Send every logger (ours and uvicorn's) through `log_handler`; `node` names this
    process on every line."""
    root = logging.getLogger()
    root.handlers[:] = [log_handler(as_json=as_json, node=node)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
