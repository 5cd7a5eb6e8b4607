"""Argon2id password hashing, run in worker threads so the event loop never waits on it."""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """Hashes and checks passwords; at most one hash per core at a time (each takes memory)."""

    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        self._slots = asyncio.Semaphore(os.cpu_count() or 1)
        # Verified when the email is unknown, so that a miss costs as long as a hit.
        self._decoy = self._hasher.hash("decoy password, never matches")

    async def hash(self, password: str) -> str:
        """A new argon2id hash of the password."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if the password matches; a None hash still spends the same time."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, stored_hash or self._decoy, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True if the hash was made with weaker parameters than today's."""
        return self._hasher.check_needs_rehash(stored_hash)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
