"""Which web pages may open a socket: a browser always says (`Origin`), a native app never.

Cookies are not used, so a hostile page cannot ride a signed-in browser's credentials; the
check still keeps other sites' pages off the sockets, as CORS keeps them off the REST API.
"""

from __future__ import annotations

from collections.abc import Iterable


class OriginPolicy:
    """`CORS_ORIGINS` (`*` allows any), the server's own pages, and clients without `Origin`."""

    def __init__(self, allowed: Iterable[str]) -> None:
        origins = {origin.strip().rstrip("/").lower() for origin in allowed}
        self._any = "*" in origins
        self._allowed = frozenset(origins)

    def allows(self, origin: str | None, *, scheme: str, host: str | None) -> bool:
        """Whether a handshake from `origin` to `host` (over `scheme`, ws or wss) may go on."""
        if origin is None:
            return True
        origin = origin.strip().rstrip("/").lower()
        if self._any or origin in self._allowed:
            return True
        page_scheme = "https" if scheme in ("wss", "https") else "http"
        return host is not None and origin == f"{page_scheme}://{host.strip().lower()}"
