"""Account use cases: register, sign in, refresh, sign out, verify email."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from auth.errors import (
    AccountDisabledError,
    EmailInUseError,
    InvalidCredentialsError,
    RefreshTokenReusedError,
    TokenExpiredError,
    TokenInvalidError,
)
from auth.login_throttle import LoginThrottle
from auth.mail import Email, EmailSender
from auth.passwords import Passwords
from auth.revocations import Revocations
from auth.roles import Principal
from auth.tokens import TokenSigner, hash_refresh_token, new_refresh_token
from store.errors import EmailTakenError
from store.refresh_tokens import RefreshTokenStore, RotationOutcome
from store.users import UserRecord, UserStore

logger = logging.getLogger(__name__)

DISABLED_MESSAGE = "This account is disabled: contact support"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What a successful sign-in (or refresh) hands the client."""

    user: UserRecord
    access_token: str
    refresh_token: str
    expires_in: int


class Accounts:
    """Orchestrates users, passwords and tokens; knows nothing of HTTP."""

    def __init__(
        self,
        *,
        users: UserStore,
        refresh_tokens: RefreshTokenStore,
        revocations: Revocations,
        throttle: LoginThrottle,
        passwords: Passwords,
        signer: TokenSigner,
        mailer: EmailSender,
        refresh_ttl: timedelta,
        verification_ttl: timedelta,
        public_base_url: str,
    ) -> None:
        self._users = users
        self._refresh_tokens = refresh_tokens
        self._revocations = revocations
        self._throttle = throttle
        self._passwords = passwords
        self._signer = signer
        self._mailer = mailer
        self._refresh_ttl = refresh_ttl
        self._verification_ttl = verification_ttl
        self._public_base_url = public_base_url.rstrip("/")

    async def register(self, email: str, password: str, full_name: str | None) -> SignedIn:
        """Create the account and sign it in; the verification email is sent separately."""
        password_hash = await self._passwords.hash(password)
        try:
            user = await self._users.create(normalise_email(email), password_hash, full_name)
        except EmailTakenError as error:
            raise EmailInUseError("An account with this email already exists") from error
        return await self._sign_in(user, family_id=uuid.uuid4())

    async def login(self, email: str, password: str) -> SignedIn:
        """Check the password and start a new login family.

        The account's throttle is asked first, so a locked account costs no password hash;
        a disabled one is told so only once the password is right.
        """
        email = normalise_email(email)
        await self._throttle.begin(email)
        user = await self._users.by_email(email)
        matches = await self._passwords.verify(user.password_hash if user else None, password)
        if user is None or not matches:
            raise InvalidCredentialsError("Wrong email or password")
        await self._throttle.succeeded(email)
        if user.disabled_at is not None:
            raise AccountDisabledError(DISABLED_MESSAGE)
        if self._passwords.needs_rehash(user.password_hash):
            await self._users.set_password_hash(user.id, await self._passwords.hash(password))
        return await self._sign_in(user, family_id=uuid.uuid4())

    async def refresh(self, refresh_token: str) -> SignedIn:
        """Spend the refresh token for a new pair; reuse revokes the whole family."""
        successor = new_refresh_token()
        rotation = await self._refresh_tokens.rotate(
            hash_refresh_token(refresh_token), successor.token_hash, self._refresh_expiry()
        )
        if rotation.outcome is RotationOutcome.UNKNOWN:
            raise TokenInvalidError("Invalid refresh token: sign in again")
        if rotation.outcome is RotationOutcome.EXPIRED:
            raise TokenExpiredError("Refresh token expired: sign in again")
        assert rotation.user_id is not None and rotation.family_id is not None
        user = await self._users.by_id(rotation.user_id)
        if user is not None and user.disabled_at is not None:
            if rotation.outcome is RotationOutcome.ROTATED:  # signed in as it was disabled
                await self._revocations.revoke_family(rotation.family_id)
            raise AccountDisabledError(DISABLED_MESSAGE)
        if rotation.outcome is RotationOutcome.REUSED:
            logger.warning("refresh token reused; family %s revoked", rotation.family_id)
            await self._revocations.family_revoked(rotation.family_id)
            raise RefreshTokenReusedError("Refresh token already used: sign in again")
        if user is None:
            raise TokenInvalidError("Account no longer exists")
        return SignedIn(
            user=user,
            access_token=self._signer.issue_access(user.id, user.role, rotation.family_id),
            refresh_token=successor.token,
            expires_in=int(self._signer.access_ttl.total_seconds()),
        )

    async def logout(self, principal: Principal, refresh_token: str | None) -> None:
        """Revoke the family of the given refresh token, or the caller's own login family;
        its access tokens end at once."""
        family_id: uuid.UUID | None = principal.family_id
        if refresh_token is not None:
            family_id = await self._refresh_tokens.family_of(
                hash_refresh_token(refresh_token), principal.user_id
            )
        if family_id is not None:
            await self._revocations.revoke_family(family_id)

    async def user(self, user_id: uuid.UUID) -> UserRecord | None:
        """The account, if it still exists."""
        return await self._users.by_id(user_id)

    async def send_verification_email(self, user: UserRecord) -> None:
        """Mail a signed, expiring link; delivery failures are logged, not raised."""
        token = self._signer.issue_email_verification(user.id, user.email, self._verification_ttl)
        link = f"{self._public_base_url}/api/v1/auth/verify-email?{urlencode({'token': token})}"
        email = Email(
            to=user.email,
            subject="Confirm your Monumento email address",
            text=f"Welcome to Monumento.\n\nConfirm your email address by opening:\n{link}\n",
        )
        try:
            await self._mailer.send(email)
        except Exception:
            logger.exception("could not send the verification email to %s", user.email)

    async def verify_email(self, token: str) -> UserRecord:
        """Mark the address in a valid verification token as verified."""
        user_id, email = self._signer.read_email_verification(token)
        user = await self._users.by_id(user_id)
        if user is None or user.email != email:
            raise TokenInvalidError("Invalid verification link")
        await self._users.mark_email_verified(user_id)
        return user

    async def _sign_in(self, user: UserRecord, family_id: uuid.UUID) -> SignedIn:
        issued = new_refresh_token()
        await self._refresh_tokens.issue(
            user.id, family_id, issued.token_hash, self._refresh_expiry()
        )
        return SignedIn(
            user=user,
            access_token=self._signer.issue_access(user.id, user.role, family_id),
            refresh_token=issued.token,
            expires_in=int(self._signer.access_ttl.total_seconds()),
        )

    def _refresh_expiry(self) -> datetime:
        return datetime.now(UTC) + self._refresh_ttl


def normalise_email(email: str) -> str:
    """Addresses compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()
