"""The live interviews of this process, one per session, each run by a task the registry owns.

An interview starts only on the node that takes its tenure (a lease across nodes) and marks
the session started in the database; the composition root says what a tenure is and what runs
beside each interview (`InterviewHooks`). A node that loses an interview's tenure ends it at
once and writes nothing more of it: another node owns it now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from recorder.files import RecordingExistsError
from recorder.session import SessionRecorder
from rtc.bridge.base import HostBridge
from rtc.bridge.brief import HostBrief
from rtc.interview import GuestAlreadyPresent, Interview, InterviewTiming, VadSettings
from rtc.mixer import OneShotSource
from rtc.turns import InterviewPhase

logger = logging.getLogger(__name__)

# A start claim this old, of a session still `created` whose interview runs nowhere (no
# tenure), was left by a process that died before any media flowed.
STALE_START = timedelta(seconds=60)
FINISHED_STATUSES = frozenset({"processing", "ready", "failed"})
BridgeFactory = Callable[[HostBrief], HostBridge]
VideoPolicy = Callable[[HostBrief], bool]


def host_never_sees(brief: HostBrief) -> bool:
    """The default `VideoPolicy`: no host sees its guest (no video is decoded)."""
    return False


def recorded(recorder: SessionRecorder | None) -> bool:
    """Whether any track of the interview was written."""
    return recorder is not None and bool(recorder.manifest.tracks)


class JoinRefused(Exception):
    """The guest cannot join; `code` and the message are sent to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Tenure(Protocol):
    """This node's hold on one interview (across nodes: a lease); lost when another node
    takes the interview over."""

    @property
    def lost(self) -> bool:
        """Whether another node owns the interview now."""
        ...

    async def wait_lost(self) -> None:
        """Return once the tenure is lost (never, if it is released first)."""
        ...

    async def confirm(self) -> bool:
        """Check with the other nodes now (a renewal): False once the tenure is lost."""
        ...

    async def release(self) -> None:
        """Give the interview up (it has ended here); never another node's tenure."""
        ...


class InterviewHooks(Protocol):
    """What the composition root adds to each interview: its tenure and what runs beside it."""

    async def take(self, session_id: uuid.UUID) -> Tenure | None:
        """Make this node the interview's owner; None when another node is."""
        ...

    def serve(self, interview: Interview) -> AbstractAsyncContextManager[None]:
        """Entered around the interview's run (director serving). The block raises when
        this node lost the interview: stop at once then, publishing nothing more."""
        ...


class InterviewLost(Exception):
    """Another node took the interview over (raised into `InterviewHooks.serve`)."""


class InterviewPersistence(Protocol):
    """Where interviews leave their mark: transcript lines, the status, the host's report."""

    async def claim_start(self, session_id: uuid.UUID) -> bool:
        """Mark the interview started unless it ever was; True for the one caller that did."""
        ...

    async def claim_stale_start(self, session_id: uuid.UUID, older_than: timedelta) -> bool:
        """Take over a claim older than `older_than` of a session still `created`."""
        ...

    async def release_start(self, session_id: uuid.UUID) -> None:
        """Undo the claim of an interview that ended before any media flowed."""
        ...

    async def save_transcript(
        self, session_id: uuid.UUID, role: str, text: str, relative_offset_ms: int
    ) -> None: ...

    async def set_status(self, session_id: uuid.UUID, status: str) -> None: ...

    async def save_host_report(self, session_id: uuid.UUID, report: dict[str, Any]) -> None: ...

    def handed_over(self, session_id: uuid.UUID) -> None:
        """The interview left this node without an outcome (another node owns it now):
        nothing is written, but what this node counted of it ends."""
        ...


@dataclass(frozen=True, slots=True)
class InterviewRequest:
    """What the registry needs of a session to start its interview."""

    session_id: uuid.UUID
    status: str
    brief: HostBrief


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    """Timing and detection settings shared by every interview of the process."""

    vad: VadSettings
    minute_s: float = 60.0
    wrap_up_before_s: float = 60.0
    rejoin_grace_s: float = 30.0
    host_sees_video: VideoPolicy = host_never_sees
    """Whether the host of a session (by its brief) is shown the guest's camera."""


