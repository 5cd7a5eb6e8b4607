""".github/workflows/ci.yml: valid by the GitHub workflow schema; runs the tests, builds."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

from tests.deploy.files import ROOT, WORKFLOW, load_yaml, vendored_schema_errors


@pytest.fixture
def workflow() -> Any:
    return load_yaml(WORKFLOW)


def steps_running(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_workflow_is_valid_by_the_github_workflows_schema(workflow: dict[str, Any]) -> None:
    assert vendored_schema_errors("github-workflows", workflow) == []


def test_an_invalid_workflow_is_refused(workflow: dict[str, Any]) -> None:
    broken = copy.deepcopy(workflow)
    del broken["jobs"]["test"]["runs-on"]
    broken["jobs"]["image"]["timeout-minutes"] = "thirty"
    assert vendored_schema_errors("github-workflows", broken) != []


def test_it_runs_the_readmes_test_command_against_the_services_on_loopback(
    workflow: dict[str, Any],
) -> None:
    job = workflow["jobs"]["test"]
    assert "bash scripts/test" in steps_running(job)
    assert "`scripts/test`" in (ROOT / "README.md").read_text(encoding="utf-8")
    published = {name: service["ports"] for name, service in job["services"].items()}
    assert published == {
        "postgres": ["5432:5432"],
        "redis": ["6379:6379"],
        "rabbitmq": ["5672:5672"],
    }
    assert job["services"]["postgres"]["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert job["services"]["postgres"]["env"]["POSTGRES_DB"] == "test"


def test_it_tests_on_the_python_the_project_and_image_use(workflow: dict[str, Any]) -> None:
    (setup,) = [
        step
        for step in workflow["jobs"]["test"]["steps"]
        if step.get("uses", "").startswith("actions/setup-python")
    ]
    version = setup["with"]["python-version"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["requires-python"] == f">={version}"
    assert f"FROM python:{version}-slim" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_it_builds_the_image_without_pushing(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["image"]
    (build,) = [
        step for step in job["steps"] if step.get("uses", "").startswith("docker/build-push-action")
    ]
    assert build["with"]["push"] is False
    assert build["with"]["context"] == "."
