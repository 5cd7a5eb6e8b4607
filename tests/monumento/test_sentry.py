"""Error reports reach Sentry's envelope endpoint (a local fake) tagged and with no tokens."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.session_routes import path_uuid
from monumento.app import create_app
from monumento.sentry import init_sentry
from tests.conftest import make_settings
from tests.fakes.sentry import FakeSentry

NODE = "node-under-test"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.c2lnbmF0dXJl"
logger = logging.getLogger("tests.sentry")


@pytest.fixture
def sentry() -> Iterator[FakeSentry]:
    with FakeSentry().running() as fake:
        yield fake


@pytest.fixture
async def reporting_app(tmp_path: Path, sentry: FakeSentry) -> AsyncIterator[Starlette]:
    """The server reporting to the fake, with two test-only routes that fail."""
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'sentry.db'}",
        migrate_on_start=True,
        sentry_dsn=sentry.dsn,
        sentry_environment="test",
    )
    assert init_sentry(settings, NODE)
    assert not sentry_sdk.get_client().should_send_default_pii()

    async def crash(request: Request) -> JSONResponse:
        path_uuid(request, "session_id", "Session")  # as every session route names its session
        raise RuntimeError(f"the test route failed on {request.url}")

    async def log_error(request: Request) -> JSONResponse:
        session_id = path_uuid(request, "session_id", "Session")
        logger.warning("a breadcrumb: GET /y?access_token=%s", TOKEN)
        logger.error("could not finish %s: GET /x?token=%s", session_id, TOKEN)
        return JSONResponse({})

    app = create_app(settings)
    app.router.routes[:0] = [
        Route("/test/crash/{session_id}", crash),
        Route("/test/log/{session_id}", log_error),
    ]
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)
        sentry_sdk.get_global_scope().remove_tag("node_id")


def tagged(request_id: str) -> Any:
    return lambda event: event.get("tags", {}).get("request_id") == request_id


async def reported(sentry: FakeSentry, request_id: str) -> dict[str, Any]:
    await asyncio.to_thread(sentry_sdk.flush)
    return await asyncio.to_thread(sentry.wait_for, tagged(request_id))


async def test_an_unhandled_error_is_reported_with_its_ids_and_no_token(
    reporting_app: Starlette, sentry: FakeSentry
) -> None:
    session_id, request_id = str(uuid.uuid4()), "crash-request-0001"
    transport = httpx.ASGITransport(reporting_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get(
            f"/test/crash/{session_id}?token={TOKEN}",
            headers={"X-Request-ID": request_id, "Authorization": f"Bearer {TOKEN}"},
        )
    assert response.status_code == 500

    event = await reported(sentry, request_id)
    assert event["tags"]["session_id"] == session_id
    assert event["tags"]["node_id"] == NODE
    assert event["environment"] == "test"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert "[REDACTED]" in event["request"]["query_string"]
    assert TOKEN not in json.dumps(event)
    assert sentry.refusals == []


async def test_a_logged_error_is_reported_with_its_ids_and_no_token(
    reporting_app: Starlette, sentry: FakeSentry
) -> None:
    session_id, request_id = str(uuid.uuid4()), "logged-request-0001"
    transport = httpx.ASGITransport(reporting_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get(f"/test/log/{session_id}", headers={"X-Request-ID": request_id})
    assert response.status_code == 200

    event = await reported(sentry, request_id)
    assert event["level"] == "error"
    assert event["tags"]["session_id"] == session_id
    assert event["tags"]["node_id"] == NODE
    assert session_id in event["logentry"]["formatted"]
    crumbs = [crumb.get("message", "") for crumb in event["breadcrumbs"]["values"]]
    assert "a breadcrumb: GET /y?access_token=[REDACTED]" in crumbs
    assert TOKEN not in json.dumps(event)


def post(fake: FakeSentry, path: str, body: bytes, **headers: str) -> int:
    response = httpx.post(f"http://127.0.0.1:{fake.port}{path}", content=body, headers=headers)
    return response.status_code


def test_the_fake_refuses_what_sentry_refuses(sentry: FakeSentry) -> None:
    event = json.dumps({"event_id": uuid.uuid4().hex, "message": "hello"}).encode()
    envelope = b'{"event_id":"0"}\n' + b'{"type":"event","length":%d}\n' % len(event) + event
    auth = f"Sentry sentry_key={sentry.key}, sentry_version=7"
    path = f"/api/{sentry.project_id}/envelope/"

    assert post(sentry, path, envelope) == 401
    assert post(sentry, path, envelope, **{"X-Sentry-Auth": "Sentry sentry_key=nope"}) == 403
    assert post(sentry, "/api/999/envelope/", envelope, **{"X-Sentry-Auth": auth}) == 403
    assert post(sentry, path, b"not json\n", **{"X-Sentry-Auth": auth}) == 400
    short = b"{}\n" + b'{"type":"event","length":999}\n' + event
    assert post(sentry, path, short, **{"X-Sentry-Auth": auth}) == 400
    untyped = b"{}\n" + b'{"length":2}\n{}'
    assert post(sentry, path, untyped, **{"X-Sentry-Auth": auth}) == 400
    assert post(sentry, path, envelope, **{"X-Sentry-Auth": auth, "Content-Encoding": "br"}) == 415
    assert sentry.events() == []

    compressed = gzip.compress(envelope)
    assert (
        post(sentry, path, compressed, **{"X-Sentry-Auth": auth, "Content-Encoding": "gzip"}) == 200
    )
    # No length: the payload runs to the end of its line; the key may come in the query.
    implicit = b"{}\n" + b'{"type":"event"}\n' + event + b"\n"
    assert post(sentry, f"{path}?sentry_key={sentry.key}&sentry_version=7", implicit) == 200
    assert [item["message"] for item in sentry.events()] == ["hello", "hello"]


def test_without_a_dsn_nothing_is_reported(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'off.db'}")
    assert not init_sentry(settings, NODE)
    assert not sentry_sdk.get_client().is_active()
