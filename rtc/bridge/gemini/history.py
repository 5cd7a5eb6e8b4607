"""The interview so far, bounded, as the bridge remembers it across connections.

A resumed Gemini Live session continues from the state of the handle it resumed: what was
said after that handle (a turn cut by a dropped connection, the guest's answer to it, a
note) must be told to it again, as a short catch-up. A fresh session (no handle, or one the
service refused) knows nothing: it is seeded with a compact summary of the brief, the
topics, the director notes and the last lines of both sides.

Only final transcript lines and the notes and topics actually sent are kept: the newest
`history_lines` lines and `history_notes` notes, each cut to `history_line_chars`.
Every entry has a sequence number; a `mark` taken when a handle arrives says what the
handle's state already holds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from rtc.bridge.brief import HostBrief
from rtc.bridge.gemini.tuning import GeminiTuning

Speaker = Literal["guest", "host", "director"]
CONNECTION_TAG = "[Connection]"
"""How the bridge's own client turns start (each says what happened and what to do)."""
_LABELS: dict[Speaker, str] = {"guest": "Guest", "host": "You", "director": "Director note"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One remembered line: what a speaker said (or the director noted), in order."""

    seq: int
    speaker: Speaker
    text: str
    cut: bool = False
    """A host line the connection cut off before the host finished it."""


class ConversationHistory:
    """The bounded record a fresh session is seeded from and a resumed one caught up with."""

    def __init__(self, brief: HostBrief, tuning: GeminiTuning) -> None:
        """An empty history of an interview run by `brief`."""
        self._brief = brief
        self._chars = tuning.history_line_chars
        self._lines: deque[Entry] = deque(maxlen=tuning.history_lines)
        self._notes: deque[Entry] = deque(maxlen=tuning.history_notes)
        self._topics = list(brief.topics)
        self._seq = 0

    @property
    def mark(self) -> int:
        """How many entries were ever added: entries after a mark came after it."""
        return self._seq

    def add(self, speaker: Speaker, text: str, *, cut: bool = False) -> None:
        """Remember a final line of `speaker` (or a director note)."""
        text = " ".join(text.split())
        if not text:
            return
        if len(text) > self._chars:
            text = text[: self._chars - 1].rstrip() + "…"
        self._seq += 1
        entry = Entry(self._seq, speaker, text, cut)
        (self._notes if speaker == "director" else self._lines).append(entry)

    def set_topics(self, topics: list[str]) -> None:
        """The topics the host was last given."""
        self._topics = list(topics)

    def since(self, mark: int) -> list[Entry]:
        """The kept entries added after `mark`, oldest first."""
        return sorted((e for e in (*self._lines, *self._notes) if e.seq > mark), key=_seq)

    def catch_up(self, mark: int, *, guest_after: int | None = None) -> str | None:
        """What a session resumed from a handle taken at `mark` missed (None: nothing). The
        guest's lines after `guest_after` are left out: their audio is sent to it again."""
        missed = [e for e in self.since(mark) if not _replayed(e, guest_after)]
        if not missed:
            return None
        lines = [
            f"{CONNECTION_TAG} The line to you dropped for a moment. This happened after the "
            "point your session was restored to:",
            *(_line(entry) for entry in missed),
        ]
        if guest_after is not None:
            lines.append("What the guest is saying now is played to you again next.")
        lines.append(
            "Carry on from there. Do not repeat what you already said and do not greet the "
            "guest again."
        )
        return "\n".join(lines)

    def summary(self, elapsed_s: float, *, guest_after: int | None = None) -> str:
        """The seed of a fresh session, after the brief's own instruction; the guest's lines
        after `guest_after` are left out (their audio is sent to the session again)."""
        brief = self._brief
        minutes = max(0, round(elapsed_s / 60))
        parts = [
            "THE INTERVIEW SO FAR. Your connection was reset and you are now continuing the "
            "same interview, already under way: do not welcome the guest or introduce "
            "yourself again, and do not ask again what was already answered.",
            f"- Vibe: {brief.vibe}; mode: {brief.mode}; about {minutes} of "
            f"{brief.duration_minutes} minutes have passed.",
        ]
        if self._topics:
            parts.append("- Topics to cover, in order: " + "; ".join(self._topics) + ".")
        if self._notes:
            parts.append("- Director notes so far, oldest first:")
            parts.extend(f"  - {note.text}" for note in self._notes)
        lines = [entry for entry in self._lines if not _replayed(entry, guest_after)]
        if lines:
            parts.append("- The last exchanges, oldest first:")
            parts.extend(f"  {_line(entry)}" for entry in lines)
        else:
            parts.append("- Nothing has been said yet.")
        return "\n".join(parts)

    def nudge(self) -> str:
        """The client turn that makes a freshly seeded session carry on."""
        return (
            f"{CONNECTION_TAG} The call was reconnected. Carry on the interview from where it "
            "stopped (see THE INTERVIEW SO FAR in your instructions)."
        )


def _line(entry: Entry) -> str:
    label = _LABELS[entry.speaker]
    if entry.cut:
        label += " (cut off)"
    return f"{label}: {entry.text}"


def _replayed(entry: Entry, guest_after: int | None) -> bool:
    """Whether `entry` is a guest line whose audio is sent to the session again."""
    return guest_after is not None and entry.speaker == "guest" and entry.seq > guest_after


def _seq(entry: Entry) -> int:
    return entry.seq
