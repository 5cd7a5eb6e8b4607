"""No token reaches a log line: uvicorn's access and WebSocket lines, and ours."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import httpx
import pytest

from monumento.app import create_app
from monumento.logs import log_handler
from monumento.redaction import redact
from tests.conftest import make_settings, register
from tests.live_server import serve
from tests.rtc.guest_client import GuestClient

CLIENT_LOGGERS = ("httpx", "httpcore", "websockets.client")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '127.0.0.1:5 - "WebSocket /api/v1/sessions/x/interview?token=eyJ.a-b_c.d" [accepted]',
            '127.0.0.1:5 - "WebSocket /api/v1/sessions/x/interview?token=[REDACTED]" [accepted]',
        ),
        (
            "GET /files/video?a=1&token=abc&b=2 HTTP/1.1",
            "GET /files/video?a=1&token=[REDACTED]&b=2 HTTP/1.1",
        ),
        ("?access_token=s3cr3t#frag", "?access_token=[REDACTED]#frag"),
        ("refreshToken=xyz refresh_token=xyz", "refreshToken=[REDACTED] refresh_token=[REDACTED]"),
        ("Authorization: Bearer eyJhbGciOi.J9.x", "Authorization: Bearer [REDACTED]"),
        ("subprotocols monumento, bearer.eyJhb.x-y", "subprotocols monumento, bearer.[REDACTED]"),
        ("no secrets in here: tokens=3 / stoken=4", "no secrets in here: tokens=3 / stoken=4"),
    ],
)
def test_redact_replaces_token_values(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_uvicorn_logs_no_token_of_a_socket_or_a_file_link(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path, database_url, rejoin_grace_seconds=0)
    async with serve(create_app(settings)) as server:  # access_log on, as in production
        async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
            token = (await register(http))["accessToken"]
            headers = {"Authorization": f"Bearer {token}"}
            body = {"vibe": "The Historian", "mode": "Auto-Pilot", "durationMinutes": 5}
            session_id = (await http.post("/sessions", json=body, headers=headers)).json()["id"]
            files = f"/sessions/{session_id}/recording/files/video?token={token}"
            assert (await http.get(files)).status_code == 404  # no recording yet
        sockets = f"{server.ws}/api/v1/sessions/{session_id}"
        for client in (
            GuestClient(f"{sockets}/interview?token={token}"),
            GuestClient(f"{sockets}/director?token={token}"),
            GuestClient(f"{sockets}/director", subprotocols=["monumento", f"bearer.{token}"]),
        ):
            try:
                await client.connect()
                await client.wait_for(lambda e: e["type"] in ("state", "error"))
            finally:
                await client.close()
    # Everything the server logged; the test's own clients (httpx, websockets) log here too.
    messages = [
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(CLIENT_LOGGERS)
    ]
    assert not [message for message in messages if token.split(".")[2] in message]
    logged = "\n".join(messages)
    assert "/interview?token=[REDACTED]" in logged  # uvicorn.error's WebSocket line
    assert "/director?token=[REDACTED]" in logged
    assert "/recording/files/video?token=[REDACTED]" in logged  # uvicorn.access


async def test_the_servers_handler_redacts_our_own_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    lines = io.StringIO()
    handler = log_handler(as_json=True)  # what `monumento serve` puts on the root logger
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(lines)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        link = "http://localhost:8080/api/v1/auth/verify-email?token=one-time-secret"
        logging.getLogger("tests.redaction").info("email: Open %s", link)
        logging.getLogger("tests.redaction").info(
            "fetched %s", "/files/video?token=eyJ.secret", extra={"url": link}
        )
    finally:
        root.removeHandler(handler)
    written = lines.getvalue()
    assert "secret" not in written
    assert written.count("token=[REDACTED]") == 3  # the link, the message, the extra field
