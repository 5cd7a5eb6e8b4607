"""Liveness and readiness probes for Kubernetes and load balancers."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.context import api_context
from api.errors import error_response

logger = logging.getLogger(__name__)
READINESS_TIMEOUT_S = 2.0


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    context = api_context(request)
    if context.draining():
        return error_response(
            503,
            "not_ready",
            "Not ready: this node is draining (shutting down once its interviews end)",
            failing=["draining"],
        )
    failing: list[str] = []
    for name, check in context.readiness_checks.items():
        try:
            await asyncio.wait_for(check(), READINESS_TIMEOUT_S)
        except Exception as error:
            logger.warning("readiness check %s failed: %r", name, error)
            failing.append(name)
    if failing:
        return error_response(
            503, "not_ready", f"Not ready: {', '.join(failing)} not answering", failing=failing
        )
    return JSONResponse({"status": "ready"})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
