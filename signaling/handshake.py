"""The opening both sockets share: accept, check the page's `Origin`, read the caller's token.

Browsers cannot set headers on a WebSocket, so they pass the access token as a subprotocol:
`new WebSocket(url, ["monumento", "bearer." + accessToken])`. The server accepts with
`monumento` and never echoes the token; `?token=` and `Authorization: Bearer` work too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from starlette.websockets import WebSocket

from api.identity import auth_refusal, optional_principal
from auth.errors import AccountDisabledError, TokenExpiredError, TokenRevokedError
from auth.roles import Principal
from correlation import bind_session
from rtc.events import error_event
from signaling.origins import OriginPolicy
from signaling.quota import SocketQuota

SUBPROTOCOL = "monumento"
SIGN_IN = (
    "Sign in first: offer the subprotocols monumento and bearer.<access token> "
    "(or pass ?token=<access token>)"
)


@dataclass(frozen=True, slots=True)
class SocketPolicy:
    """Who may open sockets from where, and how many: one per app, shared by both sockets."""

    origins: OriginPolicy
    quota: SocketQuota


async def refuse(websocket: WebSocket, code: str, message: str, close_code: int) -> None:
    """Tell the client why, then close the socket."""
    await websocket.send_json(error_event(message, code))
    await websocket.close(close_code, message[:120])


def session_id_of(websocket: WebSocket) -> uuid.UUID | None:
    """The session id in the path, if it is a UUID (then the socket's log lines, error
    reports and the interview it starts name it)."""
    try:
        session_id = uuid.UUID(websocket.path_params["session_id"])
    except ValueError:
        return None
    bind_session(session_id)
    return session_id


async def open_socket(websocket: WebSocket, policy: SocketPolicy) -> Principal | None:
    """Accept the socket and return the caller, or None after refusing it (4403, 4401)."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    if not policy.origins.allows(
        websocket.headers.get("origin"),
        scheme=websocket.url.scheme,
        host=websocket.headers.get("host"),
    ):
        await refuse(
            websocket,
            "forbidden_origin",
            "This page's origin may not open the socket: add it to CORS_ORIGINS",
            4403,
        )
        return None
    principal = optional_principal(websocket)
    if principal is not None:
        return principal
    problem = getattr(websocket.state, "auth_problem", None)
    if isinstance(problem, TokenExpiredError):
        await refuse(websocket, "token_expired", "Your sign-in expired: refresh and rejoin", 4401)
    elif isinstance(problem, TokenRevokedError | AccountDisabledError):
        await refuse(websocket, *auth_refusal(websocket), 4401)
    else:
        await refuse(websocket, "unauthorized", SIGN_IN, 4401)
    return None
