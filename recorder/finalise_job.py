"""`python -m recorder.finalise_job FOLDER`: finalise one recording in a process of its own.

Finalisation is minutes of CPU (H.264 encoding): in its own, lower-priority process it can
neither hold the server's GIL nor crash it. The transcript comes as JSON lines on stdin; the
process reports `{"progress": f}` lines and then `{"outputs": {...}}` (or `{"error": "..."}`
and exit status 1) on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from recorder.finalise import finalise
from recorder.transcript_export import TranscriptLine


def _emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    """Run the job; the exit status says whether it worked."""
    if len(argv) != 1:
        _emit({"error": "usage: python -m recorder.finalise_job FOLDER"})
        return 2
    os.nice(10)  # live interviews on this machine come first
    lines = [TranscriptLine(**json.loads(line)) for line in sys.stdin if line.strip()]
    try:
        outputs = finalise(
            Path(argv[0]), lines, on_progress=lambda fraction: _emit({"progress": fraction})
        )
    except Exception as error:
        _emit({"error": f"{type(error).__name__}: {error}"})
        return 1
    _emit({"outputs": asdict(outputs)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
