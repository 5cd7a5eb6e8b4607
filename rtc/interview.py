"""One live interview: the guest's audio through VAD into the host, the host's voice back out.

When the host is to see the guest, their camera goes to it too, as a still a second
(`rtc.camera`); otherwise the guest's video is only recorded, never decoded.

Who has the floor is for `rtc.turns.TurnTaking` to decide; the interview applies its effects.

An `Interview` outlives the guest's connection (a rejoin within the grace period resumes
it: same clock, same host conversation). Its tasks live in one `TaskGroup`, owned by `run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiortc.mediastreams import MediaStreamError

from recorder.session import SessionRecorder
from rtc.audio import GuestAudioConverter, HostAudioConverter, Samples
from rtc.bridge.base import HostAudio, HostBridge, HostStatus, Interrupted, Transcript, TurnComplete
from rtc.camera import GuestCamera
from rtc.clock import InterviewClock
from rtc.events import (
    EventHub,
    Subscription,
    error_event,
    host_event,
    state_event,
    transcript_event,
)
from rtc.metrics import GUEST_AUDIO_DROPPED, VOICE_TO_VOICE
from rtc.mixer import OneShotSource, OutboundMixer
from rtc.peers.guest import GuestPeer
from rtc.peers.outbound import HostVoiceTrack
from rtc.turns import (
    AnnounceTurn,
    Effect,
    FlushHost,
    GuestAudioDropped,
    GuestStarted,
    GuestStopped,
    HostReplied,
    InterviewLifecycle,
    InterviewPhase,
    PlayHost,
    SendAudio,
    ToGuest,
    TranscriptAt,
    TurnTaking,
)
from rtc.vad import FRAME_BYTES, FRAME_MS, VadEvent, VoiceActivityDetector

logger = logging.getLogger(__name__)

TranscriptSink = Callable[[str, str, int], Awaitable[None]]
PhaseListener = Callable[[InterviewPhase], Awaitable[None]]
TRANSCRIPT_QUEUE = 1000
STATE_TICK_S = 1.0
# The host's connection, told to the client as `host` states beside the contract's three.
CONNECTION_STATES = frozenset({"reconnecting", "resumed", "restarted"})


@dataclass(frozen=True, slots=True)
class InterviewTiming:
    """How long the interview lasts, when the host wraps up, how long a guest may be away."""

    duration_s: float
    wrap_up_before_s: float = 60.0
    rejoin_grace_s: float = 30.0


@dataclass(frozen=True, slots=True)
class VadSettings:
    """webrtcvad's aggressiveness and the turn-taking windows around it."""

    aggressiveness: int = 2
    start_ms: int = 60
    preroll_ms: int = 200
    hangover_ms: int = 500


class GuestAlreadyPresent(Exception):
    """A second guest tried to join an interview that has one."""


