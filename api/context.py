"""What the REST layer needs from the rest of the server, handed in by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from auth.accounts import Accounts
from media.catalog import RecordingCatalog
from media.signing import MediaSigner
from media.storage import MediaStorage
from store.database import Database
from store.messages import MessageStore
from store.sessions import SessionStore

ReadinessCheck = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The services behind the endpoints; one per running app."""

    database: Database
    accounts: Accounts
    sessions: SessionStore
    messages: MessageStore
    readiness_checks: dict[str, ReadinessCheck]
    # True once SIGTERM drains the node: `/readyz` answers 503 so new guests go elsewhere.
    draining: Callable[[], bool]
    # Recorded media (api/media_routes.py): where it is kept, and the signer of its URLs.
    media: MediaStorage
    media_signer: MediaSigner
    recordings: RecordingCatalog  # any node's recordings, as their manifests say


def api_context(connection: HTTPConnection) -> ApiContext:
    """The context of the app serving this request or WebSocket."""
    context = connection.app.state.api
    assert isinstance(context, ApiContext)
    return context
