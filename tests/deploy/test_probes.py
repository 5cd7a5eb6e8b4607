"""The paths every deploy file probes are routes that answer on a started app."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette

from tests.deploy.files import COMPOSE, DOCKERFILE, container, load_yaml

LOCAL_URL_PATH = re.compile(r"127\.0\.0\.1:8080(/[a-z]+)")


def probed_paths() -> set[str]:
    """The compose nodes' health checks, the image's HEALTHCHECK, the pod's probes."""
    compose = load_yaml(COMPOSE)
    checks = [
        " ".join(service["healthcheck"]["test"])
        for service in compose["services"].values()
        if "build" in service
    ]
    checks.append(DOCKERFILE.read_text(encoding="utf-8"))
    paths = {path for check in checks for path in LOCAL_URL_PATH.findall(check)}
    paths |= {
        container()[probe]["httpGet"]["path"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe")
    }
    return paths


async def test_every_probed_path_answers_200(app: Starlette) -> None:
    paths = probed_paths()
    assert paths == {"/healthz", "/readyz"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        for path in sorted(paths):
            response = await client.get(path)
            assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
