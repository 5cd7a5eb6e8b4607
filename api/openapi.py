"""The OpenAPI 3.1 document of the REST API, built from the same models the endpoints use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api import media_schemas as m
from api import schemas as s

_REF = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented endpoint."""

    method: str
    path: str
    summary: str
    tag: str
    response: type[BaseModel] | None
    status: int = 200
    request: type[BaseModel] | None = None
    auth: bool = True
    shape: str = "one"  # "one", "list" or "page"; "file" or "redirect" (media, no JSON)
    query: tuple[str, ...] = ()
    errors: tuple[tuple[int, str], ...] = ()  # further error responses: (status, description)


_SESSION = "/sessions/{sessionId}"
_MESSAGE = "/sessions/{sessionId}/messages/{messageId}"
OPERATIONS = (
    Operation(
        "post",
        "/auth/register",
        "Create an account",
        "auth",
        s.AuthResponseOut,
        201,
        s.RegisterRequest,
        auth=False,
    ),
    Operation(
        "post",
        "/auth/login",
        "Sign in",
        "auth",
        s.AuthResponseOut,
        request=s.LoginRequest,
        auth=False,
        errors=(
            (401, "Wrong email or password (`invalid_credentials`)"),
            (403, "The account is disabled (`account_disabled`)"),
            (429, "Too many failed sign-ins to this account (`too_many_attempts`)"),
        ),
    ),
    Operation(
        "post",
        "/auth/refresh",
        "Trade a refresh token for a new pair",
        "auth",
        s.AuthResponseOut,
        request=s.RefreshRequest,
        auth=False,
        errors=(
            (401, "Invalid, expired or already used refresh token"),
            (403, "The account is disabled (`account_disabled`)"),
        ),
    ),
    Operation(
        "post",
        "/auth/logout",
        "Revoke the refresh token's family; its access tokens end at once",
        "auth",
        s.MessageResponseOut,
        request=s.LogoutRequest,
    ),
    Operation(
        "get",
        "/auth/verify-email",
        "Confirm an email address",
        "auth",
        s.MessageResponseOut,
        auth=False,
        query=("token",),
    ),
    Operation("get", "/auth/me", "The signed-in user", "auth", s.UserOut),
    Operation(
        "post",
        "/sessions",
        "Create a session",
        "sessions",
        s.SessionOut,
        201,
        s.SessionCreateRequest,
    ),
    Operation(
        "get",
        "/sessions",
        "The caller's sessions, newest first",
        "sessions",
        s.SessionOut,
        shape="page",
        query=("page", "size"),
    ),
    Operation("get", _SESSION, "One session", "sessions", s.SessionOut),
    Operation(
        "put",
        _SESSION,
        "Update a session",
        "sessions",
        s.SessionOut,
        request=s.SessionUpdateRequest,
    ),
    Operation(
        "patch",
        _SESSION,
        "Update a session",
        "sessions",
        s.SessionOut,
        request=s.SessionUpdateRequest,
    ),
    Operation("patch", f"{_SESSION}/metadata", "Merge into the metadata", "sessions", s.SessionOut),
    Operation(
        "delete",
        _SESSION,
        "Delete a session with its messages and media",
        "sessions",
        s.MessageResponseOut,
    ),
    Operation(
        "post",
        f"{_SESSION}/messages",
        "Add a transcript message",
        "messages",
        s.MessageOut,
        201,
        s.MessageCreateRequest,
    ),
    Operation(
        "get",
        f"{_SESSION}/messages",
        "The transcript, oldest first",
        "messages",
        s.MessageOut,
        shape="list",
        query=("paged", "page", "size"),
    ),
    Operation(
        "put",
        _MESSAGE,
        "Update a message",
        "messages",
        s.MessageOut,
        request=s.MessageUpdateRequest,
    ),
    Operation("delete", _MESSAGE, "Delete a message", "messages", s.MessageResponseOut),
    # Recorded media (api/media_routes.py)
    Operation(
        "get",
        f"{_SESSION}/recording",
        "The recording: tracks, outputs and their time-limited URLs",
        "media",
        m.RecordingOut,
    ),
    Operation(
        "get",
        f"{_SESSION}/recording/files/{{name}}",
        "Redirect to a fresh URL of one recorded file (a track or output name)",
        "media",
        None,
        307,
        shape="redirect",
    ),
    Operation(
        "get",
        "/media/{sessionId}/{path}",
        "A recorded file; the signature is the credential; byte ranges answer 206",
        "media",
        None,
        auth=False,
        shape="file",
        query=("expires", "signature"),
        errors=(
            (
                503,
                "The file is on another node's disk (`media_on_other_node`): local storage "
                "on several nodes needs one shared `DATA_DIR/media`",
            ),
        ),
    ),
)


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once)."""
    models = {model for op in OPERATIONS for model in (op.request, op.response) if model}
    models.add(s.ErrorOut)
    _, definitions = models_json_schema(
        [(model, "serialization") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template=_REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Monumento API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(op: Operation) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": _ref(s.ErrorOut)}}}
    body: dict[str, Any] = {"type": "object"}
    if op.response is not None:
        body = _ref(op.response)
        if op.shape == "list":
            body = {"type": "array", "items": body}
        elif op.shape == "page":
            body = {"type": "object", "properties": {"content": {"type": "array", "items": body}}}
    success: dict[str, Any] = {
        "description": "Success",
        "content": {"application/json": {"schema": body}},
    }
    if op.shape == "file":
        binary = {"schema": {"type": "string", "format": "binary"}}
        success["content"] = {"application/octet-stream": binary}
    elif op.shape == "redirect":
        success = {
            "description": "Redirect",
            "headers": {"Location": {"schema": {"type": "string"}}},
        }
    operation: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "responses": {
            str(op.status): success,
            "400": {"description": "Invalid input", **error},
        },
    }
    if op.auth:
        operation["security"] = [{"bearer": []}]
        operation["responses"]["401"] = {
            "description": "Missing, bad, expired or revoked token (`missing_token`,"
            " `invalid_token`, `token_expired`, `token_revoked`, `account_disabled`)",
            **error,
        }
    for status, description in op.errors:
        operation["responses"][str(status)] = {"description": description, **error}
        if status == 429:
            retry_after = {"description": "Seconds to wait", "schema": {"type": "integer"}}
            operation["responses"]["429"]["headers"] = {"Retry-After": retry_after}
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
        for name in ("sessionId", "messageId")
        if f"{{{name}}}" in op.path
    ]
    parameters += [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("name", "path")
        if f"{{{name}}}" in op.path
    ]
    parameters += [{"name": name, "in": "query", "schema": {"type": "string"}} for name in op.query]
    if parameters:
        operation["parameters"] = parameters
    if op.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.request)}},
        }
    elif op.path.endswith("/metadata"):
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return operation


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


async def openapi_json(_request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
