"""Access tokens end at once: on logout, on a reused refresh token, on a disabled account.

On both databases, on REST and both sockets; with Redis, a revocation on one node is seen
by another node at its next request.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from monumento.app import create_app
from tests.conftest import PASSWORD, REDIS_URL, api_client, bearer, make_settings, register
from tests.live_server import serve
from tests.rtc.guest_client import GuestClient

REVOKED = "You signed out on this device, or your sign-in was revoked: sign in again"
DISABLED = "This account is disabled: contact support"


async def me(client: httpx.AsyncClient, auth: dict[str, Any]) -> httpx.Response:
    return await client.get("/auth/me", headers=bearer(auth))


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


def assert_refused(response: httpx.Response, code: str, message: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": message, "code": code}
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_logout_ends_the_access_token_at_once(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    assert (await me(client, auth)).status_code == 200  # now cached as live
    assert (await client.post("/auth/logout", headers=bearer(auth))).status_code == 200
    assert_refused(await me(client, auth), "token_revoked", REVOKED)
    sessions = await client.get("/sessions", headers=bearer(auth))
    assert sessions.status_code == 401
    assert sessions.json()["code"] == "token_revoked"


async def test_logout_leaves_the_users_other_sign_ins_alone(client: httpx.AsyncClient) -> None:
    phone = await register(client, "two-devices@example.com")
    laptop = (await login(client, "two-devices@example.com")).json()
    await client.post(
        "/auth/logout", json={"refreshToken": phone["refreshToken"]}, headers=bearer(laptop)
    )
    assert_refused(await me(client, phone), "token_revoked", REVOKED)
    assert (await me(client, laptop)).status_code == 200


async def test_a_reused_refresh_token_ends_the_access_tokens_of_its_family(
    client: httpx.AsyncClient,
) -> None:
    first = await register(client, "reuse@example.com")
    other = (await login(client, "reuse@example.com")).json()
    rotated = (
        await client.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    ).json()
    assert (await me(client, rotated)).status_code == 200
    reuse = await client.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reuse.json()["code"] == "refresh_token_reused"
    assert_refused(await me(client, first), "token_revoked", REVOKED)
    assert_refused(await me(client, rotated), "token_revoked", REVOKED)
    assert (await me(client, other)).status_code == 200


async def test_both_sockets_refuse_a_revoked_token(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, database_url, rtc_host_addresses="127.0.0.1"))
    async with serve(app) as server, httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
        auth = await register(http)
        body = {"vibe": "The Historian", "mode": "Director Mode", "durationMinutes": 5}
        session = (await http.post("/sessions", json=body, headers=bearer(auth))).json()
        assert (await http.post("/auth/logout", headers=bearer(auth))).status_code == 200
        for socket in ("interview", "director"):
            url = (
                f"{server.ws}/api/v1/sessions/{session['id']}/{socket}?token={auth['accessToken']}"
            )
            client = GuestClient(url)
            try:
                await client.connect()
                error = await client.wait_for(lambda e: e["type"] == "error")
                assert (error["code"], error["error"]) == ("token_revoked", REVOKED), socket
                await client.wait_for(lambda e: e["type"] == "_closed")
                assert client.close_code == 4401, socket
            finally:
                await client.close()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"monumento-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def monumento(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    """The `monumento` command in a child process, as an operator runs it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monumento.cli",
        *args,
        env=base | {"LOG_JSON": "false"} | env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_disable_from_the_cli_ends_every_sign_in_at_once_on_every_node(
    tmp_path: Path, database_url: str, redis_prefix: str
) -> None:
    redis = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix}
    app = create_app(make_settings(tmp_path, database_url, **redis))
    env = {
        "DATA_DIR": str(tmp_path / "cli"),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
    }
    async with app.router.lifespan_context(app), api_client(app) as client:
        phone = await register(client, "Gone@example.com")
        laptop = (await login(client, "gone@example.com")).json()
        bystander = await register(client)
        for auth in (phone, laptop):
            assert (await me(client, auth)).status_code == 200  # cached as live

        assert await monumento(tmp_path, env, "users", "disable", "GONE@example.com") == (
            0,
            "GONE@example.com is now disabled\n",
        )
        for auth in (phone, laptop):
            assert_refused(await me(client, auth), "account_disabled", DISABLED)
        refused = await login(client, "gone@example.com")
        assert refused.status_code == 403
        assert refused.json() == {"error": DISABLED, "code": "account_disabled"}
        # A wrong password is just wrong: the state of the account is not given away.
        assert (await login(client, "gone@example.com", "not the password")).status_code == 401
        refresh = await client.post("/auth/refresh", json={"refreshToken": laptop["refreshToken"]})
        assert (refresh.status_code, refresh.json()["code"]) == (403, "account_disabled")
        assert (await me(client, bystander)).status_code == 200

        assert (await monumento(tmp_path, env, "users", "enable", "gone@example.com"))[0] == 0
        again = await login(client, "gone@example.com")
        assert again.status_code == 200
        assert (await me(client, again.json())).status_code == 200
        assert_refused(await me(client, phone), "token_revoked", REVOKED)  # old ones stay ended

        code, output = await monumento(tmp_path, env, "users", "disable", "nobody@example.com")
        assert code == 1 and "no account with the email nobody@example.com" in output


async def test_without_redis_a_disabled_account_is_refused_from_the_database(
    tmp_path: Path, database_url: str
) -> None:
    app = create_app(make_settings(tmp_path, database_url))
    env = {"DATA_DIR": str(tmp_path / "cli"), "DATABASE_URL": database_url}
    async with app.router.lifespan_context(app), api_client(app) as client:
        auth = await register(client, "solo@example.com")
        assert (await monumento(tmp_path, env, "users", "disable", "solo@example.com"))[0] == 0
        assert_refused(await me(client, auth), "account_disabled", DISABLED)
        assert (await login(client, "solo@example.com")).status_code == 403


async def test_a_revocation_on_one_node_is_seen_by_another_at_once(
    tmp_path: Path, database_url: str, redis_prefix: str
) -> None:
    def node(name: str) -> Any:
        settings = make_settings(
            tmp_path / name, database_url, redis_url=REDIS_URL, redis_key_prefix=redis_prefix
        )
        return create_app(settings)

    one, two = node("one"), node("two")
    async with (
        one.router.lifespan_context(one),
        two.router.lifespan_context(two),
        api_client(one) as first,
        api_client(two) as second,
    ):
        signed_out = await register(first, "nodes@example.com")
        reused = (await login(first, "nodes@example.com")).json()
        kept = (await login(second, "nodes@example.com")).json()
        for auth in (signed_out, reused, kept):
            assert (await me(second, auth)).status_code == 200
            assert (await me(first, auth)).status_code == 200
        assert (await first.post("/auth/logout", headers=bearer(signed_out))).status_code == 200
        assert_refused(await me(second, signed_out), "token_revoked", REVOKED)
        body = {"refreshToken": reused["refreshToken"]}
        assert (await second.post("/auth/refresh", json=body)).status_code == 200
        assert (await second.post("/auth/refresh", json=body)).status_code == 401  # reuse
        assert_refused(await me(first, reused), "token_revoked", REVOKED)
        assert (await me(first, kept)).status_code == 200
        assert (await me(second, kept)).status_code == 200
