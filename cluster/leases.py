"""This node's leases on its live interviews: taken before an interview starts, renewed while
it runs, released (compare-and-delete) when it ends.

A renewal that finds another node's value loses the lease for good: `wait_lost` returns and
the interview is ended here (`rtc.registry`). A renewal the store does not answer changes
nothing: the lease may still be ours, and the next renewal says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from cluster.lease import LeaseMachine, LeaseState, LeaseToken, Renewal
from cluster.stores import LEASE_TTL_MS, LeaseStore

logger = logging.getLogger(__name__)

RENEW_EVERY_S = LEASE_TTL_MS / 1000 / 3
Sleep = Callable[[float], Awaitable[None]]
# What a store that cannot be reached raises (redis-py's errors, a socket's).
UNREACHABLE = (RedisError, OSError)


class HeldLease:
    """This node's hold on one interview's lease, renewed until released or lost."""

    def __init__(
        self,
        store: LeaseStore,
        session_id: uuid.UUID,
        token: LeaseToken,
        *,
        every_s: float,
        sleep: Sleep,
    ) -> None:
        self.session_id = session_id
        self.token = token
        self._store = store
        self._every_s = every_s
        self._sleep = sleep
        self._machine = LeaseMachine()
        self._lost = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None

    @property
    def state(self) -> LeaseState:
        """Held, renewing (the store did not answer), lost or released."""
        return self._machine.state

    @property
    def lost(self) -> bool:
        """Whether another node took the lease over."""
        return self._machine.state is LeaseState.LOST

    async def wait_lost(self) -> None:
        """Return once the lease is lost (never, if it is released first)."""
        await self._lost.wait()

    def start_renewing(self) -> None:
        """Renew every `every_s` until released or lost (the task is this lease's)."""
        self._renewer = asyncio.create_task(self._keep(), name=f"lease-{self.session_id}")

    async def renew(self) -> LeaseState:
        """One renewal: extend the lease, take it again if it vanished, or find it lost."""
        if self._machine.ended:
            return self.state
        session = str(self.session_id)
        try:
            answer = await self._store.renew(session, self.token)
        except UNREACHABLE as error:
            logger.warning("could not renew the lease of interview %s: %s", session, error)
            self._machine.unanswered()
            return self.state
        if self._machine.renewed(answer):
            logger.error(
                "interview %s: lease %s lost, another node owns the interview now; "
                "ending it here without writing anything more",
                session,
                self.token.encode(),
            )
            self._lost.set()
        elif answer is Renewal.RETAKEN:
            logger.warning(
                "the lease of interview %s had vanished (Redis restarted?): taken again as %s",
                session,
                self.token.encode(),
            )
        return self.state

    async def confirm(self) -> bool:
        """Renew now, before a write that must be the owner's: False once the lease is lost
        (an unanswered renewal leaves it ours)."""
        return await self.renew() is not LeaseState.LOST

    async def release(self) -> None:
        """Stop renewing and delete the lease, if it is still ours."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if not self._machine.release():
            return
        try:
            await self._store.release(str(self.session_id), self.token)
        except UNREACHABLE as error:  # it expires on its own within the lease's TTL
            logger.warning(
                "could not release the lease of interview %s: %s", self.session_id, error
            )

    async def _keep(self) -> None:
        while not self._machine.ended:
            await self._sleep(self._every_s)
            await self.renew()


class Leases:
    """Takes this node's leases and tells whether an interview is live anywhere."""

    def __init__(
        self,
        store: LeaseStore,
        node_id: str,
        *,
        renew_every_s: float = RENEW_EVERY_S,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.node_id = node_id
        self._store = store
        self._every_s = renew_every_s
        self._sleep = sleep

    async def take(self, session_id: uuid.UUID) -> HeldLease | None:
        """The interview's lease, renewing, or None when another node holds it."""
        token = await self._store.take(str(session_id), self.node_id)
        if token is None:
            return None
        lease = HeldLease(self._store, session_id, token, every_s=self._every_s, sleep=self._sleep)
        lease.start_renewing()
        return lease

    async def holder(self, session_id: uuid.UUID) -> LeaseToken | None:
        """The lease of the session's live interview, on whichever node it runs."""
        return await self._store.holder(str(session_id))

    async def is_live(self, session_id: uuid.UUID) -> bool:
        """Whether the session's interview runs on some node of the deployment."""
        return await self.holder(session_id) is not None
