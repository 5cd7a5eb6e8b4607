"""Wires the interview engine to the rest of the server: stores, host bridges, ICE, sources."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from cluster.leases import HeldLease, Leases
from config import Settings
from director.bus import InterviewBus
from director.link import NoteKeeper, directing
from recorder.manifest import session_media_dir
from recorder.session import SessionRecorder
from rtc.audio import load_clip
from rtc.bridge.base import HostBridge
from rtc.bridge.brief import HostBrief
from rtc.bridge.offline.host import OfflineHost
from rtc.bridge.offline.speech import SpeechSynthesizer
from rtc.bridge.offline.transcriber import Transcriber, build_transcriber
from rtc.interview import Interview, VadSettings
from rtc.mixer import OneShotSource
from rtc.peers.ice import IcePolicy, install_ice_policy, parse_host_addresses, parse_port_range
from rtc.registry import (
    BridgeFactory,
    InterviewRegistry,
    RegistrySettings,
    VideoPolicy,
    host_never_sees,
)
from store.director_notes import DirectorNoteStore
from store.messages import MessageStore
from store.sessions import SessionStore

STING_GAIN = 0.5  # under the host's voice, which may start while it plays
FINISHED_STATUSES = frozenset({"processing", "ready", "failed"})

INTERVIEWS_LIVE = Gauge(
    "monumento_interviews_live",
    "Interviews live on this node: media flowing, not yet ended (what the HPA scales on).",
)
INTERVIEWS_FINISHED = Counter(
    "monumento_interviews_finished",
    "Interviews ended on this node, by outcome: processing (recorded, to be finalised), "
    "ready (nothing to finalise), failed, or abandoned (ended before any media flowed).",
    ["outcome"],
)


class StoreInterviewPersistence:
    """Transcript lines become messages; phases move the session's status (and the
    interview metrics, counted as the status moves)."""

    def __init__(
        self, sessions: SessionStore, messages: MessageStore, notes: DirectorNoteStore
    ) -> None:
        self._sessions = sessions
        self._messages = messages
        self._notes = notes
        self._live: set[uuid.UUID] = set()

    async def save_transcript(
        self, session_id: uuid.UUID, role: str, text: str, relative_offset_ms: int
    ) -> None:
        await self._messages.add(
            session_id, role=role, text=text, relative_offset_ms=relative_offset_ms
        )

    async def set_status(self, session_id: uuid.UUID, status: str) -> None:
        if status == "live" and session_id not in self._live:
            self._live.add(session_id)
            INTERVIEWS_LIVE.inc()
        elif status in FINISHED_STATUSES and session_id in self._live:
            self._live.discard(session_id)  # its first outcome counts; a later one does not
            INTERVIEWS_LIVE.dec()
            INTERVIEWS_FINISHED.labels(status).inc()
        await self._sessions.set_status(session_id, status)

    async def claim_start(self, session_id: uuid.UUID) -> bool:
        return await self._sessions.claim_start(session_id)

    async def claim_stale_start(self, session_id: uuid.UUID, older_than: timedelta) -> bool:
        return await self._sessions.claim_stale_start(session_id, older_than)

    async def release_start(self, session_id: uuid.UUID) -> None:
        INTERVIEWS_FINISHED.labels("abandoned").inc()
        await self._sessions.release_start(session_id)

    async def save_host_report(self, session_id: uuid.UUID, report: dict[str, Any]) -> None:
        await self._sessions.merge_metadata(session_id, {"hostConnection": report})

    def handed_over(self, session_id: uuid.UUID) -> None:
        if session_id in self._live:
            self._live.discard(session_id)
            INTERVIEWS_LIVE.dec()
            INTERVIEWS_FINISHED.labels("handed_over").inc()

    async def save_director_note(
        self,
        session_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None,
        kind: str,
        text: str,
        now: bool,
        relative_offset_ms: int,
    ) -> None:
        await self._notes.add(
            session_id,
            user_id=user_id,
            kind=kind,
            text=text,
            now=now,
            relative_offset_ms=relative_offset_ms,
        )


class NodeHooks:
    """Each interview of this node: its lease (one owner in the deployment), its directors."""

    def __init__(self, leases: Leases, bus: InterviewBus, notes: NoteKeeper) -> None:
        self._leases = leases
        self._bus = bus
        self._notes = notes

    async def take(self, session_id: uuid.UUID) -> HeldLease | None:
        return await self._leases.take(session_id)

    @asynccontextmanager
    async def serve(self, interview: Interview) -> AsyncIterator[None]:
        async with directing(interview, self._bus, self._notes):
            yield


class SharedTranscriber:
    """One transcriber for every offline interview of the process, built for the first one.

    PocketSphinx starts its recognizer processes and loads its model (~0.5-1 s of CPU each)
    only in a server that runs an offline interview, and then once.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._transcriber: Transcriber | None = None

    def get(self) -> Transcriber:
        """The transcriber, built on first use."""
        if self._transcriber is None:
            key = self._settings.openai_api_key
            self._transcriber = build_transcriber(
                key.get_secret_value() if key else None, self._settings.openai_base_url
            )
        return self._transcriber

    async def close(self) -> None:
        """Release it, if it was ever built."""
        if self._transcriber is not None:
            await self._transcriber.close()


