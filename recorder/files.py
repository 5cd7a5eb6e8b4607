"""A recording is written once: its files are created exclusively and never replaced.

Track files are opened with `O_EXCL`, a session's folder is claimed once, and finished
outputs are written under a new temporary name and then linked to their final name, which
link(2) refuses when the name is taken; so no code path truncates or replaces a recording.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

__all__ = ["RecordingExistsError", "claim_folder", "create_new", "new_temporary", "publish"]


class RecordingExistsError(FileExistsError):
    """The file (or a folder with files in it) already exists: a recording is never rewritten."""


def claim_folder(folder: Path) -> None:
    """Create a session's recording folder; `RecordingExistsError` if it already holds files
    (an empty one, left by an interview that never received media, is taken as it is)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        if any(folder.iterdir()):
            raise RecordingExistsError(
                f"{folder} already holds a recording: an interview is recorded once"
            ) from None


def create_new(path: Path) -> BinaryIO:
    """Open a file that must not exist yet for writing (`O_CREAT | O_EXCL`)."""
    try:
        return path.open("xb")
    except FileExistsError as error:
        raise RecordingExistsError(f"{path} already exists: it is never written over") from error


def new_temporary(target: Path) -> Path:
    """A new empty file beside `target`, created exclusively under a unique name that starts
    with a dot (so nothing serves it), for `publish` to give its final name."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(handle)
    return Path(name)


def publish(temporary: Path, target: Path) -> None:
    """Give the finished `temporary` its final name, atomically and only if that name is
    free (`RecordingExistsError` otherwise); the temporary name is removed either way."""
    try:
        os.link(temporary, target)
    except FileExistsError as error:
        raise RecordingExistsError(f"{target} already exists: it is never replaced") from error
    finally:
        temporary.unlink(missing_ok=True)
