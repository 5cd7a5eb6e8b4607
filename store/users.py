"""Users: accounts, their password hashes, roles and email verification."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.exc import IntegrityError

from store.database import Database
from store.errors import EmailTakenError
from store.schema import users
from store.types import utc_now


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One row of `users`."""

    id: uuid.UUID
    email: str
    password_hash: str
    full_name: str | None
    avatar_url: str | None
    subscription_tier: str
    role: str
    email_verified: bool
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None = None


class UserStore:
    """Reads and writes `users`."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine

    async def create(self, email: str, password_hash: str, full_name: str | None) -> UserRecord:
        """Insert a new user; `EmailTakenError` if the address is in use."""
        now = utc_now()
        statement = (
            insert(users)
            .values(
                id=uuid.uuid4(),
                email=email,
                password_hash=password_hash,
                full_name=full_name,
                created_at=now,
                updated_at=now,
            )
            .returning(*users.c)
        )
        try:
            async with self._engine.begin() as connection:
                row = (await connection.execute(statement)).one()
        except IntegrityError as error:
            raise EmailTakenError(email) from error
        return UserRecord(**row._mapping)

    async def by_email(self, email: str) -> UserRecord | None:
        """The user with this (normalised) email address."""
        return await self._one(select(users).where(users.c.email == email))

    async def by_id(self, user_id: uuid.UUID) -> UserRecord | None:
        """The user with this id."""
        return await self._one(select(users).where(users.c.id == user_id))

    async def mark_email_verified(self, user_id: uuid.UUID) -> bool:
        """Record that the user proved they own their address; False if no such user."""
        return await self._update(user_id, email_verified=True)

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> bool:
        """Replace the stored hash (after a parameter upgrade)."""
        return await self._update(user_id, password_hash=password_hash)

    async def set_role(self, email: str, role: str) -> bool:
        """Give the user with this email a role; False if no such user."""
        statement = (
            update(users).where(users.c.email == email).values(role=role, updated_at=utc_now())
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1

    async def set_disabled(self, email: str, disabled: bool) -> uuid.UUID | None:
        """Disable (or enable again) the account with this email; its id, or None if none."""
        now = utc_now()
        statement = (
            update(users)
            .where(users.c.email == email)
            .values(disabled_at=now if disabled else None, updated_at=now)
            .returning(users.c.id)
        )
        async with self._engine.begin() as connection:
            user_id: uuid.UUID | None = (await connection.execute(statement)).scalar_one_or_none()
        return user_id

    async def _update(self, user_id: uuid.UUID, **values: object) -> bool:
        statement = (
            update(users).where(users.c.id == user_id).values(**values, updated_at=utc_now())
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(statement)).rowcount == 1

    async def _one(self, statement: Select[Any]) -> UserRecord | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(statement)).one_or_none()
        return None if row is None else UserRecord(**row._mapping)
