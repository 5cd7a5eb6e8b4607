"""Who is calling: the access token is read once per request, by a middleware."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError
from auth.accounts import DISABLED_MESSAGE
from auth.errors import (
    AccountDisabledError,
    AuthError,
    TokenError,
    TokenExpiredError,
    TokenRevokedError,
)
from auth.revocations import Revocations
from auth.roles import Principal
from auth.tokens import TokenSigner
from store.refresh_tokens import FamilyStatus

_MISSING = "missing"
QUERY_TOKEN_PATH = "/recording/files/"
BEARER_SUBPROTOCOL = "bearer."
REVOKED_MESSAGE = "You signed out on this device, or your sign-in was revoked: sign in again"


class IdentityMiddleware:
    """Puts the caller's `Principal` (or why there is none) into the request state.

    The token comes from `Authorization: Bearer …`; where a browser cannot set headers, from a
    WebSocket subprotocol `bearer.<token>` (kept out of URLs and so out of logs), or from the
    `token` query parameter: WebSockets, and the recording's file links (`<video src>`).
    A token of a revoked login family, or of a disabled account, proves nobody.
    """

    def __init__(self, app: ASGIApp, signer: TokenSigner, revocations: Revocations) -> None:
        self.app = app
        self.signer = signer
        self.revocations = revocations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            state = scope.setdefault("state", {})
            token = bearer_token(HTTPConnection(scope))
            if token is None:
                state["principal"], state["auth_problem"] = None, _MISSING
            else:
                try:
                    state["principal"], state["auth_problem"] = await self._identify(token), None
                except AuthError as error:
                    state["principal"], state["auth_problem"] = None, error
        await self.app(scope, receive, send)

    async def _identify(self, token: str) -> Principal:
        principal = self.signer.read_access(token)
        status = await self.revocations.status(principal.family_id)
        if status is FamilyStatus.DISABLED:
            raise AccountDisabledError(DISABLED_MESSAGE)
        if status is FamilyStatus.REVOKED:
            raise TokenRevokedError(REVOKED_MESSAGE)
        return principal


def bearer_token(connection: HTTPConnection) -> str | None:
    """The access token the client sent, if any."""
    header = connection.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if connection.scope["type"] == "websocket":
        for subprotocol in connection.scope.get("subprotocols") or []:
            if subprotocol.startswith(BEARER_SUBPROTOCOL) and subprotocol != BEARER_SUBPROTOCOL:
                return str(subprotocol[len(BEARER_SUBPROTOCOL) :])
    if connection.scope["type"] == "websocket" or QUERY_TOKEN_PATH in connection.url.path:
        return connection.query_params.get("token") or None
    return None


def optional_principal(connection: HTTPConnection) -> Principal | None:
    """The caller, if a valid token came with the request."""
    principal = getattr(connection.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def auth_refusal(connection: HTTPConnection) -> tuple[str, str]:
    """Why the caller has no principal: the error code and what to do about it."""
    problem = getattr(connection.state, "auth_problem", _MISSING)
    if isinstance(problem, TokenExpiredError):
        return "token_expired", str(problem)
    if isinstance(problem, TokenRevokedError):
        return "token_revoked", str(problem)
    if isinstance(problem, AccountDisabledError):
        return "account_disabled", str(problem)
    if isinstance(problem, TokenError):
        return "invalid_token", str(problem)
    return "missing_token", "Sign in first: send Authorization: Bearer <token>"


def require_principal(connection: HTTPConnection) -> Principal:
    """The caller, or a 401 saying what to do about the token."""
    principal = optional_principal(connection)
    if principal is not None:
        return principal
    code, message = auth_refusal(connection)
    raise ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})
