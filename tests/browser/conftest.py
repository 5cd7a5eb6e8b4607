"""A real browser against the real server: Debian's Chromium driven by Playwright.

Chromium gets a fake camera and a fake microphone that plays a WAV of synthesised speech,
loopback ICE (`--allow-loopback-in-peer-connection`) and the `local-network-access`
permission: without it Chromium blocks the page's connections to 127.0.0.1 and hides its
host candidates behind mDNS names. Chromium missing is a failure, never a skip: `scripts/test`
installs it (`apt-get install chromium`); Playwright never downloads a browser here.
"""

from __future__ import annotations

import contextlib
import wave
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    async_playwright,
)

from monumento.app import create_app
from tests import live_server
from tests.conftest import make_settings
from tests.live_server import LiveServer
from tests.media.speech import speech_pcm

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
RATE = 48_000
# What the guest's fake microphone says, and when (seconds after the page opens it): once,
# after the host's opening (the test sees its first words first).
GUEST_LINES = ((9.0, "I grew up in a small town by the sea, and I remember the harbour."),)
PERMISSIONS = ["microphone", "camera", "local-network-access"]


def write_guest_wav(path: Path, lines: Sequence[tuple[float, str]] = GUEST_LINES) -> None:
    """The guest's lines at their times, silence around them, as a 16-bit mono WAV."""
    pcm = bytearray()
    for start_s, text in lines:
        pcm += bytes(max(0, 2 * round(start_s * RATE) - len(pcm)))
        pcm += speech_pcm(text, RATE)
    pcm += bytes(2 * RATE * 2)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(bytes(pcm))


@contextlib.asynccontextmanager
async def serve_studio(root: Path, **overrides: Any) -> AsyncIterator[LiveServer]:
    """The whole server on loopback with its data under `root`, its media URLs pointing at
    itself (the recording plays); `overrides` are settings (a Gemini host, say)."""
    port = live_server.free_port()
    values: dict[str, Any] = {
        "migrate_on_start": True,
        "rtc_host_addresses": "127.0.0.1",
        "interview_minute_seconds": 12.0,  # 5 "minutes" last a minute
        "public_base_url": f"http://127.0.0.1:{port}",
    }
    settings = make_settings(root, f"sqlite:///{root}/monumento.db", **values | overrides)
    async with contextlib.AsyncExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:  # only while it starts: the port to use
            patch.setattr(live_server, "free_port", lambda: port)
            server = await stack.enter_async_context(live_server.serve(create_app(settings)))
        yield server


@pytest.fixture(scope="package")
async def studio_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """The studio with the offline host."""
    async with serve_studio(tmp_path_factory.mktemp("studio")) as server:
        yield server


def chromium_args_for(wav: Path) -> list[str]:
    """Fake camera, a fake microphone playing `wav` once, loopback ICE."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install chromium (scripts/test)")
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--allow-loopback-in-peer-connection",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture(scope="session")
def chromium_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Chromium whose microphone says `GUEST_LINES`."""
    wav = tmp_path_factory.mktemp("guest") / "guest.wav"
    write_guest_wav(wav)
    return chromium_args_for(wav)


@contextlib.asynccontextmanager
async def launch_chromium(args: list[str]) -> AsyncIterator[Browser]:
    """Debian's Chromium with `args`, closed on exit."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="package")
async def browser(chromium_args: list[str]) -> AsyncIterator[Browser]:
    async with launch_chromium(chromium_args) as launched:
        yield launched


@dataclass
class Pages:
    """A browser context for one test, with every console error of its pages recorded."""

    context: BrowserContext
    base_url: str
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str = "/") -> Page:
        page = await self.context.new_page()
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self._page_error(page, error))
        await page.goto(self.base_url + path)
        return page

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{page.url}: {message.text}")

    def _page_error(self, page: Page, error: Error) -> None:
        self.errors.append(f"{page.url}: uncaught {error}")


@contextlib.asynccontextmanager
async def new_pages(browser: Browser, server: LiveServer, **options: Any) -> AsyncIterator[Pages]:
    """A fresh context (own sign-in, own storage) with the media permissions; closed on exit."""
    context = await browser.new_context(**options)
    try:
        await context.grant_permissions(PERMISSIONS, origin=server.http)
        yield Pages(context, server.http)
    finally:
        await context.close()


@pytest.fixture
async def pages(browser: Browser, studio_server: LiveServer) -> AsyncIterator[Pages]:
    """Pages at desktop size."""
    async with new_pages(browser, studio_server, viewport={"width": 1280, "height": 900}) as opened:
        yield opened


async def session_in_address(page: Page) -> str:
    """The session the studio shows (`/?session=<id>`)."""
    session_id: str = await page.evaluate(
        "() => new URLSearchParams(location.search).get('session')"
    )
    return session_id


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact and say where it is."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
