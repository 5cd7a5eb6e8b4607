"""`GET /metrics`: Prometheus's text format, for the host connection counters and the rest.

When `METRICS_TOKEN` is set, the scraper must send it as `Authorization: Bearer <token>`
(Prometheus's `authorization` setting in a scrape config); otherwise the endpoint is open,
for a private network or a single machine.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api.errors import ApiError


def build_routes(token: str | None) -> list[BaseRoute]:
    """The metrics route, guarded by `token` when there is one."""
    expected = f"Bearer {token}".encode() if token else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            sent = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(sent, expected):
                raise ApiError(
                    401,
                    "metrics_token_required",
                    "Send METRICS_TOKEN as Authorization: Bearer <token> to read the metrics",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
