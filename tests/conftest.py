"""Shared fixtures: a migrated database of each kind, the app, and an HTTP client for it.

Every API test runs twice: on SQLite and on the real PostgreSQL at 127.0.0.1:5432
(`TEST_POSTGRES_URL`). PostgreSQL missing is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from starlette.applications import Starlette

from auth.mail import Email
from config import Settings
from monumento.app import create_app
from store.database import Database
from store.schema import metadata

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "correct horse battery"

# The fuzz tests (tests/hostile.py): `ci` is bounded and the same on every run; `deep` runs
# ten times the examples, new ones each time. `HYPOTHESIS_PROFILE=deep` or
# `--hypothesis-profile=deep` picks it.
hypothesis_settings.register_profile("ci", max_examples=100, derandomize=True, database=None)
hypothesis_settings.register_profile("deep", max_examples=1000, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


class FakeClock:
    """Time that moves only when the test moves it (`clock.now += 0.6`), not with the machine."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ManualSleep:
    """An `asyncio.sleep` stand-in that returns only when the test says (`tick`), so a loop
    that sleeps between steps (a lease's renewals) takes exactly the steps the test takes."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._ticks: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self._ticks.get()

    def tick(self) -> None:
        """Let one sleep return."""
        self._ticks.put_nowait(None)


class RecordingMailer:
    """Keeps sent emails so tests can follow verification links."""

    def __init__(self) -> None:
        self.sent: list[Email] = []

    async def send(self, email: Email) -> None:
        self.sent.append(email)


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for this test run, dropped at the end."""
    name = f"monumento_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    database = Database(Settings(database_url=url).resolved_database_url)
    await database.migrate()
    await database.close()
    yield url
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so no test pays for migrations."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.migrate()
    await database.close()
    return path


@pytest.fixture
async def empty_postgres(postgres_url: str) -> str:
    """The run's PostgreSQL database with every table emptied."""
    database = Database(Settings(database_url=postgres_url).resolved_database_url)
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    async with database.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    await database.close()
    return postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """An empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "monumento.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("empty_postgres")
    return url


async def until(condition: Callable[[], bool], within_s: float = 60.0) -> None:
    """Until `condition` holds, however long a busy machine takes (TimeoutError past `within_s`).

    For state nothing signals a change of (aiortc's queues, a guest's frame counts); where an
    event or condition exists, wait on it instead.
    """
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 (no event exists to wait on: see above)
            await asyncio.sleep(0.01)


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: nothing read from the machine's environment or `.env`."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "redis_url": None,
        "jwt_secret": "test-secret-that-is-long-enough-for-every-hmac-size-0123456789abc",
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 1024,
        "migrate_on_start": False,
        "log_json": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
async def app(settings: Settings, mailer: RecordingMailer) -> AsyncIterator[Starlette]:
    """The whole server, started (lifespan entered) and stopped around the test."""
    application = create_app(settings, mailer=mailer)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as http:
        yield http


def api_client(app: Starlette) -> httpx.AsyncClient:
    """An HTTP client talking to the app in-process, rooted at `/api/v1`."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver/api/v1",
    )


async def register(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    """Register an account and return the AuthResponse."""
    email = email or f"guest-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/auth/register", json={"email": email, "password": password, "fullName": "Test Guest"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(auth: dict[str, Any]) -> dict[str, str]:
    """The Authorization header for an AuthResponse."""
    return {"Authorization": f"Bearer {auth['accessToken']}"}


@pytest.fixture
async def guest(client: httpx.AsyncClient) -> dict[str, Any]:
    """A registered account's AuthResponse."""
    return await register(client)


@pytest.fixture
def guest_headers(guest: dict[str, Any]) -> dict[str, str]:
    return bearer(guest)


@pytest.fixture
def repo_root() -> Iterator[Path]:
    yield Path(__file__).resolve().parent.parent
