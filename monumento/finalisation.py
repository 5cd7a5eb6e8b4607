"""Wires finalisation jobs to the stores: the transcript in, the session's fields and the
recording catalog out."""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client import Counter

from media.catalog import RecordingCatalog
from media.storage import MediaStorage
from recorder.transcript_export import TranscriptLine
from store.director_notes import DirectorNoteStore
from store.messages import MessageStore
from store.sessions import SessionStore

RECORDINGS_FINALISED = Counter(
    "monumento_recordings_finalised",
    "Recordings whose finalisation ended, by result: ready (MP4, mix, transcripts) or failed.",
    ["result"],
)


class StoreJobHooks:
    """Finalisation reads the stored transcript and writes status, progress, URLs and the
    manifest every node reads."""

    def __init__(
        self,
        sessions: SessionStore,
        messages: MessageStore,
        notes: DirectorNoteStore,
        media: MediaStorage,
        catalog: RecordingCatalog,
        public_base_url: str,
    ) -> None:
        self._sessions = sessions
        self._messages = messages
        self._notes = notes
        self._media = media
        self._catalog = catalog
        self._base = public_base_url.rstrip("/")

    async def transcript(self, session_id: uuid.UUID) -> list[TranscriptLine]:
        spoken = [
            TranscriptLine(
                role="ai" if message.role == "ai" else "user",
                text=message.text,
                relative_offset_ms=message.relative_offset_ms or 0,
            )
            for message in await self._messages.all(session_id)
        ]
        notes = [
            TranscriptLine(
                role="director",
                text=note.text if note.kind == "inject" else f"Topics: {note.text}",
                relative_offset_ms=note.relative_offset_ms,
            )
            for note in await self._notes.all(session_id)
        ]
        return spoken + notes

    async def progress(self, session_id: uuid.UUID, fraction: float) -> None:
        await self._sessions.set_server_fields(session_id, progress=round(fraction, 3))

    async def changed(self, session_id: uuid.UUID) -> None:
        await self._catalog.publish(session_id)

    async def finished(self, session_id: uuid.UUID, outputs: dict[str, Any] | None) -> None:
        RECORDINGS_FINALISED.labels("failed" if outputs is None else "ready").inc()
        if outputs is None:
            await self._sessions.set_status(session_id, "failed", progress=None)
            return
        await self._media.upload_session(session_id, self._media.folder(session_id))
        await self._catalog.publish(session_id)  # now with its files in the bucket
        recording = f"{self._base}/api/v1/sessions/{session_id}/recording"
        await self._sessions.set_status(
            session_id,
            "ready",
            progress=1.0,
            video_url=f"{recording}/files/video",
            transcript_url=f"{recording}/files/transcript_json",
        )