def video_policy(settings: Settings) -> VideoPolicy:
    """Whether a session's host sees the guest's camera: only a Gemini host can; the
    session's `hostSeesVideo` metadata, when set, overrides `GEMINI_SEND_VIDEO`."""
    if settings.gemini_api_key is None:
        return host_never_sees

    def sees(brief: HostBrief) -> bool:
        chosen = brief.host_sees_video
        return settings.gemini_send_video if chosen is None else chosen

    return sees


def bridge_factory(
    settings: Settings, synthesizer: SpeechSynthesizer, transcriber: SharedTranscriber
) -> BridgeFactory:
    """Gemini Live when a key is set, the offline host otherwise."""

    def offline(brief: HostBrief) -> HostBridge:
        return OfflineHost(brief, synthesizer=synthesizer, transcriber=transcriber.get())

    if settings.gemini_api_key is None:
        return offline

    from google.genai import types

    from rtc.bridge.gemini.bridge import DEFAULT_MODEL, GeminiLiveBridge
    from rtc.bridge.gemini.tuning import GeminiTuning

    api_key = settings.gemini_api_key.get_secret_value()
    options = types.HttpOptions()
    if settings.gemini_ca_file is not None:
        trusted = ssl.create_default_context(cafile=str(settings.gemini_ca_file))
        options = types.HttpOptions(async_client_args={"ssl": trusted})
    tuning = GeminiTuning(
        compression_trigger_tokens=settings.gemini_compression_trigger_tokens,
        compression_target_tokens=settings.gemini_compression_target_tokens,
        cost_control=settings.gemini_cost_control,
        silence_pause_s=settings.gemini_silence_pause_seconds,
        rotation=settings.gemini_rotation,
    )

    sees_video = video_policy(settings)

    def gemini(brief: HostBrief) -> HostBridge:
        return GeminiLiveBridge(
            brief,
            api_key=api_key,
            model=settings.gemini_model or DEFAULT_MODEL,
            base_url=settings.gemini_base_url,
            http_options=options,
            tuning=tuning,
            sees_video=sees_video(brief),
        )

    return gemini


def intro_sources(path: Path | None) -> Callable[[], list[OneShotSource]]:
    """Each interview's extra outbound sources: the intro sting, when one is set."""
    if path is None:
        return list
    sting = load_clip(str(path))

    def sources() -> list[OneShotSource]:
        return [OneShotSource(sting, gain=STING_GAIN)]

    return sources


def build_registry(
    settings: Settings,
    sessions: SessionStore,
    messages: MessageStore,
    synthesizer: SpeechSynthesizer,
    transcriber: SharedTranscriber,
    recorder_io: Executor,
    leases: Leases,
    bus: InterviewBus,
    notes: DirectorNoteStore,
    on_recorded: Callable[[uuid.UUID], None],
    hosts: BridgeFactory | None = None,
    on_manifest: Callable[[uuid.UUID], Awaitable[None]] | None = None,
) -> InterviewRegistry:
    """The process's interview registry, with ICE set up as the settings say; each
    interview holds its lease in `leases` and serves its directors over `bus`."""
    install_ice_policy(
        IcePolicy(
            host_addresses=parse_host_addresses(settings.rtc_host_addresses),
            port_range=parse_port_range(settings.rtc_udp_ports),
        )
    )
    persistence = StoreInterviewPersistence(sessions, messages, notes)
    return InterviewRegistry(
        bridge_factory=hosts or bridge_factory(settings, synthesizer, transcriber),
        sources=intro_sources(settings.intro_sting_path),
        recorders=lambda session_id: SessionRecorder(
            session_media_dir(settings.data_dir, session_id),
            str(session_id),
            recorder_io,
            on_change=None if on_manifest is None else partial(on_manifest, session_id),
        ),
        on_recorded=on_recorded,
        persistence=persistence,
        hooks=NodeHooks(leases, bus, persistence),
        settings=RegistrySettings(
            vad=VadSettings(
                aggressiveness=settings.vad_aggressiveness,
                start_ms=settings.vad_start_ms,
                preroll_ms=settings.vad_preroll_ms,
                hangover_ms=settings.vad_hangover_ms,
            ),
            minute_s=settings.interview_minute_seconds,
            rejoin_grace_s=settings.rejoin_grace_seconds,
            host_sees_video=video_policy(settings),
        ),
    )
