"""The tables. Alembic migrations create them; this module is what queries are built from."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    false,
)

from store.types import JsonDocument, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ROLES = ("user", "director", "admin")
SESSION_STATUSES = ("created", "live", "processing", "ready", "failed")
MESSAGE_ROLES = ("user", "ai")

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("full_name", String(200)),
    Column("avatar_url", Text),
    Column("subscription_tier", String(32), nullable=False, server_default="free"),
    Column("role", String(16), nullable=False, server_default="user"),
    Column("email_verified", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime),
    CheckConstraint("role IN ('user', 'director', 'admin')", name="role"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("family_id", Uuid, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Index(None, "family_id"),
    Index(None, "user_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("vibe", String(64), nullable=False),
    Column("mode", String(32), nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default="created"),
    Column("video_url", Text),
    Column("transcript_url", Text),
    Column("summary", Text),
    Column("summary_generated_at", UtcDateTime),
    Column("metadata", JsonDocument, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("progress", Float),
    Column("started_at", UtcDateTime),  # set once, when the interview starts
    CheckConstraint(
        "status IN ('created', 'live', 'processing', 'ready', 'failed')", name="status"
    ),
    Index(None, "user_id", "created_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(8), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("relative_offset_ms", BigInteger),
    Column("audio_url", Text),
    Column("metadata", JsonDocument, nullable=False),
    CheckConstraint("role IN ('user', 'ai')", name="role"),
    Index(None, "session_id", "created_at"),
)

director_notes = Table(
    "director_notes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="SET NULL")),
    Column("kind", String(8), nullable=False),
    Column("text", Text, nullable=False),
    Column("now", Boolean, nullable=False, server_default=false()),
    Column("relative_offset_ms", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("kind IN ('inject', 'topics')", name="kind"),
    Index(None, "session_id", "relative_offset_ms"),
)

recordings = Table(
    "recordings",
    metadata,
    # The recorder's manifest mirrored for every node (store/recordings.py says why).
    Column("session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("node_id", String(128), nullable=False),
    Column("manifest", JsonDocument, nullable=False),
    Column("files", JsonDocument, nullable=False),
    Column("mirrored", JsonDocument, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
