"""Request and response bodies, camelCase on the wire, as in CONTRACT.md."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from store.messages import MessageRecord
from store.sessions import SessionRecord
from store.users import UserRecord
from wire.json_input import JsonRefused, check_document, encoded_size

logger = logging.getLogger(__name__)

Vibe = Literal[
    "The Historian", "The Celebrator", "The Journalist", "The Jester", "The Roast Master"
]
Mode = Literal["Auto-Pilot", "Director Mode"]
DurationMinutes = Literal[5, 20, 60]
SessionStatus = Literal["created", "live", "processing", "ready", "failed"]
MessageRole = Literal["user", "ai"]
MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer a JavaScript client reads exactly: the bound of every integer field."""
MAX_METADATA_BYTES = 32 * 1024
"""Stored metadata, as compact JSON, may take at most this much."""


def _web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http or https URL")
    return value


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    check_metadata(value)
    return value


def check_metadata(value: dict[str, Any]) -> None:
    """Refuse metadata too deep or too large to store (`JsonRefused`, a ValueError)."""
    check_document(value)
    if encoded_size(value) > MAX_METADATA_BYTES:
        raise JsonRefused(
            "metadata_too_large",
            f"metadata may take at most {MAX_METADATA_BYTES // 1024} KiB as JSON",
        )


Url = Annotated[str, Field(max_length=2048), AfterValidator(_web_url)]
Metadata = Annotated[dict[str, Any], AfterValidator(_bounded_metadata)]
Offset = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


IsoDateTime = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str)]


class CamelModel(BaseModel):
    """camelCase aliases; unknown fields are ignored, as the old backend did."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# Requests


class RegisterRequest(CamelModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=1024)
    full_name: str | None = Field(default=None, max_length=200)


class LoginRequest(CamelModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(CamelModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class LogoutRequest(CamelModel):
    refresh_token: str | None = Field(default=None, max_length=512)


class SessionCreateRequest(CamelModel):
    vibe: Vibe
    mode: Mode
    duration_minutes: DurationMinutes
    video_url: Url | None = None
    metadata: Metadata | None = None


SERVER_OWNED_AFTER_START = (
    "Applied only before the session's interview starts; from then on the server's, and a "
    "value sent here is ignored (the rest of the request still applies)"
)


class SessionUpdateRequest(CamelModel):
    """Every field optional; a field sent as null is left as it is. `status`, `videoUrl` and
    `transcriptUrl` are the server's once the interview has started (CONTRACT.md)."""

    vibe: Vibe | None = None
    mode: Mode | None = None
    duration_minutes: DurationMinutes | None = None
    status: SessionStatus | None = Field(default=None, description=SERVER_OWNED_AFTER_START)
    video_url: Url | None = Field(default=None, description=SERVER_OWNED_AFTER_START)
    transcript_url: Url | None = Field(default=None, description=SERVER_OWNED_AFTER_START)
    summary: str | None = Field(default=None, max_length=100_000)
    metadata: Metadata | None = None


class MessageCreateRequest(CamelModel):
    role: MessageRole
    text: str = Field(min_length=1, max_length=100_000)
    relative_offset: Offset | None = None
    audio_url: Url | None = None
    metadata: Metadata | None = None


class MessageUpdateRequest(CamelModel):
    """Non-null fields are applied; the others are left as they are."""

    text: str | None = Field(default=None, min_length=1, max_length=100_000)
    relative_offset: Offset | None = None
    audio_url: Url | None = None
    metadata: Metadata | None = None


# Responses


class UserOut(CamelModel):
    id: uuid.UUID
    email: str
    full_name: str | None
    avatar_url: str | None
    subscription_tier: str
    role: str
    email_verified: bool
    created_at: IsoDateTime

    @classmethod
    def of(cls, record: UserRecord) -> UserOut:
        return cls(
            id=record.id,
            email=record.email,
            full_name=record.full_name,
            avatar_url=record.avatar_url,
            subscription_tier=record.subscription_tier,
            role=record.role,
            email_verified=record.email_verified,
            created_at=record.created_at,
        )


class AuthResponseOut(CamelModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    user: UserOut


class SessionOut(CamelModel):
    id: uuid.UUID
    user_id: uuid.UUID
    vibe: str
    mode: str
    duration_minutes: int
    duration: int
    status: str
    video_url: str | None
    transcript_url: str | None
    summary: str | None
    summary_generated_at: IsoDateTime | None
    metadata: dict[str, Any]
    created_at: IsoDateTime
    updated_at: IsoDateTime
    progress: float | None = Field(
        description="While status is processing: how far finalisation has come, 0 to 1"
    )

    @classmethod
    def of(cls, record: SessionRecord) -> SessionOut:
        return cls(
            id=record.id,
            user_id=record.user_id,
            vibe=record.vibe,
            mode=record.mode,
            duration_minutes=record.duration_minutes,
            duration=record.duration_minutes,
            status=record.status,
            video_url=record.video_url,
            transcript_url=record.transcript_url,
            summary=record.summary,
            summary_generated_at=record.summary_generated_at,
            metadata=record.metadata,
            created_at=record.created_at,
            updated_at=record.updated_at,
            progress=record.progress,
        )


class MessageOut(CamelModel):
    id: uuid.UUID
    session_id: uuid.UUID
    role: str
    text: str
    timestamp: int = Field(description="When the message was stored, in ms since the epoch")
    relative_offset: int | None = Field(
        description="ms from the start of the interview's recording"
    )
    audio_url: str | None
    metadata: dict[str, Any]

    @classmethod
    def of(cls, record: MessageRecord) -> MessageOut:
        return cls(
            id=record.id,
            session_id=record.session_id,
            role=record.role,
            text=record.text,
            timestamp=int(record.created_at.timestamp() * 1000),
            relative_offset=record.relative_offset_ms,
            audio_url=record.audio_url,
            metadata=record.metadata,
        )


class MessageResponseOut(CamelModel):
    message: str


class ErrorOut(CamelModel):
    error: str
    code: str
    field: str | None = None


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form of a response model."""
    return model.model_dump(mode="json", by_alias=True)


Row = TypeVar("Row", SessionRecord, MessageRecord)


def dump_rows(rows: Iterable[Row], out: Callable[[Row], BaseModel]) -> list[dict[str, Any]]:
    """Each row's wire form. A row whose metadata cannot be serialised (stored before the
    limits existed) is listed with empty metadata, so one row never fails the whole list."""
    dumped = []
    for row in rows:
        try:
            dumped.append(dump(out(row)))
        except (ValueError, RecursionError):
            logger.warning(
                "listing %s %s without its unreadable metadata", type(row).__name__, row.id
            )
            dumped.append(dump(out(dataclasses.replace(row, metadata={}))))
    return dumped
