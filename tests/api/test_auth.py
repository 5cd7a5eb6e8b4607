"""`/auth/*` on both databases: the contract's shapes, and every way a token can be bad."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import update

from monumento.app import create_app
from store.database import Database
from store.schema import refresh_tokens
from store.users import UserStore
from tests.conftest import PASSWORD, RecordingMailer, api_client, bearer, make_settings, register

SECRET = "test-secret-that-is-long-enough-for-every-hmac-size-0123456789abc"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def assert_auth_response(body: dict[str, Any], email: str) -> None:
    assert set(body) == {"accessToken", "refreshToken", "tokenType", "expiresIn", "user"}
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 900
    user = body["user"]
    assert set(user) == {
        "id",
        "email",
        "fullName",
        "avatarUrl",
        "subscriptionTier",
        "role",
        "emailVerified",
        "createdAt",
    }
    assert user["email"] == email
    assert user["role"] == "user"
    assert ISO_UTC.match(user["createdAt"])
    uuid.UUID(user["id"])


async def test_register_returns_auth_response_and_mails_a_verification_link(
    client: httpx.AsyncClient, mailer: RecordingMailer
) -> None:
    response = await client.post(
        "/auth/register",
        json={"email": "  Ada@Example.COM ", "password": PASSWORD, "fullName": "Ada"},
    )
    assert response.status_code == 201
    body = response.json()
    assert_auth_response(body, "ada@example.com")
    assert body["user"]["fullName"] == "Ada"
    assert body["user"]["emailVerified"] is False
    assert [email.to for email in mailer.sent] == ["ada@example.com"]
    assert "/api/v1/auth/verify-email?token=" in mailer.sent[0].text


async def test_register_twice_with_one_email_is_400(client: httpx.AsyncClient) -> None:
    await register(client, "taken@example.com")
    response = await client.post(
        "/auth/register", json={"email": "TAKEN@example.com", "password": PASSWORD}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "email_taken"
    assert response.json()["field"] == "email"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"password": PASSWORD}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": 12345678}, "password"),
        ({"email": ["a@example.com"], "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": PASSWORD, "fullName": 7}, "fullName"),
    ],
)
async def test_register_rejects_bad_fields_by_name(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert error["error"].startswith(f"{field}:")


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{not json", "malformed_json"), (b"[1, 2]", "invalid_body"), (b"", "invalid_body")],
)
async def test_register_rejects_bodies_that_are_not_json_objects(
    client: httpx.AsyncClient, content: bytes, code: str
) -> None:
    response = await client.post(
        "/auth/register", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == code


async def test_login_with_the_right_password(client: httpx.AsyncClient) -> None:
    await register(client, "lin@example.com")
    response = await client.post(
        "/auth/login", json={"email": "Lin@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert_auth_response(response.json(), "lin@example.com")


@pytest.mark.parametrize(
    ("email", "password"),
    [("lin@example.com", "wrong password"), ("nobody@example.com", PASSWORD)],
)
async def test_login_with_bad_credentials_is_401_without_saying_which(
    client: httpx.AsyncClient, email: str, password: str
) -> None:
    await register(client, "lin@example.com")
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.json() == {"error": "Wrong email or password", "code": "invalid_credentials"}


async def test_refresh_rotates_both_tokens(client: httpx.AsyncClient) -> None:
    first = await register(client)
    response = await client.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert response.status_code == 200
    second = response.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    me = await client.get("/auth/me", headers=bearer(second))
    assert me.json()["id"] == first["user"]["id"]


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient,
) -> None:
    first = await register(client)
    rotated = (
        await client.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    ).json()
    reuse = await client.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reuse.status_code == 401
    assert reuse.json()["code"] == "refresh_token_reused"
    # The thief's reuse also logs out whoever holds the newest token of the family.
    newest = await client.post("/auth/refresh", json={"refreshToken": rotated["refreshToken"]})
    assert newest.status_code == 401


async def test_other_login_families_survive_a_reuse(client: httpx.AsyncClient) -> None:
    first = await register(client, "fam@example.com")
    other = (
        await client.post("/auth/login", json={"email": "fam@example.com", "password": PASSWORD})
    ).json()
    await client.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    await client.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
    response = await client.post("/auth/refresh", json={"refreshToken": other["refreshToken"]})
    assert response.status_code == 200


@pytest.mark.parametrize("body", [{"refreshToken": "made-up"}, {"refreshToken": ""}, {}])
async def test_refresh_with_an_unknown_token_is_rejected(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post("/auth/refresh", json=body)
    assert response.status_code in (400, 401)
    if body.get("refreshToken"):
        assert response.status_code == 401


async def test_expired_refresh_token_is_401(client: httpx.AsyncClient, settings: Any) -> None:
    auth = await register(client)
    database = Database(settings.resolved_database_url)
    async with database.engine.begin() as connection:
        await connection.execute(
            update(refresh_tokens).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await database.close()
    response = await client.post("/auth/refresh", json={"refreshToken": auth["refreshToken"]})
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    response = await client.post(
        "/auth/logout", json={"refreshToken": auth["refreshToken"]}, headers=bearer(auth)
    )
    assert response.status_code == 200
    assert "message" in response.json()
    refresh = await client.post("/auth/refresh", json={"refreshToken": auth["refreshToken"]})
    assert refresh.status_code == 401


async def test_logout_without_a_body_revokes_the_callers_own_family(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    response = await client.post("/auth/logout", headers=bearer(auth))
    assert response.status_code == 200
    refresh = await client.post("/auth/refresh", json={"refreshToken": auth["refreshToken"]})
    assert refresh.status_code == 401


async def test_logout_cannot_revoke_someone_elses_token(client: httpx.AsyncClient) -> None:
    victim = await register(client)
    attacker = await register(client)
    await client.post(
        "/auth/logout", json={"refreshToken": victim["refreshToken"]}, headers=bearer(attacker)
    )
    refresh = await client.post("/auth/refresh", json={"refreshToken": victim["refreshToken"]})
    assert refresh.status_code == 200


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/logout", json={})
    assert response.status_code == 401


async def test_verify_email_link_from_the_mail_marks_the_address_verified(
    client: httpx.AsyncClient, mailer: RecordingMailer
) -> None:
    auth = await register(client)
    link = next(line for line in mailer.sent[0].text.splitlines() if "verify-email" in line)
    token = link.split("token=", 1)[1]
    response = await client.get("/auth/verify-email", params={"token": token})
    assert response.status_code == 200
    assert "message" in response.json()
    me = await client.get("/auth/me", headers=bearer(auth))
    assert me.json()["emailVerified"] is True


async def test_verify_email_rejects_bad_expired_and_wrong_kind_tokens(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    expired = jwt.encode(
        {
            "sub": auth["user"]["id"],
            "email": auth["user"]["email"],
            "typ": "verify_email",
            "iat": datetime.now(UTC) - timedelta(days=3),
            "exp": datetime.now(UTC) - timedelta(days=1),
            "jti": "x",
        },
        SECRET,
        algorithm="HS256",
    )
    for token, code in [
        ("garbage", "invalid_token"),
        (expired, "token_expired"),
        (auth["accessToken"], "invalid_token"),
    ]:
        response = await client.get("/auth/verify-email", params={"token": token})
        assert response.status_code == 400, token
        assert response.json()["code"] == code
    missing = await client.get("/auth/verify-email")
    assert missing.status_code == 400


async def test_me_returns_the_user(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    response = await client.get("/auth/me", headers=bearer(auth))
    assert response.status_code == 200
    assert response.json() == auth["user"]


def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "role": "user",
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


async def test_me_rejects_missing_expired_forged_and_unsigned_tokens(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    user_id = auth["user"]["id"]
    past = datetime.now(UTC) - timedelta(minutes=10)
    header, payload, _ = auth["accessToken"].split(".")
    cases = {
        "missing": (None, "missing_token"),
        "expired": (
            jwt.encode(_claims(user_id, iat=past, exp=past), SECRET, "HS256"),
            "token_expired",
        ),
        "forged": (jwt.encode(_claims(user_id), "another-secret-" * 4, "HS256"), "invalid_token"),
        "alg none": (jwt.encode(_claims(user_id), None, "none"), "invalid_token"),
        "stripped signature": (f"{header}.{payload}.", "invalid_token"),
        "other algorithm": (jwt.encode(_claims(user_id), SECRET, "HS512"), "invalid_token"),
        "no jti": (jwt.encode(_claims(user_id, jti=None), SECRET, "HS256"), "invalid_token"),
        "not a jwt": ("abc.def", "invalid_token"),
    }
    for name, (token, code) in cases.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await client.get("/auth/me", headers=headers)
        assert response.status_code == 401, name
        assert response.json()["code"] == code, name
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_verification_token_is_not_an_access_token(
    client: httpx.AsyncClient, mailer: RecordingMailer
) -> None:
    await register(client)
    token = mailer.sent[0].text.split("token=", 1)[1].strip()
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_two_refreshes_racing_with_one_token_let_exactly_one_through(
    client: httpx.AsyncClient,
) -> None:
    auth = await register(client)
    body = {"refreshToken": auth["refreshToken"]}
    first, second = await asyncio.gather(
        client.post("/auth/refresh", json=body), client.post("/auth/refresh", json=body)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 401]


async def test_login_upgrades_a_hash_made_with_weaker_parameters(
    tmp_path: Path, database_url: str
) -> None:
    weak = create_app(make_settings(tmp_path, database_url))
    async with weak.router.lifespan_context(weak), api_client(weak) as client:
        auth = await register(client, "upgrade@example.com")
    stronger = create_app(
        make_settings(
            tmp_path, database_url, password_hash_memory_kib=2048, password_hash_time_cost=2
        )
    )
    async with stronger.router.lifespan_context(stronger), api_client(stronger) as client:
        login = await client.post(
            "/auth/login", json={"email": "upgrade@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200
    database = Database(make_settings(tmp_path, database_url).resolved_database_url)
    try:
        user = await UserStore(database).by_id(uuid.UUID(auth["user"]["id"]))
    finally:
        await database.close()
    assert user is not None
    assert "m=2048,t=2" in user.password_hash
