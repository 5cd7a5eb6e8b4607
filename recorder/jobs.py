"""Finalisation jobs: one at a time, each in a child process, progress and outcome reported.

The queue is in memory and bounded; what it holds is also on disk (a manifest that is not
`finalised`), so a restart finds the same work again (see `pending_recordings`). A job runs
under the request id of whoever queued it (the guest's join, for an interview's recording),
so its log lines and error reports lead back there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import Gauge

from correlation import bind_session, current_request_id
from recorder.manifest import Manifest, read_manifest, session_media_dir, write_manifest
from recorder.transcript_export import TranscriptLine

logger = logging.getLogger(__name__)

QUEUE = 1000
PROGRESS_EVERY_S = 1.0
UNFINISHED = frozenset({"complete", "repaired", "finalising"})
JOBS = Gauge(
    "monumento_finalisation_jobs",
    "Finalisation jobs queued or running on this node (the job queue's depth).",
)


class JobHooks(Protocol):
    """What a job reads and tells the rest of the server."""

    async def transcript(self, session_id: uuid.UUID) -> list[TranscriptLine]: ...

    async def progress(self, session_id: uuid.UUID, fraction: float) -> None: ...

    async def finished(self, session_id: uuid.UUID, outputs: dict[str, Any] | None) -> None: ...

    async def changed(self, session_id: uuid.UUID) -> None: ...


def pending_recordings(media_dir: Path) -> list[uuid.UUID]:
    """Recordings that were made but never finalised (blocking: call it off the loop)."""
    if not media_dir.is_dir():
        return []
    pending = []
    for folder in sorted(path for path in media_dir.iterdir() if path.is_dir()):
        manifest = read_manifest(folder)
        if manifest is not None and manifest.state in UNFINISHED:
            pending.append(uuid.UUID(manifest.session_id))
    return pending


class FinalisationQueue:
    """Runs queued finalisations one after another; `run` is owned by the app's lifespan."""

    def __init__(self, data_dir: Path, hooks: JobHooks) -> None:
        self._data_dir = data_dir
        self._hooks = hooks
        self._queue: asyncio.Queue[tuple[uuid.UUID, str | None]] = asyncio.Queue(QUEUE)
        self._queued: set[uuid.UUID] = set()
        self.idle = asyncio.Event()
        self.idle.set()

    def enqueue(self, session_id: uuid.UUID) -> None:
        """Finalise the session's recording when its turn comes (once, however often asked)."""
        if session_id in self._queued:
            return
        try:
            self._queue.put_nowait((session_id, current_request_id.get()))
        except asyncio.QueueFull:
            logger.error("finalisation queue full: %s waits for the next restart", session_id)
            return
        self._queued.add(session_id)
        JOBS.inc()
        self.idle.clear()

    async def run(self) -> None:
        """Work through the queue until cancelled."""
        while True:
            session_id, request_id = await self._queue.get()
            current_request_id.set(request_id)  # this task's, for the job's log lines
            bind_session(session_id)
            try:
                await self._finalise(session_id)
            except Exception:
                logger.exception("finalisation of %s failed", session_id)
                await self._hooks.finished(session_id, None)
            finally:
                self._queued.discard(session_id)
                JOBS.dec()
                if not self._queued:
                    self.idle.set()

    async def _finalise(self, session_id: uuid.UUID) -> None:
        folder = session_media_dir(self._data_dir, session_id)
        await self._update(session_id, folder, state="finalising", progress=0.0)
        lines = await self._hooks.transcript(session_id)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "recorder.finalise_job",
            str(folder),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            outputs, error = await self._follow(session_id, process, lines)
        except asyncio.CancelledError:
            process.kill()  # shutting down: the manifest still says so, the next start resumes
            await process.wait()
            raise
        if outputs is None:
            await self._update(session_id, folder, state="failed", error=error)
            logger.error("finalisation of %s failed: %s", session_id, error)
        else:
            files = {k: v for k, v in outputs.items() if isinstance(v, str)}
            await self._update(session_id, folder, state="finalised", progress=1.0, outputs=files)
        await self._hooks.finished(session_id, outputs)

    async def _follow(
        self,
        session_id: uuid.UUID,
        process: asyncio.subprocess.Process,
        lines: list[TranscriptLine],
    ) -> tuple[dict[str, Any] | None, str]:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("".join(json.dumps(asdict(line)) + "\n" for line in lines).encode())
        await process.stdin.drain()
        process.stdin.close()
        outputs: dict[str, Any] | None = None
        error = "the finalisation process ended without a result"
        last_report = 0.0
        async for raw in process.stdout:
            message = json.loads(raw)
            if "progress" in message:
                now = asyncio.get_running_loop().time()
                if now - last_report >= PROGRESS_EVERY_S:
                    last_report = now
                    await self._hooks.progress(session_id, float(message["progress"]))
            elif "outputs" in message:
                outputs = message["outputs"]
            elif "error" in message:
                error = str(message["error"])
        await process.wait()
        return outputs, error

    async def _update(self, session_id: uuid.UUID, folder: Path, **changes: Any) -> None:
        def change() -> None:
            manifest = read_manifest(folder) or Manifest(session_id=folder.name)
            for key, value in changes.items():
                setattr(manifest, key, value)
            write_manifest(folder, manifest)

        await asyncio.to_thread(change)
        await self._hooks.changed(session_id)


ProgressSink = Callable[[uuid.UUID, float], Awaitable[None]]
