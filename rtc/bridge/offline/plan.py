"""What the offline host says next: topics first, then its vibe's questions; notes jump ahead.

Sans-I/O: the plan only produces lines; `OfflineHost` speaks them.
"""

from __future__ import annotations

from collections import deque

from rtc.bridge.brief import HostBrief

OPENINGS = {
    "The Historian": "Welcome, and thank you for sharing your story with me today.",
    "The Celebrator": "Welcome! Today is all about celebrating you, so let's get started.",
    "The Journalist": "Thanks for joining me. I have a few questions, so let's dive right in.",
    "The Jester": "Welcome to the show! Don't worry, the questions are easier than the jokes.",
    "The Roast Master": "Welcome to the hot seat. I promise to be gentle. Mostly.",
}

QUESTIONS = {
    "The Historian": [
        "Where did you grow up, and what do you remember most about that place?",
        "Who was the person who shaped you most when you were young?",
        "What was a turning point in your life that you still think about?",
        "What is a tradition from your family that you would like to pass on?",
    ],
    "The Celebrator": [
        "What is the achievement you are proudest of?",
        "Who helped you most along the way, and how?",
        "What was the best day of the last year for you?",
        "What are you looking forward to celebrating next?",
    ],
    "The Journalist": [
        "What do you do, and why does it matter to you?",
        "What is a decision you made that others disagreed with?",
        "What would you change about your field if you could?",
        "What is something people often get wrong about you?",
    ],
    "The Jester": [
        "What is the funniest thing that ever happened to you at work?",
        "If your life were a sitcom, what would it be called?",
        "What is the worst advice you ever followed?",
        "What is your most useless talent?",
    ],
    "The Roast Master": [
        "What is the most questionable fashion choice you ever made?",
        "What hobby did you pick up and drop within a week?",
        "What would your friends say is your most annoying habit?",
        "What is the worst gift you have ever given?",
    ],
}

CLOSING = (
    "We are nearly out of time. Thank you so much for sharing all of this with me; "
    "it has been a real pleasure."
)
REPROMPT = "Take your time. Whenever you are ready, tell me a little more."


class QuestionPlan:
    """The order of the offline host's lines for one interview."""

    def __init__(self, brief: HostBrief) -> None:
        self._vibe = brief.vibe if brief.vibe in QUESTIONS else "The Historian"
        self._topics: deque[str] = deque(brief.topics)
        self._questions: deque[str] = deque(QUESTIONS[self._vibe])
        self._notes: deque[str] = deque()
        self._wrapping_up = False
        self.finished = False

    def opening(self) -> str:
        """The welcome and the first question."""
        return f"{OPENINGS[self._vibe]} {self.next_line() or ''}".strip()

    def next_line(self) -> str | None:
        """The next thing to say; None once the closing words have been said."""
        if self.finished:
            return None
        if self._wrapping_up:
            self.finished = True
            return CLOSING
        if self._notes:
            return self._notes.popleft()
        if self._topics:
            return f"Let's talk about {self._topics.popleft()}. What comes to mind first?"
        question = self._questions.popleft()
        self._questions.append(question)
        return question

    def add_note(self, text: str) -> None:
        """A director's note, asked before the next planned question."""
        self._notes.append(text.strip())

    def address_now(self, text: str) -> str:
        """The line for a note to be addressed at once."""
        return f"Let me jump in here. {text.strip()}"

    def set_topics(self, topics: list[str]) -> None:
        """Replace the topics still to cover."""
        self._topics = deque(topic.strip() for topic in topics if topic.strip())

    @property
    def closing_due(self) -> bool:
        """The time is nearly up and the closing words have not been said."""
        return self._wrapping_up and not self.finished

    def wrap_up(self) -> None:
        """The next line is the closing one."""
        self._wrapping_up = True
