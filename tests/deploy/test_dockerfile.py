"""The Dockerfile: multi-stage, non-root, no dev dependencies, the server by default."""

from __future__ import annotations

import json
import tomllib
from fnmatch import fnmatch
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from monumento.cli import _parser
from tests.deploy.files import DOCKERFILE, DOCKERIGNORE, ROOT

UID = "10001"  # the user deploy/k8s/deployment.yaml runs as


@pytest.fixture
def instructions() -> list[dict[str, Any]]:
    structure: list[dict[str, Any]] = DockerfileParser(path=str(DOCKERFILE)).structure
    return [line for line in structure if line["instruction"] != "COMMENT"]


def stages(instructions: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Instructions by stage name (`FROM image AS name`)."""
    result: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []
    for line in instructions:
        if line["instruction"] == "FROM":
            _image, as_, name = line["value"].split()
            assert as_.upper() == "AS", f"unnamed stage: FROM {line['value']}"
            current = result.setdefault(name, [])
        current.append(line)
    return result


def of(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    return [line["value"] for line in stage if line["instruction"] == instruction]


def test_wheels_are_built_in_one_stage_and_installed_in_a_slim_one(
    instructions: list[dict[str, Any]],
) -> None:
    by_name = stages(instructions)
    assert list(by_name) == ["builder", "runtime"]
    builder, runtime = by_name["builder"], by_name["runtime"]
    assert any("pip wheel" in run for run in of(builder, "RUN"))
    assert all(value.split()[0].endswith("-slim") for value in of(runtime, "FROM"))
    (install,) = [run for run in of(runtime, "RUN") if "pip install" in run]
    assert "from=builder" in install and "--no-index" in install
    assert "build-essential" not in " ".join(of(runtime, "RUN"))
    assert "[dev]" not in DOCKERFILE.read_text(encoding="utf-8")


def test_the_image_runs_as_the_non_root_user(instructions: list[dict[str, Any]]) -> None:
    runtime = stages(instructions)["runtime"]
    users = of(runtime, "USER")
    assert users, "the runtime stage never leaves root"
    assert users[-1].split(":")[0] == UID
    last_user = max(i for i, line in enumerate(runtime) if line["instruction"] == "USER")
    assert all(line["instruction"] != "RUN" for line in runtime[last_user:])
    assert any(f"--uid {UID}" in run for run in of(runtime, "RUN"))


def test_the_default_command_serves_on_every_interface_and_is_health_checked(
    instructions: list[dict[str, Any]],
) -> None:
    runtime = stages(instructions)["runtime"]
    (command,) = of(runtime, "CMD")
    program, *arguments = json.loads(command)
    assert program == "monumento"
    assert arguments[:3] == ["serve", "--host", "0.0.0.0"]
    assert _parser().parse_args(arguments).port == 8080
    (healthcheck,) = of(runtime, "HEALTHCHECK")
    assert "http://127.0.0.1:8080/healthz" in healthcheck


def test_every_package_is_copied_and_nothing_it_needs_is_ignored(
    instructions: list[dict[str, Any]],
) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in includes}
    copied = {value.split()[0] for value in of(stages(instructions)["builder"], "COPY")}
    copied |= {"pyproject.toml", "README.md"}
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    ignored = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in copied:
        assert not any(fnmatch(source, pattern) for pattern in ignored), source
    assert {".git", ".venv", ".env", "data", "tests"} <= set(ignored)
