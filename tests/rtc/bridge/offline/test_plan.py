"""The offline host's plan and the brief every host starts from."""

from __future__ import annotations

from rtc.bridge.brief import HostBrief
from rtc.bridge.offline.plan import CLOSING, OPENINGS, QUESTIONS, QuestionPlan


def brief(**metadata: object) -> HostBrief:
    return HostBrief.of_session("The Journalist", "Director Mode", 20, dict(metadata))


def test_opening_welcomes_then_asks_about_the_first_topic() -> None:
    plan = QuestionPlan(brief(topics=["your startup", "your family"]))
    opening = plan.opening()
    assert opening.startswith(OPENINGS["The Journalist"])
    assert "your startup" in opening
    assert plan.next_line() == "Let's talk about your family. What comes to mind first?"
    assert plan.next_line() == QUESTIONS["The Journalist"][0]


def test_notes_jump_ahead_and_topics_can_be_replaced() -> None:
    plan = QuestionPlan(brief(topics=["a"]))
    plan.add_note("  Ask about the merger. ")
    plan.set_topics(["b", " ", "c"])
    assert plan.next_line() == "Ask about the merger."
    assert "b" in (plan.next_line() or "")
    assert "c" in (plan.next_line() or "")
    assert plan.address_now("What happened in 2019?").endswith("What happened in 2019?")


def test_wrap_up_says_the_closing_once_then_nothing() -> None:
    plan = QuestionPlan(brief())
    plan.wrap_up()
    assert plan.closing_due
    assert plan.next_line() == CLOSING
    assert plan.finished and not plan.closing_due
    assert plan.next_line() is None


def test_the_brief_carries_persona_voice_mode_and_topics() -> None:
    b = brief(topics=["x", 3], context="Founded a bakery", guestName="Ada")
    assert b.voice == "Zephyr"
    assert b.topics == ["x", "3"]
    text = b.system_instruction()
    assert "journalist" in text and "Ada" in text and "20 minutes" in text
    assert "[Director]" in text and "x; 3" in text and "bakery" in text
    assert HostBrief.of_session("The Jester", "Auto-Pilot", 5, {}).voice == "Fenrir"
    assert (
        "[Director]"
        not in HostBrief.of_session("The Jester", "Auto-Pilot", 5, {}).system_instruction()
    )
