"""The deploy files as documents, and the published schemas they are checked against.

The schemas come from packages that ship them, so validation needs no network and no
cluster: the compose-spec and GitHub workflow schemas vendored by check-jsonschema, and the
Kubernetes OpenAPI schemas per version shipped by kubernetes-validate.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import kubernetes_validate
from jsonschema import FormatChecker
from jsonschema.validators import validator_for
from ruamel.yaml import YAML

from config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

# The oldest Kubernetes the manifests promise to work on, and the newest schema shipped.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

# Settings in CONTRACT.md's Running table that config/settings.py does not define yet (other
# issues add them); anything else set in a deploy file must be a field of `Settings`.
CONTRACT_ONLY_SETTINGS = frozenset(
    {
        "DRAIN_TIMEOUT_SECONDS",
        "JOB_QUEUE_URL",
        "MEDIA_UPLOAD_MAX_BYTES",
        "OAUTH_APPLE_CLIENT_IDS",
        "OAUTH_APPLE_ISSUER",
        "OAUTH_APPLE_JWKS_URL",
        "OAUTH_GOOGLE_CLIENT_IDS",
        "OAUTH_GOOGLE_ISSUER",
        "OAUTH_GOOGLE_JWKS_URL",
        "SENTRY_DSN",
        "TURN_SECRET",
        "TURN_URLS",
    }
)
SETTINGS = frozenset(name.upper() for name in Settings.model_fields) | CONTRACT_ONLY_SETTINGS


def load_yaml(path: Path) -> Any:
    """YAML 1.2, as Compose and GitHub read it (`on:` stays a key, not `True`)."""
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def load_all_yaml(path: Path) -> list[Any]:
    return [document for document in YAML(typ="safe").load_all(path.read_text("utf-8"))]


def vendored_schema_errors(schema_name: str, document: Any) -> list[str]:
    """Errors of `document` against a schema check-jsonschema vendors (e.g. `compose-spec`)."""
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / f"{schema_name}.json").read_text(encoding="utf-8"))
    validator = validator_for(schema)(schema, format_checker=FormatChecker())
    return [
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def k8s_manifests() -> dict[str, dict[str, Any]]:
    """Every resource under deploy/k8s by file name (the kustomization is not a resource)."""
    resources: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path != KUSTOMIZATION:
            (document,) = load_all_yaml(path)
            resources[path.name] = document
    return resources


def k8s_of_kind(kind: str) -> dict[str, Any]:
    (resource,) = [doc for doc in k8s_manifests().values() if doc["kind"] == kind]
    return resource


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = k8s_of_kind("Deployment")["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    (only,) = pod_spec()["containers"]
    result: dict[str, Any] = only
    return result


def config_data() -> dict[str, str]:
    data: dict[str, str] = k8s_of_kind("ConfigMap")["data"]
    return data


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def duration_seconds(value: str) -> float:
    """A Compose duration (`630s`, `10m30s`, `1h`) in seconds."""
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(number + unit for number, unit in parts) != value:
        raise ValueError(f"{value!r} is not a Compose duration")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
