"""Where a session's media lives and the URLs clients fetch it by: the protocol and local disk.

Every backend keeps the recording in the session folder on this machine
(`{DATA_DIR}/media/{session_id}/`, see `recorder/manifest.py`), where the recorder writes it;
a remote backend (`media/s3.py`) mirrors the finished files and serves them from there.
Other nodes learn what a folder holds from the recording catalog (`media/catalog.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from media.signing import MediaSigner
from recorder.manifest import FINAL_DIR, read_manifest, session_media_dir


class MediaStorage(Protocol):
    """Keeps a session's recorded files and hands out time-limited URLs to them."""

    def folder(self, session_id: uuid.UUID) -> Path:
        """The session's folder on this machine (where the recorder writes)."""

    async def upload_session(self, session_id: uuid.UUID, folder: Path) -> None:
        """Make the session's finished files available at their URLs (safe to repeat)."""

    async def url_for(self, session_id: uuid.UUID, relative_path: str) -> str:
        """A URL that serves the file at `relative_path` in the session folder, for a while."""

    async def delete_session(self, session_id: uuid.UUID) -> None:
        """Remove every copy of the session's media (a missing one is not an error)."""

    def mirrored(self, folder: Path) -> list[str]:
        """The folder's files whose copy in shared storage is current (blocking: use a
        thread); none for local storage, which keeps no other copy."""

    async def link(self, session_id: uuid.UUID, relative_path: str, *, mirrored: bool) -> str:
        """A URL of a file whose place the recording catalog knows, so any node can give it:
        the shared copy when `mirrored`, else the app's own signed URL (served by a node that
        has the file on its disk)."""


class LocalMediaStorage:
    """Session folders on this machine's disk, served by the app itself under signed URLs."""

    def __init__(self, data_dir: Path, signer: MediaSigner, base_url: str) -> None:
        self._data_dir = data_dir
        self._signer = signer
        self._base_url = base_url.rstrip("/")

    def folder(self, session_id: uuid.UUID) -> Path:
        """The session's folder under `DATA_DIR/media`."""
        return session_media_dir(self._data_dir, session_id)

    async def upload_session(self, session_id: uuid.UUID, folder: Path) -> None:
        """Nothing to do: the files are served from where the recorder wrote them."""

    async def url_for(self, session_id: uuid.UUID, relative_path: str) -> str:
        """`{base_url}/{session_id}/{path}?expires=…&signature=…`, served by the media route."""
        path = f"{session_id}/{relative_path}"
        return f"{self._base_url}/{quote(path, safe='/')}?{self._signer.query(path)}"

    async def delete_session(self, session_id: uuid.UUID) -> None:
        """Remove the session folder and everything in it."""
        await asyncio.to_thread(_remove_tree, self.folder(session_id))

    def mirrored(self, folder: Path) -> list[str]:
        """None: the files are only in the folder (shared only if `DATA_DIR` is)."""
        return []

    async def link(self, session_id: uuid.UUID, relative_path: str, *, mirrored: bool) -> str:
        """The signed URL of the media route, whichever node serves it."""
        return await self.url_for(session_id, relative_path)


def find_file(folder: Path, relative_path: str) -> tuple[Path, os.stat_result] | None:
    """The regular file at `relative_path` inside `folder`, or None (blocking: use a thread).

    Absolute paths, `..` and symlinks leading out of the folder all come back as None: the
    path is resolved and must still lie inside the resolved folder.
    """
    if not relative_path or "\\" in relative_path or "\x00" in relative_path:
        return None
    if relative_path.startswith("/") or ".." in relative_path.split("/"):
        return None
    try:
        root = folder.resolve(strict=True)
        target = (root / relative_path).resolve(strict=True)
        status = target.stat()
    except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
        return None
    if not target.is_relative_to(root) or target == root or not target.is_file():
        return None
    return target, status


def finished_files(folder: Path) -> list[str]:
    """The session's files that will not change again (blocking: use a thread).

    Those are the tracks the manifest marks complete or repaired and the outputs in
    `final/` (not the `.`-prefixed files finalisation is still writing).
    """
    manifest = read_manifest(folder)
    names = [] if manifest is None else [t.file for t in manifest.tracks if t.state != "recording"]
    final = folder / FINAL_DIR
    if final.is_dir():
        names += sorted(
            f"{FINAL_DIR}/{entry.name}"
            for entry in final.iterdir()
            if entry.is_file() and not entry.name.startswith(".")
        )
    return [name for name in names if find_file(folder, name) is not None]


def _remove_tree(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(folder)
