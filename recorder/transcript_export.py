"""The interview's transcript as files: JSON, readable text, and SRT / WebVTT captions.

Stored messages carry when each line began (`relative_offset_ms`); a line ends where the
next one begins unless its end is known, and the last one after a reading-time estimate.
Captions must not overlap and must end after they start, so lines that begin together share
a cue, a cue ends no later than the next one starts, and long lines are split into cues of
at most two rows, their time shared in proportion to their text.
"""

from __future__ import annotations

import html
import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby, pairwise
from typing import Literal

Role = Literal["user", "ai", "director"]
SPEAKERS: dict[str, str] = {"ai": "Host", "user": "Guest", "director": "Director"}
# Director notes are marks in the text and JSON transcripts: nobody said them aloud, so they
# neither end a spoken line nor appear in captions.
NOTE_MS = 1
ROW_CHARS = 42  # captions' usual row length
ROWS = 2
MIN_CUE_MS = 700  # a split never makes cues shorter than this
MS_PER_WORD = 400  # about 150 words a minute
LAST_LINE_MS = (1_000, 30_000)  # bounds of the last line's estimated duration


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One stored message as said in the interview: who, what, and from when."""

    role: Role
    text: str
    relative_offset_ms: int
    end_ms: int | None = None  # when known (e.g. from the speech's audio)


@dataclass(frozen=True, slots=True)
class TimedLine:
    """A transcript line with both ends known."""

    role: Role
    text: str
    start_ms: int
    end_ms: int

    @property
    def speaker(self) -> str:
        """How the line's speaker is shown."""
        return SPEAKERS[self.role]


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption."""

    start_ms: int
    end_ms: int
    texts: tuple[str, ...]  # one, or one per speaker ("Host: ...") for lines said together
    speaker: str | None  # None when the texts name their speakers
    first: bool  # the first cue of its line, where captions name the speaker

    def rows(self, *, label: bool) -> list[str]:
        """The cue's text wrapped into rows, the speaker named first if `label`."""
        texts = list(self.texts)
        if label and self.first and self.speaker is not None:
            texts[0] = f"{self.speaker}: {texts[0]}"
        return [row for text in texts for row in textwrap.wrap(text, ROW_CHARS)]


def time_lines(lines: Sequence[TranscriptLine], *, duration_ms: int) -> list[TimedLine]:
    """The non-empty lines in order of their start, each with an end after its start."""
    kept = sorted(
        (line for line in lines if line.text.strip()),
        key=lambda line: max(0, line.relative_offset_ms),
    )
    timed = []
    for index, line in enumerate(kept):
        start = max(0, line.relative_offset_ms)
        if line.role == "director":
            timed.append(TimedLine(line.role, " ".join(line.text.split()), start, start + NOTE_MS))
            continue
        later = (
            max(0, other.relative_offset_ms)
            for other in kept[index + 1 :]
            if other.role != "director"
        )
        following = next((other for other in later if other > start), None)
        if line.end_ms is not None and line.end_ms > start:
            end = line.end_ms
        elif following is not None:
            end = following
        else:
            low, high = LAST_LINE_MS
            estimate = start + max(low, min(high, len(line.text.split()) * MS_PER_WORD))
            end = duration_ms if start + low <= duration_ms < estimate else estimate
        timed.append(TimedLine(line.role, " ".join(line.text.split()), start, end))
    return timed


def _boundaries(start: int, end: int, pieces: Sequence[str]) -> list[int]:
    """Cue edges sharing [start, end) in proportion to each piece's length."""
    total = sum(len(piece) for piece in pieces)
    done, edges = 0, [start]
    for piece in pieces:
        done += len(piece)
        edges.append(start + (end - start) * done // total)
    return edges


def cues(lines: Sequence[TimedLine]) -> list[Cue]:
    """Captions for timed lines: never overlapping, each ending after it starts."""
    spoken = [line for line in lines if line.role != "director"]
    groups = [list(group) for _, group in groupby(spoken, key=lambda line: line.start_ms)]
    result: list[Cue] = []
    for index, group in enumerate(groups):
        start = group[0].start_ms
        end = max(line.end_ms for line in group)
        if index + 1 < len(groups):
            end = min(end, groups[index + 1][0].start_ms)
        if len(group) > 1:  # said at the same moment: one cue, a row per speaker
            texts = tuple(f"{line.speaker}: {line.text}" for line in group)
            result.append(Cue(start, end, texts, speaker=None, first=True))
            continue
        line = group[0]
        label = f"{line.speaker}: "
        rows = textwrap.wrap(label + line.text, ROW_CHARS)
        parts = max(1, min(math.ceil(len(rows) / ROWS), (end - start) // MIN_CUE_MS))
        per_cue = math.ceil(len(rows) / parts)
        pieces = [" ".join(rows[at : at + per_cue]) for at in range(0, len(rows), per_cue)]
        pieces[0] = pieces[0].removeprefix(label)
        edges = _boundaries(start, end, pieces)
        if any(later <= earlier for earlier, later in pairwise(edges)):
            pieces, edges = [line.text], [start, end]
        for number, (piece, (low, high)) in enumerate(zip(pieces, pairwise(edges), strict=True)):
            result.append(Cue(low, high, (piece,), speaker=line.speaker, first=number == 0))
    return result


def _clock(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def to_srt(lines: Sequence[TimedLine]) -> str:
    """SubRip captions, the speaker named at the start of each line."""
    blocks = []
    for number, cue in enumerate(cues(lines), start=1):
        rows = cue.rows(label=True)
        timing = f"{_clock(cue.start_ms, ',')} --> {_clock(cue.end_ms, ',')}"
        blocks.append("\n".join([str(number), timing, *rows]))
    return "".join(f"{block}\n\n" for block in blocks)


def to_vtt(lines: Sequence[TimedLine]) -> str:
    """WebVTT captions, each cue's speaker in a voice span."""
    blocks = ["WEBVTT"]
    for cue in cues(lines):
        rows = [html.escape(row, quote=False) for row in cue.rows(label=False)]
        if cue.speaker is not None:
            rows[0] = f"<v {cue.speaker}>{rows[0]}"
        timing = f"{_clock(cue.start_ms, '.')} --> {_clock(cue.end_ms, '.')}"
        blocks.append("\n".join([timing, *rows]))
    return "".join(f"{block}\n\n" for block in blocks)


def to_text(lines: Sequence[TimedLine]) -> str:
    """Readable text: "[mm:ss] Host: ..." per line ([h:mm:ss] when it runs past an hour)."""
    long = any(line.start_ms >= 3_600_000 for line in lines)
    paragraphs = []
    for line in lines:
        hours, rest = divmod(line.start_ms // 1000, 3600)
        minutes, seconds = divmod(rest, 60)
        stamp = f"{hours}:{minutes:02d}:{seconds:02d}" if long else f"{minutes:02d}:{seconds:02d}"
        paragraphs.append(f"[{stamp}] {line.speaker}: {line.text}\n")
    return "\n".join(paragraphs)


def to_json(lines: Sequence[TimedLine], *, duration_ms: int) -> str:
    """Every line with its role, speaker, text and start and end (ms from the zero)."""
    document = {
        "duration_ms": duration_ms,
        "lines": [
            {
                "role": line.role,
                "speaker": line.speaker,
                "text": line.text,
                "start_ms": line.start_ms,
                "end_ms": line.end_ms,
            }
            for line in lines
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
