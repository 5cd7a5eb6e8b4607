"""`/sessions/{id}/messages`: the transcript lines of one of the caller's sessions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.bodies import read_model
from api.context import api_context
from api.errors import not_found
from api.pages import page_params, spring_page
from api.schemas import (
    MessageCreateRequest,
    MessageOut,
    MessageResponseOut,
    MessageUpdateRequest,
    dump,
    dump_rows,
)
from api.session_routes import owned_session, path_uuid


async def create_message(request: Request) -> JSONResponse:
    session = await owned_session(request)
    body = await read_model(request, MessageCreateRequest)
    record = await api_context(request).messages.add(
        session.id,
        role=body.role,
        text=body.text,
        relative_offset_ms=body.relative_offset,
        audio_url=body.audio_url,
        metadata=body.metadata,
    )
    return JSONResponse(dump(MessageOut.of(record)), status_code=201)


async def list_messages(request: Request) -> JSONResponse:
    session = await owned_session(request)
    store = api_context(request).messages
    if request.query_params.get("paged", "").lower() != "true":
        return JSONResponse(dump_rows(await store.all(session.id), MessageOut.of))
    page, size = page_params(request)
    records, total = await store.page(session.id, offset=page * size, limit=size)
    content = dump_rows(records, MessageOut.of)
    return JSONResponse(spring_page(content, page=page, size=size, total=total))


async def update_message(request: Request) -> JSONResponse:
    session = await owned_session(request)
    message_id = path_uuid(request, "message_id", "Message")
    body = await read_model(request, MessageUpdateRequest)
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    if "relative_offset" in changes:
        changes["relative_offset_ms"] = changes.pop("relative_offset")
    record = await api_context(request).messages.update(session.id, message_id, changes)
    if record is None:
        raise not_found("Message")
    return JSONResponse(dump(MessageOut.of(record)))


async def delete_message(request: Request) -> JSONResponse:
    session = await owned_session(request)
    message_id = path_uuid(request, "message_id", "Message")
    if not await api_context(request).messages.delete(session.id, message_id):
        raise not_found("Message")
    return JSONResponse(dump(MessageResponseOut(message="Message deleted")))


routes = [
    Route("/sessions/{session_id}/messages", create_message, methods=["POST"]),
    Route("/sessions/{session_id}/messages", list_messages, methods=["GET"]),
    Route("/sessions/{session_id}/messages/{message_id}", update_message, methods=["PUT"]),
    Route("/sessions/{session_id}/messages/{message_id}", delete_message, methods=["DELETE"]),
]
