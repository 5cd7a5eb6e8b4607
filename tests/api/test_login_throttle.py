"""`POST /auth/login` throttled per account, whatever the address: 429 with `Retry-After`.

On both databases; the clock is a `FakeClock` (the lockout ends when the test says), and
the per-address limit is raised out of the way so only the account's throttle answers.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from auth.passwords import Passwords
from monumento.app import create_app
from tests.conftest import PASSWORD, REDIS_URL, FakeClock, api_client, make_settings, register

WRONG = "not the password at all"


def throttled_app(
    tmp_path: Path, database_url: str, clock: FakeClock, **overrides: Any
) -> Starlette:
    settings = make_settings(tmp_path, database_url, rate_limit_per_minute=10_000, **overrides)
    return create_app(settings, rate_limit_clock=clock)


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords argon2 was asked to check, in order."""
    checked: list[str] = []
    verify = Passwords.verify

    async def counting(self: Passwords, stored_hash: str | None, password: str) -> bool:
        checked.append(password)
        return await verify(self, stored_hash, password)

    monkeypatch.setattr(Passwords, "verify", counting)
    return checked


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
async def test_120_wrong_passwords_lock_the_account_even_for_the_right_one(
    tmp_path: Path, database_url: str, verifications: list[str], known: bool
) -> None:
    clock = FakeClock()
    app = throttled_app(tmp_path, database_url, clock)
    email = "target@example.com"
    async with app.router.lifespan_context(app), api_client(app) as client:
        if known:
            await register(client, email)
        statuses = [(await login(client, email, WRONG)).status_code for _ in range(120)]
        assert statuses == [401] * 5 + [429] * 115
        assert verifications == [WRONG] * 5  # no password is hashed while the account is locked
        locked = await login(client, " TARGET@example.com", PASSWORD)
        assert locked.status_code == 429
        assert locked.headers["Retry-After"] == "1"
        assert locked.json() == {
            "error": "Too many failed sign-ins to this account: try again in 1 s",
            "code": "too_many_attempts",
            "retryAfter": 1,
        }
        clock.now += 1.0
        right = await login(client, email, PASSWORD)
        assert right.status_code == (200 if known else 401)
        if known:  # the success reset the count: five free failures again
            statuses = [(await login(client, email, WRONG)).status_code for _ in range(6)]
            assert statuses == [401] * 5 + [429]


async def test_each_failure_after_the_lockout_doubles_it(tmp_path: Path, database_url: str) -> None:
    clock = FakeClock()
    app = throttled_app(tmp_path, database_url, clock)
    async with app.router.lifespan_context(app), api_client(app) as client:
        await register(client, "doubling@example.com")
        for _ in range(5):
            await login(client, "doubling@example.com", WRONG)
        for wait in (1, 2, 4, 8):
            refused = await login(client, "doubling@example.com", PASSWORD)
            assert refused.headers["Retry-After"] == str(wait)
            clock.now += wait
            assert (await login(client, "doubling@example.com", WRONG)).status_code == 401
        clock.now += 15.5
        partly = await login(client, "doubling@example.com", PASSWORD)
        assert partly.headers["Retry-After"] == "1"  # half a second left, rounded up


async def test_other_accounts_and_the_address_are_not_locked(
    tmp_path: Path, database_url: str
) -> None:
    app = throttled_app(tmp_path, database_url, FakeClock())
    async with app.router.lifespan_context(app), api_client(app) as client:
        await register(client, "bystander@example.com")
        for _ in range(6):
            await login(client, "target@example.com", WRONG)
        assert (await login(client, "bystander@example.com", PASSWORD)).status_code == 200


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"monumento-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def test_two_nodes_share_the_count_through_redis(
    tmp_path: Path, database_url: str, redis_prefix: str
) -> None:
    clock = FakeClock()  # both nodes' time, as Redis's own clock is in production
    redis = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
    one = throttled_app(tmp_path / "one", database_url, clock, **redis)
    two = throttled_app(tmp_path / "two", database_url, clock, **redis)
    async with (
        one.router.lifespan_context(one),
        two.router.lifespan_context(two),
        api_client(one) as first,
        api_client(two) as second,
    ):
        await register(first, "shared@example.com")
        for client in (first, second, first, second, first):
            assert (await login(client, "shared@example.com", WRONG)).status_code == 401
        refused = await login(second, "shared@example.com", PASSWORD)
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
        clock.now += 1.0
        assert (await login(second, "shared@example.com", PASSWORD)).status_code == 200
        assert (await login(first, "shared@example.com", WRONG)).status_code == 401


async def test_openapi_documents_the_lockout(client: httpx.AsyncClient) -> None:
    login = (await client.get("/openapi.json")).json()["paths"]["/auth/login"]["post"]
    assert {"200", "400", "401", "403", "429"} <= set(login["responses"])
    assert "Retry-After" in login["responses"]["429"]["headers"]
    me = (await client.get("/openapi.json")).json()["paths"]["/auth/me"]["get"]
    assert "token_revoked" in me["responses"]["401"]["description"]
