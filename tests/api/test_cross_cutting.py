"""CORS, request ids, error bodies, the OpenAPI document and the health probes."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
from starlette.applications import Starlette

import rtc.bridge.gemini.metrics  # noqa: F401  (registers the host connection metrics)
from api.openapi import OPERATIONS
from monumento.app import create_app
from monumento.logs import JsonFormatter
from tests.conftest import api_client, make_settings


async def test_cors_preflight_allows_the_web_client(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/sessions",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


async def test_cors_rejects_an_unknown_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/sessions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_errors_carry_cors_headers_so_the_browser_can_read_them(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/auth/me", headers={"Origin": "http://localhost:3001"})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "http://localhost:3001"


async def test_every_response_has_a_request_id_and_a_sane_one_is_kept(
    client: httpx.AsyncClient,
) -> None:
    generated = await client.get("/openapi.json")
    assert len(generated.headers["x-request-id"]) >= 16
    kept = await client.get("/openapi.json", headers={"X-Request-ID": "client-chosen-123"})
    assert kept.headers["x-request-id"] == "client-chosen-123"
    replaced = await client.get("/openapi.json", headers={"X-Request-ID": "bad id\n"})
    assert replaced.headers["x-request-id"] != "bad id\n"


async def test_unknown_routes_and_methods_get_the_uniform_error_body(
    client: httpx.AsyncClient, guest_headers: dict[str, str]
) -> None:
    missing = await client.get("/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert isinstance(missing.json()["error"], str)
    wrong_method = await client.delete("/sessions", headers=guest_headers)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


async def test_an_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/login",
        content=b'{"email": "' + b"a" * (1 << 20) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_openapi_document_lists_every_endpoint(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert len(OPERATIONS) == 20
    for operation in OPERATIONS:
        assert operation.method in document["paths"][operation.path]
    schemas = document["components"]["schemas"]
    assert {"vibe", "mode", "durationMinutes"} <= set(schemas["SessionCreateRequest"]["properties"])
    assert schemas["SessionCreateRequest"]["properties"]["durationMinutes"]["enum"] == [5, 20, 60]


async def test_healthz_and_readyz(app: Starlette) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).json() == {"status": "ready"}


async def test_readyz_is_503_while_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "postgresql://postgres@127.0.0.1:1/nowhere")
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "not_ready"
    assert response.json()["failing"] == ["database"]


async def test_log_lines_are_json_with_the_request_id(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access_log = logging.getLogger("monumento.access")
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    try:
        response = await client.get("/openapi.json", headers={"X-Request-ID": "trace-me-0001"})
    finally:
        access_log.removeHandler(handler)
    assert response.status_code == 200
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["request_id"] == "trace-me-0001"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/openapi.json", 200)
    assert line["level"] == "info"
    assert line["duration_ms"] >= 0


async def test_api_client_helper_uses_the_api_prefix(app: Starlette) -> None:
    async with api_client(app) as http:
        assert str(http.base_url).endswith("/api/v1/")


async def test_metrics_are_served_in_prometheus_format(app: Starlette) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "monumento_gemini" in response.text


async def test_metrics_need_the_metrics_token_when_one_is_set(
    tmp_path: Path, database_url: str
) -> None:
    token = "scrape-me-please-0123456789"
    app = create_app(make_settings(tmp_path, database_url, metrics_token=token))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        anonymous = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        scraper = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.json()["code"] == "metrics_token_required"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert scraper.status_code == 200
    assert "monumento_gemini" in scraper.text
