"""SIGTERM's drain: no new interviews here, the live ones run to their end, then exit.

What is left when the time is up is not lost: `uvicorn`'s shutdown then ends the
interviews (their recordings close as after any end) and a finalisation that did not run is
still on disk, unfinished, for the next start's `pending_recordings`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from starlette.applications import Starlette

from recorder.jobs import FinalisationQueue
from rtc.registry import InterviewRegistry

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeDrain:
    """Awaited once, on the first SIGTERM: returns when the node may exit."""

    registry: InterviewRegistry
    finalisation: FinalisationQueue
    timeout_s: float

    async def __call__(self) -> None:
        """Refuse new interviews, then wait for the live ones and their finalisations."""
        self.registry.drain()
        logger.warning(
            "draining: %d live interview(s) run to their end, for at most %g s",
            len(self.registry),
            self.timeout_s,
        )
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.registry.wait_until_empty()
                await self.finalisation.idle.wait()
        except TimeoutError:
            logger.warning(
                "drain timeout passed: %d interview(s) still live are ended; finalisations "
                "not done resume at the next start",
                len(self.registry),
            )
        else:
            logger.info("drained: no interview or finalisation left, exiting")


def node_drain(app: Starlette) -> NodeDrain:
    """The drain of the app `create_app` built."""
    drain = app.state.drain
    assert isinstance(drain, NodeDrain)
    return drain
