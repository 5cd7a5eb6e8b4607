"""JSON log lines name their node always, and their request and session where known."""

from __future__ import annotations

import contextvars
import json
import logging
import uuid

from correlation import bind_session, current_request_id
from monumento.logs import JsonFormatter


def line(formatter: JsonFormatter) -> dict[str, object]:
    record = logging.makeLogRecord({"name": "tests", "levelno": 20, "levelname": "INFO"})
    record.msg = "hello"
    entry: dict[str, object] = json.loads(formatter.format(record))
    return entry


def test_a_line_names_the_node_and_the_request_and_session_in_context() -> None:
    formatter = JsonFormatter("node-a")
    session_id = uuid.uuid4()

    def in_a_request() -> dict[str, object]:
        current_request_id.set("request-0001")
        bind_session(session_id)
        return line(formatter)

    entry = contextvars.copy_context().run(in_a_request)
    assert entry["node"] == "node-a"
    assert entry["request_id"] == "request-0001"
    assert entry["session"] == str(session_id)

    outside = line(formatter)
    assert outside["node"] == "node-a"
    assert "request_id" not in outside and "session" not in outside
