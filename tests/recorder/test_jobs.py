"""The finalisation queue: its depth in the metrics, the enqueuer's ids carried into the job."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from correlation import current_request_id, current_session_id
from recorder.jobs import FinalisationQueue
from recorder.transcript_export import TranscriptLine


def queued_jobs() -> float:
    return REGISTRY.get_sample_value("monumento_finalisation_jobs") or 0.0


class Hooks:
    """Holds each job at its first step, recording the ids it runs under; then fails it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None, float]] = []
        self.release = asyncio.Event()
        self.reached = asyncio.Event()
        self.outcomes: list[dict[str, Any] | None] = []

    async def transcript(self, session_id: uuid.UUID) -> list[TranscriptLine]:
        self.seen.append((current_request_id.get(), current_session_id.get(), queued_jobs()))
        self.reached.set()
        await self.release.wait()
        raise RuntimeError("no transcript in this test")

    async def progress(self, session_id: uuid.UUID, fraction: float) -> None:
        pass

    async def finished(self, session_id: uuid.UUID, outputs: dict[str, Any] | None) -> None:
        self.outcomes.append(outputs)

    async def changed(self, session_id: uuid.UUID) -> None:
        pass


async def test_a_job_runs_under_the_request_that_queued_it_and_counts_while_queued(
    tmp_path: Path,
) -> None:
    hooks = Hooks()
    queue = FinalisationQueue(tmp_path, hooks)
    session_id = uuid.uuid4()
    before = queued_jobs()
    token = current_request_id.set("join-request-1")
    try:
        queue.enqueue(session_id)
        queue.enqueue(session_id)  # once, however often asked
    finally:
        current_request_id.reset(token)
    assert queued_jobs() == before + 1
    runner = asyncio.create_task(queue.run())
    try:
        await hooks.reached.wait()
        assert hooks.seen == [("join-request-1", str(session_id), before + 1)]
        hooks.release.set()
        await queue.idle.wait()
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert hooks.outcomes == [None]
    assert queued_jobs() == before
    assert current_request_id.get() is None  # the job's ids stayed in its task
