"""Time-limited signed media URLs: HMAC-SHA256 over (path, expiry), checked in constant time.

A signed URL carries `expires` (Unix seconds) and `signature`, the URL-safe base64 (no
padding) of HMAC-SHA256 over `"{path}\\n{expires}"`, where `path` is the media path as the
router decodes it: `{session_id}/{relative path}`. `expires` is digits only and comes last,
so no two (path, expiry) pairs share a message.

The key is derived from the JWT secret with a fixed label, so media URLs need no secret of
their own, and a media signature is never also a valid token signature (or the reverse).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

_KEY_LABEL = b"monumento/media-url/v1"
_MAX_EXPIRES_DIGITS = 12  # Unix seconds until the year 33658: anything longer is forged


class MediaUrlError(Exception):
    """A media URL that does not grant access; `code` is the API's error code for it."""

    code = "invalid_signature"


class InvalidSignatureError(MediaUrlError):
    """The signature is missing, malformed, or does not match the path and expiry."""

    code = "invalid_signature"


class UrlExpiredError(MediaUrlError):
    """A genuine URL whose time is up."""

    code = "url_expired"


class MediaSigner:
    """Signs media paths for `ttl_seconds` and verifies what comes back."""

    def __init__(
        self, secret: str, ttl_seconds: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = hmac.new(secret.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def query(self, path: str) -> str:
        """The query string (`expires=…&signature=…`) that grants `path` for the TTL."""
        expires = int(self._clock()) + self.ttl_seconds
        return urlencode({"expires": expires, "signature": self._mac(path, str(expires))})

    def verify(self, path: str, expires: str | None, signature: str | None) -> None:
        """Pass if the URL was signed here for `path` and has not expired; raise otherwise."""
        if (
            not expires
            or not signature
            or not expires.isascii()
            or not expires.isdigit()
            or len(expires) > _MAX_EXPIRES_DIGITS
        ):
            raise InvalidSignatureError(
                "This media link is incomplete or altered: request a new one from the recording"
            )
        expected = self._mac(path, expires).encode("ascii")
        if not hmac.compare_digest(expected, signature.encode("utf-8")):
            raise InvalidSignatureError(
                "This media link is not valid: request a new one from the recording"
            )
        if int(expires) <= self._clock():
            raise UrlExpiredError("This media link has expired: fetch the recording again")

    def _mac(self, path: str, expires: str) -> str:
        message = f"{path}\n{expires}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