class InterviewRegistry:
    """Starts interviews on first join, resumes them on rejoin, finishes them on shutdown."""

    def __init__(
        self,
        *,
        bridge_factory: BridgeFactory,
        persistence: InterviewPersistence,
        settings: RegistrySettings,
        hooks: InterviewHooks,
        sources: Callable[[], list[OneShotSource]] = list,
        recorders: Callable[[uuid.UUID], SessionRecorder] | None = None,
        on_recorded: Callable[[uuid.UUID], None] | None = None,
    ) -> None:
        self._bridge_factory = bridge_factory
        self._persistence = persistence
        self._hooks = hooks
        self._settings = settings
        self._sources = sources
        self._recorders = recorders
        self._on_recorded = on_recorded
        self._interviews: dict[uuid.UUID, Interview] = {}
        self._starting: dict[uuid.UUID, asyncio.Task[Interview]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._empty = asyncio.Event()
        self._empty.set()
        self._draining = False

    def get(self, session_id: uuid.UUID) -> Interview | None:
        """The session's interview if it runs on this process."""
        return self._interviews.get(session_id)

    def __len__(self) -> int:
        return len(self._interviews)

    @property
    def draining(self) -> bool:
        """Whether this process refuses new interviews (see `drain`)."""
        return self._draining

    def drain(self) -> None:
        """Refuse new interviews from now on; the live ones run on, and their guests rejoin.

        A deploy: the process exits once `wait_until_empty` returns (or its time is up), so
        a new interview has to start on another node, where joining again lands.
        """
        self._draining = True

    async def wait_until_empty(self) -> None:
        """Return once no interview runs or is being started on this process."""
        while True:
            if self._starting:  # a start begun before `drain` may still bring one
                await asyncio.wait(list(self._starting.values()))
            elif self._interviews:
                await self._empty.wait()
            else:
                return

    async def join(self, request: InterviewRequest) -> Interview:
        """The session's interview with the guest's place claimed, started if need be.

        An interview runs once, on one node: it starts only for the join that takes its
        tenure and then marks the session started in the database, and never where the
        session's recording already exists.
        """
        interview = self._interviews.get(request.session_id)
        if interview is None:
            if request.status in FINISHED_STATUSES:
                raise JoinRefused("interview_over", "This interview has already taken place")
            starting = self._starting.get(request.session_id)
            if starting is None and self._draining:
                raise JoinRefused(
                    "node_draining", "This server is restarting: join again to reach another one"
                )
            if starting is None:  # joins arriving meanwhile wait for this one start
                starting = asyncio.create_task(self._begin(request))
                self._starting[request.session_id] = starting
                starting.add_done_callback(lambda _: self._starting.pop(request.session_id, None))
            interview = await asyncio.shield(starting)
        if interview.phase in (InterviewPhase.ENDING, InterviewPhase.ENDED):
            raise JoinRefused("interview_over", "This interview has just ended")
        try:
            interview.claim_guest()
        except GuestAlreadyPresent as error:
            raise JoinRefused(
                "already_joined",
                "This interview already has its guest connected: close the other tab or device",
            ) from error
        return interview

    async def close(self) -> None:
        """End every interview and wait for each to finish (server shutdown)."""
        for interview in list(self._interviews.values()):
            interview.end("the server is shutting down")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _begin(self, request: InterviewRequest) -> Interview:
        session_id = request.session_id
        tenure = await self._hooks.take(session_id)
        if tenure is None:
            raise JoinRefused(
                "interview_elsewhere",
                "This interview runs on another server of this deployment: rejoin there",
            )
        try:
            return await self._begin_owned(request, tenure)
        except BaseException:
            if session_id not in self._interviews:  # once started, its run releases it
                await tenure.release()
            raise

    async def _begin_owned(self, request: InterviewRequest, tenure: Tenure) -> Interview:
        session_id = request.session_id
        # Claimed, still `created`, with no tenure anywhere (this node holds it now): the
        # claimer died before any media flowed; once the claim is stale, the guest may start.
        if not await self._persistence.claim_start(session_id) and (
            request.status != "created"
            or not await self._persistence.claim_stale_start(session_id, STALE_START)
        ):
            raise JoinRefused("interview_over", "This interview has already taken place")
        recorder = self._recorders(session_id) if self._recorders else None
        try:
            if recorder is not None:
                await recorder.open()
            interview = self._start(request, recorder, tenure)
        except RecordingExistsError as error:
            logger.error("interview %s not started: %s", session_id, error)
            raise JoinRefused(
                "interview_over", "This interview was already recorded: it runs only once"
            ) from error
        except BaseException:
            await self._persistence.release_start(session_id)
            raise
        await interview.wait_running()
        return interview

    def _start(
        self, request: InterviewRequest, recorder: SessionRecorder | None, tenure: Tenure
    ) -> Interview:
        settings = self._settings
        session_id = request.session_id
        went_live = False

        async def save(role: str, text: str, offset_ms: int) -> None:
            if not tenure.lost:
                await self._persistence.save_transcript(session_id, role, text, offset_ms)

        async def on_phase(phase: InterviewPhase) -> None:
            nonlocal went_live
            # The session's lasting writes (its status, its recording) only while it is ours.
            if not await tenure.confirm():
                if phase is InterviewPhase.ENDED and interview.recorder is not None:
                    await interview.recorder.set_aside()
                return
            if phase is InterviewPhase.LIVE:
                went_live = True
                await self._persistence.set_status(session_id, "live")
            elif phase is InterviewPhase.ENDED and went_live:
                if report := interview.host_report():
                    await self._persistence.save_host_report(session_id, report)
                recorder = interview.recorder
                if recorder is not None and recorder.manifest.tracks and self._on_recorded:
                    await self._persistence.set_status(session_id, "processing")
                    self._on_recorded(session_id)
                else:
                    await self._persistence.set_status(session_id, "ready")
            elif phase is InterviewPhase.ENDED and not recorded(interview.recorder):
                await self._persistence.release_start(session_id)  # nothing took place

        interview = Interview(
            session_id,
            self._bridge_factory(request.brief),
            timing=InterviewTiming(
                duration_s=request.brief.duration_minutes * settings.minute_s,
                wrap_up_before_s=min(
                    settings.wrap_up_before_s,
                    request.brief.duration_minutes * settings.minute_s / 5,
                ),
                rejoin_grace_s=settings.rejoin_grace_s,
            ),
            vad=settings.vad,
            save_transcript=save,
            on_phase=on_phase,
            sources=self._sources(),
            recorder=recorder,
            host_sees_video=settings.host_sees_video(request.brief),
        )
        self._interviews[session_id] = interview
        self._empty.clear()
        task = asyncio.create_task(self._run(interview, tenure), name=f"interview-{session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return interview

    async def _run(self, interview: Interview, tenure: Tenure) -> None:
        running = asyncio.create_task(interview.run(), name=f"run-{interview.session_id}")
        try:
            try:
                async with self._hooks.serve(interview):
                    await self._until_ended_or_lost(running, tenure)
            except InterviewLost:
                interview.hand_over()
                await running
        except Exception:
            logger.exception("interview %s failed", interview.session_id)
            if not tenure.lost:
                await self._persistence.set_status(interview.session_id, "failed")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            if tenure.lost:
                self._persistence.handed_over(interview.session_id)
            await tenure.release()
            self._interviews.pop(interview.session_id, None)
            if not self._interviews:
                self._empty.set()

    @staticmethod
    async def _until_ended_or_lost(running: asyncio.Task[None], tenure: Tenure) -> None:
        """Until the interview's run returns (its error raised); `InterviewLost` first if
        the tenure is lost meanwhile."""
        lost = asyncio.create_task(tenure.wait_lost())
        try:
            await asyncio.wait({running, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lost
        if not running.done():
            raise InterviewLost(running.get_name())
        running.result()
