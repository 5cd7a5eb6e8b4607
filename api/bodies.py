"""Reading JSON request bodies into models, with errors that name the offending field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from api.errors import ApiError
from wire.json_input import JsonRefused, parse_json

Model = TypeVar("Model", bound=BaseModel)
MAX_BODY_BYTES = 1 << 20


async def read_capped_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit`: by its declared
    `Content-Length` before a byte is read, else (chunked) while it streams in, so a hostile
    100 MB body costs at most `limit` bytes of memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"Request body is over the limit of {limit:,} bytes: send less"
    )


async def read_json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object (`{}` for an empty optional body)."""
    body = await read_capped_body(request)
    if not body.strip():
        if optional:
            return {}
        raise ApiError(400, "invalid_body", "Request body is empty: send a JSON object")
    try:
        document = parse_json(body)
    except JsonRefused as error:
        raise ApiError(400, error.code, f"Request body: {error}") from error
    if not isinstance(document, dict):
        raise ApiError(400, "invalid_body", "Request body must be a JSON object")
    return document


async def read_model(request: Request, model: type[Model], *, optional: bool = False) -> Model:
    """The body validated against `model`; 400 naming the first bad field otherwise."""
    return validate(model, await read_json_object(request, optional=optional))


def validate(model: type[Model], document: dict[str, Any]) -> Model:
    """`document` validated against `model`; 400 naming the first bad field otherwise."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise validation_error(error) from error


def validation_error(error: ValidationError) -> ApiError:
    """A 400 whose message and `field` name the first problem; `fields` lists them all."""
    problems = [
        {"field": ".".join(str(part) for part in issue["loc"]) or "body", "message": issue["msg"]}
        for issue in error.errors(include_url=False)
    ]
    first = problems[0]
    return ApiError(
        400,
        "validation_error",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        fields=problems,
    )
