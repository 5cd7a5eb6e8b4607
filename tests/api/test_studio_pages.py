"""The studio's pages and assets: served from the repo as they are, and never rate-limited."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from api.studio_routes import ASSETS_DIR, STUDIO_DIR
from monumento.app import create_app
from tests.conftest import FakeClock, make_settings

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PAGES = {"/": "index.html", "/history": "history.html"}


def page_client(tmp_path: Path, database_url: str) -> httpx.AsyncClient:
    app = create_app(
        make_settings(tmp_path, database_url, rate_limit_per_minute=5), rate_limit_clock=FakeClock()
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_each_page_is_served_with_its_security_headers(
    tmp_path: Path, database_url: str
) -> None:
    director = "/director/0b9a4c3e-2f0e-4e4b-9f7e-3c1d2b8a7e61"
    async with page_client(tmp_path, database_url) as client:
        for path, name in {**PAGES, director: "director.html"}.items():
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/html")
            assert response.text == (STUDIO_DIR / name).read_text()
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["permissions-policy"].startswith(
                "camera=(self), microphone=(self)"
            )
            assert response.headers["x-frame-options"] == "DENY"
        assert (await client.get("/director/not-a-session")).status_code == 404


async def test_every_asset_a_page_names_exists(tmp_path: Path, database_url: str) -> None:
    async with page_client(tmp_path, database_url) as client:
        for name in ("index.html", "history.html", "director.html"):
            html = (STUDIO_DIR / name).read_text()
            for asset in re.findall(r'(?:src|href)="(/studio/[^"]+)"', html):
                response = await client.get(asset)
                assert response.status_code == 200, asset
                assert response.headers["cache-control"] == "no-cache"
        for module in (ASSETS_DIR / "js").glob("*.js"):
            for imported in re.findall(r'from "\./([\w-]+\.js)"', module.read_text()):
                assert (ASSETS_DIR / "js" / imported).is_file(), f"{module.name}: {imported}"
        script = await client.get("/studio/js/studio.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/studio/index.html")).status_code == 404  # pages only at /


async def test_pages_and_assets_are_not_rate_limited(tmp_path: Path, database_url: str) -> None:
    # The limit is 5 a minute per address here; a page load alone is more requests than that.
    async with page_client(tmp_path, database_url) as client:
        for _ in range(4):
            for path in ("/", "/history", "/studio/studio.css", "/studio/js/api.js"):
                assert (await client.get(path)).status_code == 200, path
        statuses = [(await client.get("/api/v1/auth/me")).status_code for _ in range(6)]
        assert statuses[-1] == 429  # the API itself is still limited
