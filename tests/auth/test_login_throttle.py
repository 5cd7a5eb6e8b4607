"""The per-account back-off: the policy alone, then its shell on both stores.

Every clock is a `FakeClock`: a lockout ends when the test moves time, not the machine.
The Redis store runs against the real Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from auth.errors import TooManyAttemptsError
from auth.login_attempts import MemoryAttemptStore, RedisAttemptStore
from auth.login_throttle import (
    AttemptStore,
    Failures,
    LoginBackoff,
    LoginThrottle,
    Verdict,
    account_key,
)
from tests.conftest import REDIS_URL, FakeClock

EMAIL = "ada@example.com"


def backoff() -> LoginBackoff:
    return LoginBackoff(free_failures=5, base_s=1.0, max_s=900.0, forget_s=3600.0)


def test_five_failures_are_free_then_each_one_doubles_the_lockout_up_to_the_cap() -> None:
    policy = backoff()
    assert [policy.lockout_s(n) for n in range(1, 10)] == [0, 0, 0, 0, 1, 2, 4, 8, 16]
    assert policy.lockout_s(15) == 900.0
    assert policy.lockout_s(10**6) == 900.0  # no overflow, however many failures


def test_check_locks_from_the_latest_failure() -> None:
    policy = backoff()
    assert policy.check(None, 0.0) == Verdict(True)
    assert policy.check(Failures(4, 100.0), 100.0) == Verdict(True)
    assert policy.check(Failures(7, 100.0), 101.5) == Verdict(False, 2.5)
    assert policy.check(Failures(7, 100.0), 104.0) == Verdict(True)
    assert policy.record_failure(None, 3.0) == Failures(1, 3.0)
    assert policy.record_failure(Failures(7, 100.0), 104.0) == Failures(8, 104.0)
    assert policy.keep_s(Failures(6, 0.0)) == 2.0 + 3600.0
    # Quiet for its lockout and an hour: forgotten, whatever a store kept.
    assert policy.record_failure(Failures(7, 100.0), 100.0 + 4 + 3600) == Failures(1, 3704.0)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"monumento-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


StoreFactory = Callable[[FakeClock], AttemptStore]


@pytest.fixture(params=["memory", "redis"])
async def make_store(
    request: pytest.FixtureRequest, redis_prefix: str
) -> AsyncIterator[StoreFactory]:
    """Stores of one kind on a given clock; Redis ones share one Redis, as nodes do."""
    if request.param == "memory":
        yield MemoryAttemptStore
        return
    redis = Redis.from_url(REDIS_URL)
    try:
        yield lambda clock: RedisAttemptStore(redis, prefix=redis_prefix, clock=clock)
    finally:
        await redis.aclose()


async def failures(throttle: LoginThrottle, email: str, count: int) -> None:
    """`count` attempts that turn out wrong (begin, never succeeded)."""
    for _ in range(count):
        await throttle.begin(email)


async def test_locks_after_five_failures_and_doubles_each_time(make_store: StoreFactory) -> None:
    clock = FakeClock()
    throttle = LoginThrottle(backoff(), make_store(clock))
    await failures(throttle, EMAIL, 5)
    with pytest.raises(TooManyAttemptsError) as locked:
        await throttle.begin(EMAIL)
    assert locked.value.retry_after_s == 1
    assert "try again in 1 s" in str(locked.value)
    clock.now += 1.0
    await failures(throttle, EMAIL, 1)  # the sixth failure: 2 s
    clock.now += 1.5
    with pytest.raises(TooManyAttemptsError) as again:
        await throttle.begin(EMAIL)
    assert again.value.retry_after_s == 1  # 0.5 s left, rounded up
    clock.now += 0.5
    await failures(throttle, EMAIL, 1)  # the seventh: 4 s
    with pytest.raises(TooManyAttemptsError) as longer:
        await throttle.begin(EMAIL)
    assert longer.value.retry_after_s == 4
    await throttle.begin("someone-else@example.com")  # accounts are independent


async def test_a_success_forgets_the_failures(make_store: StoreFactory) -> None:
    clock = FakeClock()
    throttle = LoginThrottle(backoff(), make_store(clock))
    await failures(throttle, EMAIL, 4)
    await throttle.begin(EMAIL)
    await throttle.succeeded(EMAIL)
    await failures(throttle, EMAIL, 5)  # five free failures again
    with pytest.raises(TooManyAttemptsError):
        await throttle.begin(EMAIL)


async def test_the_cap_is_said_in_minutes(make_store: StoreFactory) -> None:
    clock = FakeClock()
    throttle = LoginThrottle(backoff(), make_store(clock))
    counted = 0
    while counted < 20:  # each failure made as soon as the last lockout ends
        try:
            await throttle.begin(EMAIL)
            counted += 1
        except TooManyAttemptsError as error:
            clock.now += error.retry_after_s
    with pytest.raises(TooManyAttemptsError) as capped:
        await throttle.begin(EMAIL)
    assert capped.value.retry_after_s == 900
    assert str(capped.value).endswith("try again in 15 min")


async def test_quiet_time_after_the_lockout_forgets_the_failures(make_store: StoreFactory) -> None:
    clock = FakeClock()
    throttle = LoginThrottle(backoff(), make_store(clock))
    await failures(throttle, EMAIL, 5)
    clock.now += 1.0 + 3600.0
    await failures(throttle, EMAIL, 4)  # counted from zero: still free
    await throttle.begin(EMAIL)


async def test_two_nodes_share_the_count_through_redis(
    redis_prefix: str,
) -> None:
    """Five failures split 3 + 2 between two nodes lock the account on both."""
    clock = FakeClock()
    redis = Redis.from_url(REDIS_URL)
    try:
        one, two = (
            LoginThrottle(backoff(), RedisAttemptStore(redis, prefix=redis_prefix, clock=clock))
            for _ in range(2)
        )
        await failures(one, EMAIL, 3)
        await failures(two, EMAIL, 2)
        with pytest.raises(TooManyAttemptsError):
            await one.begin(EMAIL)
        key = f"{redis_prefix}:login:{account_key(EMAIL)}"
        assert EMAIL not in key
        assert 0 < await redis.pttl(key) <= (1 + 3600) * 1000  # keys expire by themselves
    finally:
        await redis.aclose()


async def test_without_a_clock_the_redis_store_keeps_redis_time(redis_prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        policy = LoginBackoff(free_failures=1, base_s=3600.0, max_s=3600.0, forget_s=60.0)
        throttle = LoginThrottle(policy, RedisAttemptStore(redis, prefix=redis_prefix))
        await throttle.begin(EMAIL)
        with pytest.raises(TooManyAttemptsError) as locked:
            await throttle.begin(EMAIL)
        assert locked.value.retry_after_s == 3600  # an hour less a moment, rounded up
    finally:
        await redis.aclose()


async def test_the_memory_store_forgets_expired_accounts() -> None:
    clock = FakeClock()
    store = MemoryAttemptStore(clock)
    throttle = LoginThrottle(backoff(), store)
    for n in range(100):
        await throttle.begin(f"guess-{n}@example.com")
    clock.now += 3601.0
    await throttle.begin(EMAIL)
    assert len(store._states) == 1
