"""Argon2id hashing off the event loop."""

from __future__ import annotations

from auth.passwords import Passwords


async def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    passwords = Passwords(time_cost=1, memory_kib=1024)
    stored = await passwords.hash("s3cret password")
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, "s3cret password")
    assert not await passwords.verify(stored, "another password")
    assert not await passwords.verify("not a hash", "s3cret password")
    assert not await passwords.verify(None, "s3cret password")


async def test_weaker_hashes_are_flagged_for_rehash() -> None:
    weak = await Passwords(time_cost=1, memory_kib=1024).hash("pw")
    assert Passwords(time_cost=2, memory_kib=2048).needs_rehash(weak)
    assert not Passwords(time_cost=1, memory_kib=1024).needs_rehash(weak)
