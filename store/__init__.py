"""Persistence: SQLAlchemy Core tables, Alembic migrations and one store per aggregate."""

from store.database import Database
from store.errors import EmailTakenError, StoreError

__all__ = ["Database", "EmailTakenError", "StoreError"]
