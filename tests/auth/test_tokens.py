"""The token signer on its own: what it accepts and what it refuses."""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import pytest

from auth.errors import TokenExpiredError, TokenInvalidError
from auth.roles import Principal, Role, may_direct, may_own
from auth.tokens import TokenSigner, hash_refresh_token, new_refresh_token

SECRET = "x" * 64


def signer(ttl: timedelta = timedelta(minutes=5)) -> TokenSigner:
    return TokenSigner(SECRET, algorithm="HS256", access_ttl=ttl)


def test_access_token_round_trip_carries_user_role_and_family() -> None:
    user_id, family_id = uuid.uuid4(), uuid.uuid4()
    token = signer().issue_access(user_id, "director", family_id)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert {"sub", "exp", "iat", "jti", "role", "typ", "fam"} <= set(claims)
    assert signer().read_access(token) == Principal(user_id, Role.DIRECTOR, family_id)


def test_expired_access_token_raises_expired() -> None:
    token = signer(timedelta(seconds=-1)).issue_access(uuid.uuid4(), "user", uuid.uuid4())
    with pytest.raises(TokenExpiredError):
        signer().read_access(token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not.a.token",
        jwt.encode({"sub": "x"}, SECRET, algorithm="HS256"),
        jwt.encode(
            {"sub": "not-a-uuid", "typ": "access", "jti": "j", "iat": 0, "exp": 4102444800},
            SECRET,
            algorithm="HS256",
        ),
        jwt.encode(
            {
                "sub": str(uuid.uuid4()),
                "typ": "access",
                "jti": "j",
                "iat": 0,
                "exp": 4102444800,
                "role": "emperor",
            },
            SECRET,
            algorithm="HS256",
        ),
        # No login family: it could not be revoked, so it is not accepted.
        jwt.encode(
            {"sub": str(uuid.uuid4()), "typ": "access", "jti": "j", "iat": 0, "exp": 4102444800},
            SECRET,
            algorithm="HS256",
        ),
    ],
)
def test_malformed_tokens_are_invalid(token: str) -> None:
    with pytest.raises(TokenInvalidError):
        signer().read_access(token)


def test_verification_token_is_not_an_access_token_and_vice_versa() -> None:
    user_id = uuid.uuid4()
    verification = signer().issue_email_verification(user_id, "a@b.c", timedelta(hours=1))
    assert signer().read_email_verification(verification) == (user_id, "a@b.c")
    with pytest.raises(TokenInvalidError):
        signer().read_access(verification)
    with pytest.raises(TokenInvalidError):
        signer().read_email_verification(signer().issue_access(user_id, "user", uuid.uuid4()))


def test_refresh_tokens_are_random_and_only_their_hash_is_kept() -> None:
    first, second = new_refresh_token(), new_refresh_token()
    assert first.token != second.token
    assert len(first.token) >= 43
    assert first.token_hash == hash_refresh_token(first.token)
    assert first.token not in first.token_hash


def test_access_rules() -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    as_owner = Principal(owner, Role.USER, uuid.uuid4())
    as_stranger = Principal(stranger, Role.USER, uuid.uuid4())
    as_director = Principal(stranger, Role.DIRECTOR, uuid.uuid4())
    as_admin = Principal(stranger, Role.ADMIN, uuid.uuid4())
    assert may_own(as_owner, owner) and not may_own(as_director, owner)
    assert may_direct(as_owner, owner)
    assert not may_direct(as_stranger, owner)
    assert may_direct(as_director, owner) and may_direct(as_admin, owner)