class Interview:
    """Runs one session's interview; the registry owns the task running `run`."""

    def __init__(
        self,
        session_id: uuid.UUID,
        bridge: HostBridge,
        *,
        timing: InterviewTiming,
        vad: VadSettings,
        save_transcript: TranscriptSink,
        on_phase: PhaseListener,
        sources: list[OneShotSource] | None = None,
        recorder: SessionRecorder | None = None,
        host_sees_video: bool = False,
    ) -> None:
        """`host_sees_video`: the guest's camera, if any, is decoded and shown to the host
        (`HostBridge.send_video`, a still a second); otherwise no video is decoded."""
        self.session_id = session_id
        self.host_sees_video = host_sees_video
        self.bridge = bridge
        self.timing = timing
        self.clock = InterviewClock()
        self.lifecycle = InterviewLifecycle()
        self.turns = TurnTaking(self.clock.elapsed_ms)
        self.hub = EventHub()
        self.mixer = OutboundMixer(sources)
        self._vad = VoiceActivityDetector(
            aggressiveness=vad.aggressiveness,
            start_ms=vad.start_ms,
            preroll_ms=vad.preroll_ms,
            hangover_ms=vad.hangover_ms,
        )
        self._host_converter = HostAudioConverter()
        self.recorder = recorder
        self._save_transcript = save_transcript
        self._on_phase = on_phase
        self._transcripts: asyncio.Queue[tuple[str, str, int] | None] = asyncio.Queue(
            TRANSCRIPT_QUEUE
        )
        self._guest: GuestPeer | None = None
        self._guest_tasks: list[asyncio.Task[None]] = []
        self._camera: GuestCamera | None = None
        self._live = asyncio.Event()
        self._stop = asyncio.Event()
        self._guest_present = asyncio.Event()
        self._guest_gone = asyncio.Event()
        self._running = asyncio.Event()
        self._host_tasks: list[asyncio.Task[None]] = []
        self._tasks: asyncio.TaskGroup | None = None

    # The guest's connection

    @property
    def has_guest(self) -> bool:
        """Whether a guest holds the interview right now (one at a time)."""
        return self._guest_present.is_set()

    @property
    def phase(self) -> InterviewPhase:
        """Where the interview stands."""
        return self.lifecycle.phase

    async def wait_running(self) -> None:
        """Return once `run` has started (guests can be attached from then on)."""
        await self._running.wait()

    def claim_guest(self) -> None:
        """Take the guest's place; `GuestAlreadyPresent` if someone holds it."""
        if self._guest_present.is_set():
            raise GuestAlreadyPresent(self.session_id)
        self._guest_gone.clear()
        self._guest_present.set()
        if self.recorder is not None:
            self.recorder.new_guest_stream()

    def new_outbound_track(self) -> HostVoiceTrack:
        """A fresh track of the host's voice for a (re)joining guest's connection."""
        return HostVoiceTrack(self.mixer, self._on_outbound_frame)

    def attach_guest(self, peer: GuestPeer) -> None:
        """Start listening to the claiming guest's connection."""
        if self._tasks is None or not self._guest_present.is_set():
            raise RuntimeError("claim the guest's place in a running interview first")
        self._guest = peer
        self._guest_tasks = [self._tasks.create_task(self._listen_to_guest(peer))]
        if self.host_sees_video:
            self._camera = GuestCamera(peer.request_keyframe)
            self._guest_tasks.append(self._tasks.create_task(self._watch_guest(self._camera)))

    async def release_guest(self) -> None:
        """The guest's socket is gone: close their connection; the grace period starts."""
        peer, tasks = self._guest, self._guest_tasks
        self._guest, self._guest_tasks, self._camera = None, [], None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if peer is not None:
            await peer.close()
        if self._guest_present.is_set():
            self._guest_present.clear()
            self._guest_gone.set()

    def record_encoded(self, mime_type: str, timestamp: int, data: bytes, waited_s: float) -> None:
        """An encoded frame from the guest (on the loop, before decoding): record it.

        The first media packet to arrive is the interview's zero, for every track alike.
        Frames are placed by when their first packet arrived (`waited_s` ago): aiortc's
        jitter buffers hold audio longer than video, and the recording must not show it.
        """
        self.clock.start(ago_s=waited_s)
        if mime_type == "video/VP8" and self._camera is not None:
            self._camera.offer(timestamp, data)
        if self.recorder is None:
            return
        arrival_s = max(0.0, self.clock.elapsed_s() - waited_s)
        if mime_type == "audio/opus":
            self.recorder.guest_audio.add(timestamp, data, arrival_s)
        elif mime_type == "video/VP8":
            self.recorder.guest_video.add(timestamp, data, arrival_s)

    def subscribe(self, *, with_state: bool = True) -> Subscription:
        """Every event of the interview from now on (and the current state at once, unless
        `with_state` is False: a relay that only forwards what happens)."""
        subscription = self.hub.subscribe()
        if with_state:
            subscription.offer(self._state())
        return subscription

    # Steering (director notes)

    def elapsed_ms(self) -> int:
        """Where the interview stands on its clock (0 before the first media)."""
        return self.clock.elapsed_ms()

    async def take_note(self, text: str, *, now: bool) -> None:
        """A director's note for the host: asked next, or at once with `now`."""
        await self.bridge.inject(text, now=now)

    async def set_topics(self, topics: list[str]) -> None:
        """Replace the topics the host works through."""
        await self.bridge.set_topics(topics)

    def host_report(self) -> dict[str, Any]:
        """What the host's connection went through (empty: nothing worth keeping)."""
        return self.bridge.report()

    def end(self, reason: str) -> None:
        """Finish the interview (the guest said so, time ran out, the guest never came back)."""
        if self.lifecycle.end():
            logger.info("interview %s ending: %s", self.session_id, reason)
            self.hub.publish(self._state())
        self._stop.set()

    def hand_over(self) -> None:
        """Another node owns the interview now: tell the guest, then end it here."""
        self.hub.publish(
            error_event(
                "This interview continues on another server of this deployment: rejoin",
                "interview_elsewhere",
            )
        )
        self.end("another node owns the interview now")

    # The interview's life

    async def run(self) -> None:
        """Live until ended; then close the host, the guest and the watchers."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                self._host_tasks.append(tasks.create_task(self._await_media()))
                self._host_tasks.append(tasks.create_task(self._watch_absence()))
                if self.recorder is not None:
                    self._host_tasks.append(tasks.create_task(self.recorder.run()))
                writer = tasks.create_task(self._write_transcripts())
                self._running.set()
                await self._stop.wait()
                await self.release_guest()
                await self.bridge.close()
                for task in self._host_tasks:
                    task.cancel()
                await self._transcripts.put(None)
                await writer
                if self.recorder is not None:
                    await self.recorder.close()
        finally:
            self.lifecycle.finished()
            self.hub.publish(self._state())
            self.hub.close()
            await self._on_phase(InterviewPhase.ENDED)

    async def _await_media(self) -> None:
        await self._live.wait()
        self.clock.start()
        self.lifecycle.media_flowing()
        self.hub.publish(self._state())
        await self._on_phase(InterviewPhase.LIVE)
        assert self._tasks is not None
        self._host_tasks.append(self._tasks.create_task(self._relay_host()))
        self._host_tasks.append(self._tasks.create_task(self._keep_time()))
        try:
            await self.bridge.start()
        except Exception:
            logger.exception("the host of %s could not start", self.session_id)
            self.hub.publish(
                error_event("The AI host could not be reached: try again later", "host_unavailable")
            )
            self.end("the host could not start")
            return
        while effects := self.turns.host_started():  # what the guest said meanwhile
            await self._apply(effects)

    async def _keep_time(self) -> None:
        wrap_up_at = max(0.0, self.timing.duration_s - self.timing.wrap_up_before_s)
        wrapped_up = False
        while self.clock.elapsed_s() < self.timing.duration_s:
            if not wrapped_up and self.clock.elapsed_s() >= wrap_up_at:
                wrapped_up = True
                await self.bridge.wrap_up()
            self.hub.publish(self._state())
            remaining = self.timing.duration_s - self.clock.elapsed_s()
            await asyncio.sleep(min(STATE_TICK_S, max(remaining, 0.0)))
        if self.lifecycle.time_up():
            self.hub.publish(self._state())
        self._stop.set()

    async def _watch_absence(self) -> None:
        while True:
            await self._guest_gone.wait()
            try:
                async with asyncio.timeout(self.timing.rejoin_grace_s):
                    await self._guest_present.wait()
            except TimeoutError:
                self.end("the guest did not come back")
                return

    # Guest → host

    async def _listen_to_guest(self, peer: GuestPeer) -> None:
        try:
            track = await peer.audio
        except asyncio.CancelledError:
            if peer.closed.is_set():
                return
            raise
        converter = GuestAudioConverter()
        pending = bytearray()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self._live.set()
            if self.lifecycle.phase is not InterviewPhase.LIVE:
                continue
            pending += converter.convert(frame)  # type: ignore[arg-type]
            while len(pending) >= FRAME_BYTES:
                chunk = bytes(pending[:FRAME_BYTES])
                del pending[:FRAME_BYTES]
                await self._hear(chunk)

    async def _hear(self, chunk: bytes) -> None:
        event = self._vad.process(chunk)
        preroll_ms = 0
        if event is VadEvent.SPEECH_STARTED:
            preroll_ms = len(self._vad.take_preroll()) // FRAME_BYTES * FRAME_MS
        await self._apply(self.turns.hear(chunk, event, preroll_ms=preroll_ms))

    async def _apply(self, effects: Sequence[Effect]) -> None:
        for effect in effects:
            match effect:
                case SendAudio(chunk):
                    await self.bridge.send_audio(chunk)
                case GuestStarted():
                    await self.bridge.guest_started_speaking()
                case GuestStopped():
                    await self.bridge.guest_stopped_speaking()
                    self._show(self.turns.guest_stop_sent())
                case _:
                    self._show([effect])

    async def _watch_guest(self, camera: GuestCamera) -> None:
        """Show the host stills of the guest's camera; a failure costs the host its view,
        never the interview."""
        try:
            await camera.run(self._show_guest)
        except Exception:
            logger.exception("the host of %s stopped seeing the guest", self.session_id)

    async def _show_guest(self, jpeg: bytes) -> None:
        if self.turns.host_ready and self.lifecycle.phase is InterviewPhase.LIVE:
            await self.bridge.send_video(jpeg)

    # Host → guest

    async def _relay_host(self) -> None:
        async for event in self.bridge.events():
            if isinstance(event, HostAudio):
                self._show(self.turns.host_audio(event))
            elif isinstance(event, Transcript):
                self._show(self.turns.transcript(event))
            elif isinstance(event, TurnComplete):
                self.turns.host_turn_complete()
            elif isinstance(event, Interrupted):
                self._show(self.turns.host_interrupted())
            elif isinstance(event, HostStatus):
                logger.warning("host %s: %s %s", self.session_id, event.state, event.detail)
                if event.state in CONNECTION_STATES:
                    self.hub.publish(host_event(event.state))
                elif event.state == "disconnected":
                    self.hub.publish(
                        error_event("The AI host lost its connection", "host_unavailable")
                    )

    def _show(self, effects: Sequence[ToGuest]) -> None:
        """Apply turn-taking's effects on what the guest hears and everyone sees."""
        for effect in effects:
            match effect:
                case PlayHost(audio):
                    self.mixer.push_host(self._host_converter.convert(audio.pcm, audio.sample_rate))
                case FlushHost():
                    self.mixer.flush_host()
                case AnnounceTurn(state):
                    self.hub.publish(host_event(state))
                case TranscriptAt(line, offset):
                    self._transcribe(line, offset)
                case HostReplied(after_ms):
                    VOICE_TO_VOICE.observe(after_ms / 1000)
                case GuestAudioDropped():
                    GUEST_AUDIO_DROPPED.inc()

    def _transcribe(self, line: Transcript, offset: int) -> None:
        self.hub.publish(transcript_event(line.role, line.text, offset, line.final))
        if line.final and line.text.strip():
            try:
                self._transcripts.put_nowait((line.role, line.text.strip(), offset))
            except asyncio.QueueFull:
                logger.error("transcript writer is behind; a line was not stored: %r", line.text)

    def _on_outbound_frame(self, samples: Samples, had_host_audio: bool) -> None:
        if self.recorder is not None:
            self.recorder.host_audio.add(samples.tobytes(), self.clock.elapsed_s())
        self._show(self.turns.outbound_frame(had_host_audio, self.mixer.host_pending_samples))

    async def _write_transcripts(self) -> None:
        while (line := await self._transcripts.get()) is not None:
            role, text, offset = line
            try:
                await self._save_transcript(role, text, offset)
            except Exception:
                logger.exception("could not store a transcript line of %s", self.session_id)

    def _state(self) -> dict[str, object]:
        elapsed = self.clock.elapsed_ms()
        remaining = max(0, int(self.timing.duration_s * 1000) - elapsed)
        return state_event(self.lifecycle.phase, elapsed, remaining)
