"""Per-account sign-in throttling: exponential back-off after repeated failures.

`LoginBackoff` is the policy alone (state and time in, a decision out); `LoginThrottle`
is its shell around an `AttemptStore` (this process, or Redis for every node). Accounts
are keyed by a hash of the normalised email, whether or not an account has it, so the
answers do not tell which accounts exist, and no store holds an address.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Protocol

from auth.errors import TooManyAttemptsError

# Optimistic updates that lose this many races in a row (a flood on one account) give up.
_MAX_RACES = 8


@dataclass(frozen=True, slots=True)
class Failures:
    """An account's failed sign-ins since its last success, and when the latest was."""

    count: int
    last_at: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a sign-in may be tried now, and if not, in how many seconds."""

    allowed: bool
    retry_after_s: float = 0.0


class LoginBackoff:
    """The back-off policy.

    The first `free_failures` failures cost nothing; the n-th failure from then on locks the
    account for `base_s` · 2^(n - free_failures) seconds from that failure, at most `max_s`
    (1 s, 2 s, 4 s ... with the defaults). A success forgets everything, and so does
    `forget_s` of quiet after the last lockout ends.
    """

    def __init__(self, *, free_failures: int, base_s: float, max_s: float, forget_s: float) -> None:
        self._free = free_failures
        self._base_s = base_s
        self._max_s = max_s
        self._forget_s = forget_s

    def check(self, failures: Failures | None, now: float) -> Verdict:
        """May the account try to sign in at `now`?"""
        failures = self._remembered(failures, now)
        if failures is None:
            return Verdict(True)
        wait = failures.last_at + self.lockout_s(failures.count) - now
        return Verdict(False, wait) if wait > 0 else Verdict(True)

    def record_failure(self, failures: Failures | None, now: float) -> Failures:
        """The state after one more failure at `now`."""
        failures = self._remembered(failures, now)
        return Failures((failures.count if failures else 0) + 1, now)

    def lockout_s(self, count: int) -> float:
        """How long `count` failures lock the account after the latest."""
        if count < self._free:
            return 0.0
        return min(self._base_s * 2.0 ** min(count - self._free, 64), self._max_s)

    def keep_s(self, failures: Failures) -> float:
        """How long a store must keep the state: its lockout, then the quiet period."""
        return self.lockout_s(failures.count) + self._forget_s

    def _remembered(self, failures: Failures | None, now: float) -> Failures | None:
        # Whatever a store's expiry did, a state past its time counts as none.
        if failures is None or now >= failures.last_at + self.keep_s(failures):
            return None
        return failures


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A store's state for a key and its time (one clock for every node sharing it)."""

    failures: Failures | None
    now: float


class AttemptStore(Protocol):
    """Keeps `Failures` per key; `replace` is atomic, so nodes never lose a failure."""

    async def read(self, key: str) -> Snapshot:
        """The key's state now."""
        ...

    async def replace(
        self, key: str, expected: Failures | None, new: Failures | None, keep_s: float
    ) -> bool:
        """Store `new` (None: forget) if the state is still `expected`; False if it was not."""
        ...


class LoginThrottle:
    """Counts an attempt before the password is checked, so parallel guesses are counted too."""

    def __init__(self, backoff: LoginBackoff, store: AttemptStore) -> None:
        self._backoff = backoff
        self._store = store

    async def begin(self, email: str) -> None:
        """Count an attempt as failed until `succeeded`; `TooManyAttemptsError` while locked."""
        key = account_key(email)
        for _ in range(_MAX_RACES):
            snapshot = await self._store.read(key)
            verdict = self._backoff.check(snapshot.failures, snapshot.now)
            if not verdict.allowed:
                raise _refusal(verdict.retry_after_s)
            counted = self._backoff.record_failure(snapshot.failures, snapshot.now)
            if await self._store.replace(
                key, snapshot.failures, counted, self._backoff.keep_s(counted)
            ):
                return
        raise _refusal(1.0)

    async def succeeded(self, email: str) -> None:
        """The password was right: forget the account's failures."""
        key = account_key(email)
        for _ in range(_MAX_RACES):
            snapshot = await self._store.read(key)
            if snapshot.failures is None:
                return
            if await self._store.replace(key, snapshot.failures, None, 0.0):
                return


def account_key(email: str) -> str:
    """The store key of a (normalised) email: its SHA-256, never the address."""
    return hashlib.sha256(email.encode()).hexdigest()


def _refusal(retry_after_s: float) -> TooManyAttemptsError:
    seconds = max(1, math.ceil(retry_after_s))
    when = f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"
    return TooManyAttemptsError(
        f"Too many failed sign-ins to this account: try again in {when}", seconds
    )
