"""The recording catalog: what every node of a deployment knows about a session's recording.

The node that records a session keeps its manifest on its own disk (`recorder/manifest.py`).
The catalog mirrors it into the database (`store/recordings.py`) each time it changes (a
track starts or ends, finalisation starts, ends or fails, the files are uploaded), so that
any node can list the recording and hand out URLs to its files. The database, not the
bucket, because it is already shared by every node with either storage backend, is read in
one query, and cascades with the session when it is deleted.

A node that holds the session folder (the one that recorded it, or every node when they
share `DATA_DIR`) reads its own disk, which is never behind; any other node reads the
database. Sessions recorded before the catalog existed are listed by `backfill` at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from media.storage import MediaStorage, find_file
from recorder.manifest import Manifest, read_manifest
from store.recordings import RecordingStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recording:
    """A session's recording as one node sees it."""

    manifest: Manifest
    files: frozenset[str]  # finished files that exist: tracks no longer growing, outputs made
    mirrored: frozenset[str]  # of those, the ones with a current copy in shared storage
    node_id: str | None  # the node whose disk holds them, or None: this node's own disk


def read_local(folder: Path, media: MediaStorage) -> Recording | None:
    """The recording in this node's session folder, if one was made (blocking: use a thread)."""
    manifest = read_manifest(folder)
    if manifest is None or not manifest.tracks:
        return None
    # A track still being recorded grows while it would be sent: it is listed once done.
    finished = [track.file for track in manifest.tracks if track.state != "recording"]
    listed = finished + list(manifest.outputs.values())
    files = frozenset(name for name in listed if find_file(folder, name) is not None)
    return Recording(manifest, files, files & frozenset(media.mirrored(folder)), None)


class RecordingCatalog:
    """Publishes this node's recordings to the database and finds any node's."""

    def __init__(self, store: RecordingStore, media: MediaStorage, node_id: str) -> None:
        self._store = store
        self._media = media
        self._node_id = node_id

    async def publish(self, session_id: uuid.UUID) -> None:
        """Mirror the session folder's manifest and files into the database.

        Never raises: a recording must go on when the database does not answer. The error is
        logged, and the next change of the recording publishes it whole again.
        """
        found = await asyncio.to_thread(read_local, self._media.folder(session_id), self._media)
        if found is None:
            return
        try:
            await self._store.put(
                session_id,
                node_id=self._node_id,
                manifest=found.manifest.to_json(),
                files=sorted(found.files),
                mirrored=sorted(found.mirrored),
            )
        except Exception:  # the mirror is best effort; this node still serves it from disk
            logger.exception("the recording of %s is not listed for the other nodes", session_id)

    async def find(self, session_id: uuid.UUID) -> Recording | None:
        """The session's recording from this node's disk, else as its node published it."""
        local = await asyncio.to_thread(read_local, self._media.folder(session_id), self._media)
        if local is not None:
            return local
        record = await self._store.get(session_id)
        if record is None:
            return None
        manifest = Manifest.from_json(record.manifest)
        if not manifest.tracks:
            return None
        files, mirrored = frozenset(record.files), frozenset(record.mirrored)
        return Recording(manifest, files, mirrored, record.node_id)

    async def backfill(self, media_dir: Path) -> int:
        """Publish the recordings in `media_dir` the database does not list yet (those made
        before the catalog existed); returns how many folders were missing.

        Never raises: a node starts (and `/readyz` says what fails) without its database.
        """
        folders = await asyncio.to_thread(_session_ids, media_dir)
        if not folders:
            return 0
        try:
            missing = set(folders) - await self._store.listed(folders)
        except Exception:  # published at the next start instead; served from disk meanwhile
            logger.exception("the recordings in %s were not checked for listing", media_dir)
            return 0
        for session_id in sorted(missing):
            await self.publish(session_id)
        return len(missing)


def _session_ids(media_dir: Path) -> list[uuid.UUID]:
    """The sessions with a folder under `media_dir` (blocking)."""
    if not media_dir.is_dir():
        return []
    found = []
    for folder in media_dir.iterdir():
        try:
            found.append(uuid.UUID(folder.name))
        except ValueError:  # not a session folder
            continue
    return found
