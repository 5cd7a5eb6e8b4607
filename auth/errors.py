"""The auth exception tree: `AuthError` → credential, token and account problems.

AuthError
├── InvalidCredentialsError
├── TokenError
│   ├── TokenExpiredError
│   └── TokenInvalidError
│       ├── RefreshTokenReusedError
│       └── TokenRevokedError
├── AccountDisabledError
├── TooManyAttemptsError
└── EmailInUseError
"""


class AuthError(Exception):
    """Base of every auth failure; the message is safe to show to the user."""


class InvalidCredentialsError(AuthError):
    """Email and password do not match an account."""


class TokenError(AuthError):
    """A token could not be accepted."""


class TokenExpiredError(TokenError):
    """The token was valid once but its time is up."""


class TokenInvalidError(TokenError):
    """The token is malformed, forged, of the wrong kind or revoked."""


class RefreshTokenReusedError(TokenInvalidError):
    """A spent refresh token came back: its whole family has been revoked."""


class TokenRevokedError(TokenInvalidError):
    """The token's login family was revoked (logout, reuse, a password change)."""


class AccountDisabledError(AuthError):
    """The account is disabled: it may not sign in, and its tokens no longer count."""


class TooManyAttemptsError(AuthError):
    """Sign-ins to this account are locked for a while after repeated failures."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EmailInUseError(AuthError):
    """Registration with an address that already has an account."""
