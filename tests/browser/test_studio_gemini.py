"""A browser interview with the Gemini Live host on short connections, against the strict
fake: each connection lives 8 s (goAway 3 s before its close), and the endpoint refuses a
resume while the session's earlier socket is open (1011), as the Gemini API does. The guest
answers twice through Chromium's fake microphone; each answer must reach the model whole
and each reply must come back to the page, across the rotations in between.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import (
    Pages,
    chromium_args_for,
    launch_chromium,
    new_pages,
    screenshot,
    serve_studio,
    write_guest_wav,
)
from tests.browser.test_studio import create_director_session, sign_up
from tests.fakes.audio import GUEST_RATE, EnergyVad
from tests.fakes.gemini_live import FakeConnection, FakeGeminiConfig, FakeGeminiLive
from tests.fakes.tls import local_tls
from tests.live_server import LiveServer
from tests.media.speech import speech_pcm

# The guest's two answers, about 18 s apart (seconds after the studio opens the microphone):
# the first comes after the host's opening, and rotations happen during and between them.
ANSWERS = (
    (9.0, "I grew up in a small town by the sea, and I remember the fishing boats at dawn."),
    (27.0, "My father mended nets on the quay, and my mother ran the bakery on the corner."),
)
# goAway 5 s after each setup, the close 3 s later: 8-second connections. Numbered turns
# ("… (#7)") tell the guest's answers and the host's replies apart over all connections.
CONFIG = FakeGeminiConfig(connection_lifetime=5.0, go_away_grace=3.0, numbered=True)
TURN_NUMBER = re.compile(r" \(#(\d+)\)$")
# The transcript as the page shows it: (role, text) of each final line, in order.
READ_TRANSCRIPT = """
() => [...document.querySelectorAll("#transcript li[data-final=true]")].map(
  (item) => [item.dataset.role, item.querySelector(".said").textContent])
"""


def voiced_ms(text: str) -> int:
    """How long the fake's voice-activity detector hears `text` spoken (its voiced time)."""
    vad = EnergyVad(CONFIG.speech_threshold, CONFIG.min_speech_ms, CONFIG.end_silence_ms)
    vad.feed(speech_pcm(text, GUEST_RATE) + bytes(GUEST_RATE))
    return vad.last_utterance_ms


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGeminiLive]:
    async with FakeGeminiLive(CONFIG) as fake:
        yield fake


@pytest.fixture
async def gemini_server(tmp_path: Path, gemini: FakeGeminiLive) -> AsyncIterator[LiveServer]:
    """The studio whose host is Gemini Live at the fake endpoint (its certificate trusted)."""
    ca_file = tmp_path / "fake-gemini-ca.pem"
    ca_file.write_bytes(local_tls().cert_pem)
    async with serve_studio(
        tmp_path,
        gemini_api_key="test-key",
        gemini_base_url=gemini.base_url,
        gemini_ca_file=ca_file,
        interview_minute_seconds=24.0,  # 5 "minutes" last two: no wrap-up before the end
    ) as server:
        yield server


@pytest.fixture(scope="module")
async def answering_browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    """Chromium whose microphone gives the guest's two answers."""
    wav = tmp_path_factory.mktemp("answers") / "answers.wav"
    write_guest_wav(wav, ANSWERS)
    async with launch_chromium(chromium_args_for(wav)) as launched:
        yield launched


@pytest.fixture
async def pages(answering_browser: Browser, gemini_server: LiveServer) -> AsyncIterator[Pages]:
    """Pages at desktop size, in the answering Chromium, on the Gemini studio."""
    async with new_pages(
        answering_browser, gemini_server, viewport={"width": 1280, "height": 900}
    ) as opened:
        yield opened


async def page_transcript(page: Page) -> list[tuple[str, str]]:
    """The final lines of the page's live transcript, in order, as (role, text)."""
    lines: list[list[str]] = await page.evaluate(READ_TRANSCRIPT)
    return [(role, text) for role, text in lines]


def served(fake: FakeGeminiLive) -> list[FakeConnection]:
    """The connections whose setup completed (not those refused at setup)."""
    return [c for c in fake.connections if c.setup_at is not None]


def replied_after_each_heard(timeline: list[str]) -> bool:
    """Whether every "heard" of the fake's timeline is followed by a "replied" before the
    next "heard" (each answer was answered, by a host turn that played to its end)."""
    answered = True
    for event in timeline:
        if event == "heard":
            if not answered:
                return False
            answered = False
        elif event == "replied":
            answered = True
    return answered


