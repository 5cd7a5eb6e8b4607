"""Lease stores: one holder at a time, fences that only grow, never another node's lease
renewed or deleted; in Redis, the time to live and a lease that vanished (Redis restarted)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from cluster.lease import LeaseToken, Renewal
from cluster.stores import LeaseStore, RedisLeaseStore


async def test_of_two_nodes_taking_at_once_one_wins(store: LeaseStore) -> None:
    taken = await asyncio.gather(*(store.take("s1", node) for node in ("a", "b", "c", "d")))
    winners = [token for token in taken if token is not None]
    assert len(winners) == 1
    assert await store.holder("s1") == winners[0]
    assert await store.take("s1", "a") is None  # not even its holder takes it twice
    assert await store.take("s2", "b") is not None  # another session's lease is its own


async def test_fences_increase_with_every_take(store: LeaseStore) -> None:
    fences = []
    for node in ("a", "b", "a"):
        token = await store.take("s1", node)
        assert token is not None and token.node == node
        fences.append(token.fence)
        assert await store.release("s1", token)
    assert fences == sorted(fences) and len(set(fences)) == 3


async def test_release_never_deletes_another_nodes_lease(store: LeaseStore) -> None:
    first = await store.take("s1", "a")
    assert first is not None
    assert await store.release("s1", first)
    second = await store.take("s1", "b")
    assert second is not None
    assert not await store.release("s1", first)  # a's late release: b's lease stays
    assert not await store.release("s1", LeaseToken("b", second.fence - 1))  # an older hold of b
    assert await store.holder("s1") == second


async def test_a_renewal_finds_another_nodes_lease_lost(store: LeaseStore) -> None:
    mine = await store.take("s1", "a")
    assert mine is not None
    assert await store.renew("s1", mine) is Renewal.EXTENDED
    assert await store.release("s1", mine)
    theirs = await store.take("s1", "b")
    assert theirs is not None
    assert await store.renew("s1", mine) is Renewal.TAKEN_BY_OTHER
    assert await store.holder("s1") == theirs  # untouched


async def test_redis_renewal_extends_the_time_to_live(redis: Redis, prefix: str) -> None:
    store = RedisLeaseStore(redis, prefix, ttl_ms=15_000)
    token = await store.take("s1", "a")
    assert token is not None
    key = f"{prefix}:interview:s1:lease"
    assert await redis.get(key) == f"{token.fence}:a".encode()
    assert 14_000 < await redis.pttl(key) <= 15_000
    await redis.pexpire(key, 500)  # as if most of its life had passed
    assert await store.renew("s1", token) is Renewal.EXTENDED
    assert 14_000 < await redis.pttl(key) <= 15_000


async def test_a_lease_that_vanished_is_taken_again_with_fences_still_growing(
    redis: Redis, prefix: str
) -> None:
    store = RedisLeaseStore(redis, prefix)
    for _ in range(3):
        token = await store.take("s1", "a")
        assert token is not None
        await store.release("s1", token)
    token = await store.take("s1", "a")
    assert token is not None and token.fence == 4
    await redis.delete(f"{prefix}:interview:s1:lease", f"{prefix}:interview:s1:fence")  # restart
    assert await store.renew("s1", token) is Renewal.RETAKEN
    assert await store.holder("s1") == token
    assert 14_000 < await redis.pttl(f"{prefix}:interview:s1:lease") <= 15_000
    assert await store.renew("s1", token) is Renewal.EXTENDED
    assert await store.release("s1", token)
    after = await store.take("s1", "b")
    assert after is not None and after.fence > token.fence  # the counter was raised again


async def test_a_vanished_lease_someone_else_took_meanwhile_is_lost(
    redis: Redis, prefix: str
) -> None:
    store = RedisLeaseStore(redis, prefix)
    mine = await store.take("s1", "a")
    assert mine is not None
    await redis.delete(f"{prefix}:interview:s1:lease")
    theirs = await store.take("s1", "b")
    assert theirs is not None
    assert await store.renew("s1", mine) is Renewal.TAKEN_BY_OTHER
    assert await store.holder("s1") == theirs
