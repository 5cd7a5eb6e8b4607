"""Signed JWTs (access and email verification) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from auth.errors import TokenExpiredError, TokenInvalidError
from auth.roles import Principal, Role

ACCESS = "access"
VERIFY_EMAIL = "verify_email"
_REQUIRED_CLAIMS = ["sub", "exp", "iat", "jti", "typ"]


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    """A refresh token as given to the client, and the hash that is all the server keeps."""

    token: str
    token_hash: str


class TokenSigner:
    """Issues and checks the server's JWTs with one pinned algorithm."""

    def __init__(self, secret: str, *, algorithm: str, access_ttl: timedelta) -> None:
        self._secret = secret
        self._algorithm = algorithm
        self.access_ttl = access_ttl

    def issue_access(self, user_id: uuid.UUID, role: str, family_id: uuid.UUID) -> str:
        """A short-lived access token naming the user, their role and their login family."""
        return self._sign(
            {"sub": str(user_id), "role": role, "fam": str(family_id), "typ": ACCESS},
            self.access_ttl,
        )

    def read_access(self, token: str) -> Principal:
        """The principal an access token proves, or `TokenError`.

        Without `fam` a token could not be revoked, so it is refused.
        """
        claims = self._decode(token, ACCESS)
        try:
            return Principal(
                user_id=uuid.UUID(claims["sub"]),
                role=Role(claims.get("role", Role.USER)),
                family_id=uuid.UUID(claims["fam"]),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise TokenInvalidError("Invalid token: sign in again") from error

    def issue_email_verification(self, user_id: uuid.UUID, email: str, ttl: timedelta) -> str:
        """A token proving that whoever holds it received mail at `email`."""
        return self._sign({"sub": str(user_id), "email": email, "typ": VERIFY_EMAIL}, ttl)

    def read_email_verification(self, token: str) -> tuple[uuid.UUID, str]:
        """The user id and email a verification token was issued for."""
        claims = self._decode(token, VERIFY_EMAIL)
        try:
            return uuid.UUID(claims["sub"]), str(claims["email"])
        except (KeyError, ValueError) as error:
            raise TokenInvalidError("Invalid verification link") from error

    def _sign(self, claims: dict[str, Any], ttl: timedelta) -> str:
        now = datetime.now(UTC)
        payload = {**claims, "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex}
        return jwt.encode(payload, self._secret, algorithm=self._algorithm)

    def _decode(self, token: str, kind: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenExpiredError("Token expired: refresh it or sign in again") from error
        except jwt.InvalidTokenError as error:
            raise TokenInvalidError("Invalid token: sign in again") from error
        if claims["typ"] != kind:
            raise TokenInvalidError("Invalid token: wrong kind of token")
        return claims


def new_refresh_token() -> IssuedRefreshToken:
    """A fresh random refresh token (256 bits) and its hash."""
    token = secrets.token_urlsafe(32)
    return IssuedRefreshToken(token, hash_refresh_token(token))


def hash_refresh_token(token: str) -> str:
    """SHA-256 hex: the token is random, so no salt or slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()
