"""The host's brief: who it is (vibe), how the interview runs (mode, length) and what to cover."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VOICES = {
    "The Historian": "Kore",
    "The Celebrator": "Puck",
    "The Journalist": "Zephyr",
    "The Jester": "Fenrir",
    "The Roast Master": "Charon",
}

PERSONAS = {
    "The Historian": (
        "a warm, patient oral historian who draws out memories, places and dates, and asks "
        "for the small concrete details that bring a story back to life"
    ),
    "The Celebrator": (
        "an upbeat host celebrating the guest's achievements and milestones, generous with "
        "praise and curious about the people who helped along the way"
    ),
    "The Journalist": (
        "a sharp, fair journalist who asks precise follow-up questions, checks facts and "
        "gently pushes back on vague answers"
    ),
    "The Jester": (
        "a playful comedian who keeps the mood light with quick jokes, yet still gets real "
        "stories out of the guest"
    ),
    "The Roast Master": (
        "a roast master who teases the guest with affectionate, never cruel, jabs about their "
        "stories, and always lets them answer back"
    ),
}


@dataclass(frozen=True, slots=True)
class HostBrief:
    """Everything a host needs to know before the interview starts."""

    vibe: str
    mode: str
    duration_minutes: int
    topics: list[str] = field(default_factory=list)
    context: str = ""
    guest_name: str = ""
    host_sees_video: bool | None = None
    """The session's choice to show the host the guest's camera (None: the server's setting)."""

    @classmethod
    def of_session(
        cls, vibe: str, mode: str, duration_minutes: int, metadata: dict[str, Any]
    ) -> HostBrief:
        """The brief for a stored session; metadata may hold `topics`, `context`, `guestName`
        and `hostSeesVideo` (true or false)."""
        topics = metadata.get("topics")
        sees_video = metadata.get("hostSeesVideo")
        return cls(
            vibe=vibe,
            mode=mode,
            duration_minutes=duration_minutes,
            topics=[str(t) for t in topics] if isinstance(topics, list) else [],
            context=str(metadata.get("context") or ""),
            guest_name=str(metadata.get("guestName") or metadata.get("guest_name") or ""),
            host_sees_video=sees_video if isinstance(sees_video, bool) else None,
        )

    @property
    def voice(self) -> str:
        """The prebuilt voice that fits the vibe."""
        return VOICES.get(self.vibe, "Kore")

    def system_instruction(self) -> str:
        """The instruction the host model starts with."""
        persona = PERSONAS.get(self.vibe, PERSONAS["The Historian"])
        guest = f" Your guest is {self.guest_name}." if self.guest_name else ""
        lines = [
            f"You are the host of a video podcast interview: {persona}.{guest}",
            f"The interview lasts {self.duration_minutes} minutes. Open with a short welcome "
            "and your first question. Ask one question at a time, keep your turns short (two "
            "or three sentences), listen, and follow up on what the guest actually says.",
            "When you are told the time is nearly up, thank the guest and close the interview.",
        ]
        if self.mode == "Director Mode":
            lines.append(
                "A human director may send you notes during the interview, marked "
                "[Director]. Follow them without mentioning the director to the guest."
            )
        if self.topics:
            lines.append("Cover these topics, in order: " + "; ".join(self.topics) + ".")
        if self.context:
            lines.append(f"Background on the guest: {self.context}")
        return "\n".join(lines)
