"""The studio pages: the guest's studio at `/`, the history at `/history`, the director's
console at `/director/{id}`, and their assets under `/studio/`.

They are plain HTML, CSS and ES modules committed in `api/studio/` (the pages) and
`api/studio/assets/` (what they load), served as they are
(no build step), so `monumento serve` and a browser make a complete interview. Pages and
assets carry no token and reveal nothing, so they are exempt from the request rate limiter
(`EXEMPT_PATHS`, `EXEMPT_PREFIXES`, used by `monumento/app.py`): one page load is several
requests per address, and a few people behind one address would otherwise lock each other
out. The API calls the pages make are limited as usual.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.errors import not_found

STUDIO_DIR = Path(__file__).with_name("studio")
ASSETS_DIR = STUDIO_DIR / "assets"
ASSETS_PATH = "/studio"
EXEMPT_PATHS = frozenset({"/", "/history"})
EXEMPT_PREFIXES = (f"{ASSETS_PATH}/", "/director/")

# Scripts and styles only from this server; media may come from a bucket (signed URLs).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https: http:",
        "media-src 'self' blob: https: http:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
# Revalidated on every load (ETag), so a server upgrade never runs yesterday's scripts.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    # The studio films and records the guest: only its own pages may ask for the devices,
    # and no other site may frame them (clickjacking a permission prompt).
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(), geolocation=()",
    "X-Frame-Options": "DENY",
}


class StudioAssets(StaticFiles):
    """The pages' scripts, styles and icons, revalidated like the pages."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _page(name: str) -> FileResponse:
    return FileResponse(STUDIO_DIR / name, media_type="text/html", headers=PAGE_HEADERS)


async def studio_page(_request: Request) -> FileResponse:
    """The guest's studio: sign in, set up a session, be interviewed."""
    return _page("index.html")


async def history_page(_request: Request) -> FileResponse:
    """The caller's past sessions: transcripts, recordings, downloads."""
    return _page("history.html")


async def director_page(request: Request) -> FileResponse:
    """The director's console for one session (the page reads the id from its address)."""
    try:
        uuid.UUID(request.path_params["session_id"])
    except ValueError as error:
        raise not_found("Session") from error
    return _page("director.html")


routes: list[BaseRoute] = [
    Route("/", studio_page, methods=["GET"]),
    Route("/history", history_page, methods=["GET"]),
    Route("/director/{session_id}", director_page, methods=["GET"]),
    Mount(ASSETS_PATH, app=StudioAssets(directory=ASSETS_DIR), name="studio"),
]
