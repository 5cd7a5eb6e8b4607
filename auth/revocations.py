"""Which login families still count: the database decides, a cache answers each request.

Every revocation is of whole families (an access token names its family in `fam`): logout
revokes one, a reused refresh token its own, disabling an account all of the user's. The
cache is read through (a miss asks the database) and written through on every revocation,
so the node that revokes, and with Redis every node, refuses the family's tokens at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from store.refresh_tokens import FamilyStatus, RefreshTokenStore
from store.users import UserStore


class RevocationCache(Protocol):
    """Remembers families' statuses for a short while."""

    async def get(self, family_id: uuid.UUID) -> FamilyStatus | None:
        """The cached status, or None on a miss."""
        ...

    async def remember(self, family_id: uuid.UUID, status: FamilyStatus) -> None:
        """Cache what the database said, unless a revocation got there first."""
        ...

    async def mark(self, family_ids: Sequence[uuid.UUID], status: FamilyStatus) -> None:
        """Overwrite: these families were just revoked (or their account disabled)."""
        ...


class Revocations:
    """Answers "does this family still count?" and carries out revocations."""

    def __init__(
        self, refresh_tokens: RefreshTokenStore, users: UserStore, cache: RevocationCache
    ) -> None:
        self._refresh_tokens = refresh_tokens
        self._users = users
        self._cache = cache

    async def status(self, family_id: uuid.UUID) -> FamilyStatus:
        """The family's status, from the cache or else the database."""
        cached = await self._cache.get(family_id)
        if cached is not None:
            return cached
        status = await self._refresh_tokens.family_status(family_id)
        await self._cache.remember(family_id, status)
        return status

    async def revoke_family(self, family_id: uuid.UUID) -> None:
        """Revoke the family's refresh tokens and end its access tokens (logout)."""
        await self._refresh_tokens.revoke_family(family_id)
        await self._cache.mark([family_id], FamilyStatus.REVOKED)

    async def family_revoked(self, family_id: uuid.UUID) -> None:
        """The store revoked the family itself (a reused refresh token): end its access tokens."""
        await self._cache.mark([family_id], FamilyStatus.REVOKED)

    async def disable(self, email: str) -> bool:
        """Disable the account: no sign-in, and every token of it ends; False if none."""
        user_id = await self._users.set_disabled(email, disabled=True)
        if user_id is None:
            return False
        families = await self._refresh_tokens.revoke_user(user_id)
        await self._cache.mark(families, FamilyStatus.DISABLED)
        return True

    async def enable(self, email: str) -> bool:
        """Let a disabled account sign in again; False if none.

        Its old sign-ins stay ended, and now say "revoked" rather than "disabled".
        """
        user_id = await self._users.set_disabled(email, disabled=False)
        if user_id is None:
            return False
        families = await self._refresh_tokens.revoke_user(user_id)
        await self._cache.mark(families, FamilyStatus.REVOKED)
        return True