def heard_and_replied(fake: FakeGeminiLive, answers: int) -> Callable[[], bool]:
    """A condition for `fake.wait_for`: it heard `answers` answers and replied to each."""
    timeline = fake.timeline
    return lambda: timeline.count("heard") == answers and replied_after_each_heard(timeline)


def reply_to(connections: list[FakeConnection], heard: str) -> str | None:
    """The host's reply to the guest's answer the fake heard as `heard`: the turn of the
    connection that heard it, if it played to its end, else the first turn of the next
    connection (a rotation cut the reply short; that one is told what it missed and carries
    on). None: neither connection replied."""
    index = next(i for i, c in enumerate(connections) if heard in c.heard)
    connection = connections[index]
    own = [r for r in connection.replies if TURN_NUMBER.findall(r) == TURN_NUMBER.findall(heard)]
    if own and connection.answered == len(connection.heard):
        return own[0]
    following = connections[index + 1].replies if index + 1 < len(connections) else []
    return following[0] if following else None


def told_text(content: dict[str, Any]) -> str:
    """The text of a clientContent message's turns."""
    turns = content.get("turns", [])
    return " ".join(str(part.get("text", "")) for turn in turns for part in turn.get("parts", []))


def record(connections: list[FakeConnection]) -> str:
    """What each connection heard, replied and was told, a line each (a failure's message)."""
    return "\n".join(
        f"connection {n}: heard {c.heard}, replies {c.replies}, answered {c.answered}, told "
        + str(
            [
                (told_text(content)[:60], content.get("turnComplete"))
                for content in c.client_contents
            ]
        )
        for n, c in enumerate(connections, 1)
    )


async def test_each_answer_reaches_the_model_and_each_reply_the_page_across_rotations(
    pages: Pages, gemini: FakeGeminiLive
) -> None:
    guest = await pages.open("/")
    await sign_up(guest)
    await create_director_session(guest)  # the preview opens the microphone: its WAV starts
    join = guest.get_by_role("button", name="Join the interview")
    await expect(join).to_be_enabled(timeout=10_000)
    await join.click()

    transcript = guest.locator("#transcript")
    host_lines = transcript.locator("li[data-role=ai][data-final=true]")
    guest_lines = transcript.locator("li[data-role=user][data-final=true]")
    await expect(host_lines.first).to_contain_text(CONFIG.reply_text, timeout=20_000)  # opening
    await expect(guest.locator("#call-status")).to_have_text("Live")

    # Each answer: the page shows it heard, and the model's reply plays to its end.
    for answers in range(1, len(ANSWERS) + 1):
        await expect(guest_lines).to_have_count(answers, timeout=40_000)
        await gemini.wait_for(heard_and_replied(gemini, answers))
    await screenshot(guest, "studio-gemini-rotations")

    # Rotations: the first make-before-break was refused once, then break-before-make.
    connections = served(gemini)
    assert len(connections) >= 4, [c.close_code for c in gemini.connections]
    assert gemini.overlaps_refused == 1
    assert len(gemini.connections) == len(connections) + 1  # the refused one: no retry loop

    # The model heard exactly the guest's two answers, each whole, and answered each.
    heard = [text for c in connections for text in c.heard]
    heard_ms = [ms for c in connections for ms in c.heard_ms]
    assert len(heard) == len(ANSWERS), heard
    for ms, (_, answer) in zip(heard_ms, ANSWERS, strict=True):
        assert ms >= 0.8 * voiced_ms(answer), (heard_ms, [voiced_ms(a) for _, a in ANSWERS])
    assert replied_after_each_heard(gemini.timeline), gemini.timeline

    # The page shows both answers as heard, each followed by the host's reply to it, which
    # came on the connection that heard the answer or the next: the host never fell silent
    # (as it would if a rotation cut its reply and the next connection were told what it
    # missed without being asked to go on: it would wait for the guest to speak again).
    lines = await page_transcript(guest)
    assert [text for role, text in lines if role == "user"] == heard, lines
    for text in heard:
        reply = reply_to(connections, text)
        assert reply is not None, f"no reply to {text!r}:\n{record(connections)}"
        after = lines[lines.index(("user", text)) + 1 :]
        assert ("ai", reply) in after, (reply, lines)

    await guest.get_by_role("button", name="End interview").click()
    await guest.get_by_role("button", name="Yes, end it").click()
    await expect(guest.locator("#studio-alert")).to_have_text(
        "The interview has ended.", timeout=15_000
    )
    assert pages.errors == []
