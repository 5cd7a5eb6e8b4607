"""Refresh tokens, stored only as hashes and grouped in families for reuse detection."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Update, func, insert, select, update

from store.database import Database
from store.schema import refresh_tokens, users
from store.types import utc_now


class RotationOutcome(enum.Enum):
    """What presenting a refresh token led to."""

    ROTATED = "rotated"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REUSED = "reused"


class FamilyStatus(enum.StrEnum):
    """Whether the access tokens of a login family still count."""

    LIVE = "live"
    REVOKED = "revoked"
    DISABLED = "disabled"  # the account is disabled: every family of it is dead


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome, and for a rotation the user and family the new token belongs to."""

    outcome: RotationOutcome
    user_id: uuid.UUID | None = None
    family_id: uuid.UUID | None = None


class RefreshTokenStore:
    """Reads and writes `refresh_tokens`."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine

    async def issue(
        self, user_id: uuid.UUID, family_id: uuid.UUID, token_hash: str, expires_at: datetime
    ) -> None:
        """Store a new token of the family."""
        async with self._engine.begin() as connection:
            await connection.execute(
                insert(refresh_tokens).values(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    family_id=family_id,
                    token_hash=token_hash,
                    created_at=utc_now(),
                    expires_at=expires_at,
                )
            )

    async def rotate(self, token_hash: str, new_hash: str, new_expires_at: datetime) -> Rotation:
        """Spend a token and store its successor atomically.

        A token spent before (or raced by a second request) means it leaked: the whole
        family is revoked, so whoever holds its newest member is logged out too.
        """
        now = utc_now()
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(
                    select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
                )
            ).one_or_none()
            if row is None:
                return Rotation(RotationOutcome.UNKNOWN)
            if row.revoked_at is not None:
                return Rotation(RotationOutcome.REUSED, row.user_id, row.family_id)
            if row.expires_at <= now and row.used_at is None:
                return Rotation(RotationOutcome.EXPIRED, row.user_id, row.family_id)
            spent = await connection.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.id == row.id,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.revoked_at.is_(None),
                )
                .values(used_at=now)
            )
            if spent.rowcount != 1:
                await connection.execute(_revoke_family(row.family_id, now))
                return Rotation(RotationOutcome.REUSED, row.user_id, row.family_id)
            await connection.execute(
                insert(refresh_tokens).values(
                    id=uuid.uuid4(),
                    user_id=row.user_id,
                    family_id=row.family_id,
                    token_hash=new_hash,
                    created_at=now,
                    expires_at=new_expires_at,
                )
            )
            return Rotation(RotationOutcome.ROTATED, row.user_id, row.family_id)

    async def revoke_family(self, family_id: uuid.UUID) -> None:
        """Revoke every token of the family (logout, or detected reuse)."""
        async with self._engine.begin() as connection:
            await connection.execute(_revoke_family(family_id, utc_now()))

    async def revoke_user(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        """Revoke every family of the user; the families that still had unexpired tokens."""
        now = utc_now()
        live = (
            select(refresh_tokens.c.family_id)
            .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.expires_at > now)
            .distinct()
        )
        async with self._engine.begin() as connection:
            families = list((await connection.execute(live)).scalars())
            await connection.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return families

    async def family_status(self, family_id: uuid.UUID) -> FamilyStatus:
        """What the database says of a family's access tokens.

        One revoked token revokes the family (a rotation racing a revocation may leave a
        successor unmarked); a family without tokens belongs to a deleted account.
        """
        statement = (
            select(users.c.disabled_at, func.count(refresh_tokens.c.revoked_at))
            .select_from(refresh_tokens.join(users, users.c.id == refresh_tokens.c.user_id))
            .where(refresh_tokens.c.family_id == family_id)
            .group_by(users.c.disabled_at)
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(statement)).first()
        if row is None:
            return FamilyStatus.REVOKED
        disabled_at, revoked = row
        if disabled_at is not None:
            return FamilyStatus.DISABLED
        return FamilyStatus.REVOKED if revoked else FamilyStatus.LIVE

    async def family_of(self, token_hash: str, user_id: uuid.UUID) -> uuid.UUID | None:
        """The family of this user's token, or None if it is not theirs."""
        statement = select(refresh_tokens.c.family_id).where(
            refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.user_id == user_id
        )
        async with self._engine.connect() as connection:
            return (await connection.execute(statement)).scalar_one_or_none()


def _revoke_family(family_id: uuid.UUID, now: datetime) -> Update:
    return (
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
