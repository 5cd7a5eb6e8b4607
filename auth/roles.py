"""Roles and the access rules that depend on them, all in this one place."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Role(enum.StrEnum):
    """What a user may do beyond their own sessions."""

    USER = "user"
    DIRECTOR = "director"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as proven by an access token."""

    user_id: uuid.UUID
    role: Role
    family_id: uuid.UUID


def may_own(principal: Principal, owner_id: uuid.UUID) -> bool:
    """Read, change or join a session: its owner only (others get a 404, not a 403)."""
    return principal.user_id == owner_id


def may_direct(principal: Principal, owner_id: uuid.UUID) -> bool:
    """Steer a live interview: its owner, a director or an admin."""
    return may_own(principal, owner_id) or principal.role in (Role.DIRECTOR, Role.ADMIN)
