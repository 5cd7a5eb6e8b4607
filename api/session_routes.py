"""`/sessions`: the caller's interview sessions (another user's are reported as missing)."""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.bodies import read_json_object, read_model
from api.context import api_context
from api.errors import ApiError, not_found
from api.identity import require_principal
from api.pages import page_params, spring_page
from api.schemas import (
    MessageResponseOut,
    SessionCreateRequest,
    SessionOut,
    SessionUpdateRequest,
    check_metadata,
    dump,
    dump_rows,
)
from correlation import bind_session
from store.sessions import SessionRecord
from wire.json_input import JsonRefused

SESSIONS_CREATED = Counter("monumento_sessions_created", "Interview sessions created.")


def path_uuid(request: Request, name: str, what: str) -> uuid.UUID:
    """A UUID path parameter; anything else is a 404 for `what`."""
    try:
        value = uuid.UUID(request.path_params[name])
    except ValueError as error:
        raise not_found(what) from error
    if name == "session_id":
        bind_session(value)  # the request's log lines and error reports name it
    return value


async def owned_session(request: Request) -> SessionRecord:
    """The session named in the path if the caller owns it, else 404."""
    principal = require_principal(request)
    session_id = path_uuid(request, "session_id", "Session")
    record = await api_context(request).sessions.get_owned(session_id, principal.user_id)
    if record is None:
        raise not_found("Session")
    return record


async def create_session(request: Request) -> JSONResponse:
    principal = require_principal(request)
    body = await read_model(request, SessionCreateRequest)
    record = await api_context(request).sessions.create(
        principal.user_id,
        vibe=body.vibe,
        mode=body.mode,
        duration_minutes=body.duration_minutes,
        video_url=body.video_url,
        metadata=body.metadata or {},
    )
    SESSIONS_CREATED.inc()
    bind_session(record.id)
    return JSONResponse(dump(SessionOut.of(record)), status_code=201)


async def list_sessions(request: Request) -> JSONResponse:
    principal = require_principal(request)
    page, size = page_params(request)
    records, total = await api_context(request).sessions.list_owned(
        principal.user_id, offset=page * size, limit=size
    )
    content = dump_rows(records, SessionOut.of)
    return JSONResponse(spring_page(content, page=page, size=size, total=total))


async def get_session(request: Request) -> JSONResponse:
    return JSONResponse(dump(SessionOut.of(await owned_session(request))))


async def update_session(request: Request) -> JSONResponse:
    principal = require_principal(request)
    session_id = path_uuid(request, "session_id", "Session")
    body = await read_model(request, SessionUpdateRequest)
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    record = await api_context(request).sessions.update_owned(
        session_id, principal.user_id, changes
    )
    if record is None:
        raise not_found("Session")
    return JSONResponse(dump(SessionOut.of(record)))


async def merge_metadata(request: Request) -> JSONResponse:
    principal = require_principal(request)
    session_id = path_uuid(request, "session_id", "Session")
    patch = await read_json_object(request)
    try:
        record = await api_context(request).sessions.merge_metadata_owned(
            session_id, principal.user_id, patch, check=check_metadata
        )
    except JsonRefused as error:
        raise ApiError(400, error.code, f"metadata: {error}", field="metadata") from error
    if record is None:
        raise not_found("Session")
    return JSONResponse(dump(SessionOut.of(record)))


async def delete_session(request: Request) -> JSONResponse:
    principal = require_principal(request)
    session_id = path_uuid(request, "session_id", "Session")
    if not await api_context(request).sessions.delete_owned(session_id, principal.user_id):
        raise not_found("Session")
    await api_context(request).media.delete_session(session_id)
    return JSONResponse(dump(MessageResponseOut(message="Session deleted")))


routes = [
    Route("/sessions", create_session, methods=["POST"]),
    Route("/sessions", list_sessions, methods=["GET"]),
    Route("/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/sessions/{session_id}", update_session, methods=["PUT", "PATCH"]),
    Route("/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/sessions/{session_id}/metadata", merge_metadata, methods=["PATCH"]),
]
