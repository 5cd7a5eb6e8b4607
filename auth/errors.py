"""The auth exception tree: `AuthError` → credential, token and account problems."""


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


class EmailInUseError(AuthError):
    """Registration with an address that already has an account."""
