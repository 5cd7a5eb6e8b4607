"""The `monumento` command as a user runs it: migrate, set a role, serve and answer."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fakes.sentry import FakeSentry

MONUMENTO = [sys.executable, "-m", "monumento.cli"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(DATA_DIR=str(data_dir), PASSWORD_HASH_MEMORY_KIB="1024", LOG_JSON="false")
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_migrate_creates_the_sqlite_database(tmp_path: Path) -> None:
    result = subprocess.run(
        [*MONUMENTO, "migrate"],
        env=_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "monumento.db").is_file()


def test_serve_answers_and_set_role_promotes_a_user(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path / "data")
    server = subprocess.Popen(
        [*MONUMENTO, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, "server exited early"
            assert time.monotonic() < deadline, "server did not become ready in 30 s"
            time.sleep(0.1)
        registered = httpx.post(
            f"{base}/api/v1/auth/register",
            json={"email": "boss@example.com", "password": "long enough"},
        )
        assert registered.status_code == 201
        promote = subprocess.run(
            [*MONUMENTO, "users", "set-role", "boss@example.com", "director"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert promote.returncode == 0, promote.stderr
        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"email": "boss@example.com", "password": "long enough"},
        )
        assert login.json()["user"]["role"] == "director"
        missing = subprocess.run(
            [*MONUMENTO, "users", "set-role", "nobody@example.com", "admin"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert missing.returncode == 1
        assert "no account" in missing.stderr
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status tells what stopped it.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert (tmp_path / "data" / "jwt_secret").is_file()  # generated once, kept for restarts


def test_serve_names_its_node_on_every_json_line_and_reports_to_sentry(tmp_path: Path) -> None:
    port = _free_port()
    with FakeSentry().running() as sentry:
        env = _env(tmp_path / "data") | {"LOG_JSON": "true", "SENTRY_DSN": sentry.dsn}
        env.pop("NODE_ID", None)
        server = subprocess.Popen(
            [*MONUMENTO, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, "server exited early"
                assert time.monotonic() < deadline, "server did not become ready in 30 s"
                time.sleep(0.1)
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=30)
        assert sentry.refusals == []  # whatever it sent on the way out, Sentry would take
    entries = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert entries, output
    nodes = {entry.get("node") for entry in entries}
    assert len(nodes) == 1 and re.fullmatch(r"[0-9a-f]{32}", str(nodes.pop())), output
    readyz = [entry for entry in entries if entry.get("path") == "/readyz"]
    assert readyz and all(entry.get("request_id") for entry in readyz)
