"""A node's held leases: renewed on the node's own schedule (driven here by the test), lost
when another node's value is found, released without touching anyone else's."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from cluster.lease import LeaseState, LeaseToken, Renewal
from cluster.leases import Leases
from cluster.stores import MemoryLeaseStore, RedisLeaseStore
from tests.conftest import ManualSleep, until


async def test_two_nodes_one_lease_and_both_see_it_live(redis: Redis, prefix: str) -> None:
    session = uuid.uuid4()
    a = Leases(RedisLeaseStore(redis, prefix), "a", sleep=ManualSleep())
    b = Leases(RedisLeaseStore(redis, prefix), "b", sleep=ManualSleep())
    assert not await b.is_live(session)
    held = await a.take(session)
    assert held is not None and held.token.node == "a"
    assert await b.take(session) is None
    assert await b.is_live(session)
    assert await b.holder(session) == held.token
    await held.release()
    assert held.state is LeaseState.RELEASED
    assert not await b.is_live(session)
    again = await b.take(session)
    assert again is not None and again.token.fence > held.token.fence
    await again.release()


async def test_the_renewer_extends_on_each_step_and_finds_the_loss(
    redis: Redis, prefix: str
) -> None:
    session, sleep = uuid.uuid4(), ManualSleep()
    key = f"{prefix}:interview:{session}:lease"
    leases = Leases(RedisLeaseStore(redis, prefix), "a", renew_every_s=5.0, sleep=sleep)
    held = await leases.take(session)
    assert held is not None
    await redis.pexpire(key, 500)
    sleep.tick()
    await until(lambda: len(sleep.asked) == 2)  # the step renewed and sleeps again
    assert await redis.pttl(key) > 14_000
    assert held.state is LeaseState.HELD and sleep.asked == [5.0, 5.0]
    await redis.set(key, LeaseToken("b", held.token.fence + 1).encode(), px=15_000)  # b took it
    sleep.tick()
    async with asyncio.timeout(10):
        await held.wait_lost()
    assert held.lost and held.state is LeaseState.LOST
    await held.release()
    assert await redis.get(key) == f"{held.token.fence + 1}:b".encode()  # b's lease stays


async def test_a_renewal_driven_by_hand_takes_back_a_vanished_lease(
    redis: Redis, prefix: str
) -> None:
    session = uuid.uuid4()
    leases = Leases(RedisLeaseStore(redis, prefix), "a", sleep=ManualSleep())
    held = await leases.take(session)
    assert held is not None
    await redis.delete(f"{prefix}:interview:{session}:lease")
    assert not await leases.is_live(session)
    assert await held.renew() is LeaseState.HELD
    assert await leases.holder(session) == held.token
    await held.release()


class UnreachableStore(MemoryLeaseStore):
    """A store whose renewals get no answer, as when Redis is down."""

    async def renew(self, session_id: str, token: LeaseToken) -> Renewal:
        raise RedisConnectionError("Connection refused")


async def test_an_unanswered_renewal_keeps_the_interview_until_the_store_says() -> None:
    session = uuid.uuid4()
    leases = Leases(UnreachableStore(), "a", sleep=ManualSleep())
    held = await leases.take(session)
    assert held is not None
    assert await held.renew() is LeaseState.RENEWING
    assert not held.lost
    await held.release()
    assert held.state is LeaseState.RELEASED
    assert not await leases.is_live(session)
