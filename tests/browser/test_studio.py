"""A whole interview in Chromium: sign up, create a Director Mode session, join with the fake
camera and microphone, hear the offline host, lose the connection and rejoin, see both sides
in the transcript, steer the host from the director console in a second page, end, then play
and seek the recording in the history page.
"""

from __future__ import annotations

import uuid

from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, screenshot, session_in_address
from tests.conftest import PASSWORD

NOTE = "Ask about the smell of fresh bread"
TOPIC = "her first job"
# RMS of the host's voice as the page hears it; the line is digital silence between turns.
HEARD_RMS = 0.03

# Keeps every WebSocket the page opens, so the test can cut the guest's connection.
TRACK_SOCKETS = """
window.openedSockets = [];
window.WebSocket = class extends WebSocket {
  constructor(...args) {
    super(...args);
    window.openedSockets.push(this);
  }
};
"""
# The loudest 40 ms of the host's voice from now on, measured on the page's audio element.
MEASURE_HOST = """
async () => {
  const stream = document.querySelector("#host-audio").srcObject;
  const context = new AudioContext();
  await context.resume();
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  window.hostPeakRms = 0;
  clearInterval(window.hostMeter);
  window.hostMeter = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    window.hostPeakRms = Math.max(window.hostPeakRms, Math.sqrt(sum / samples.length));
  }, 50);
}
"""


async def sign_up(page: Page) -> str:
    email = f"guest-{uuid.uuid4().hex[:8]}@example.com"
    await page.get_by_role("button", name="Create an account").click()
    await page.get_by_label("Your name").fill("Ada Guest")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Set up your interview")).to_be_visible()
    return email


async def create_director_session(page: Page) -> str:
    await page.get_by_role("radio", name="The Historian").check()
    await page.get_by_role("radio", name="Director Mode").check()
    await page.get_by_role("group", name="Length in minutes").get_by_label("5", exact=True).check()
    await page.get_by_label("Topics").fill("the bakery on the corner")
    await page.get_by_role("button", name="Create session").click()
    await expect(page.get_by_role("heading", name="Your interview", exact=True)).to_be_visible()
    return await session_in_address(page)


async def hears_the_host(guest: Page, within_ms: int) -> None:
    """The host's voice arrives on the page's audio element, well above silence."""
    await guest.wait_for_function("() => document.querySelector('#host-audio').srcObject")
    await guest.evaluate(MEASURE_HOST)
    await guest.wait_for_function(
        "level => window.hostPeakRms > level", arg=HEARD_RMS, timeout=within_ms
    )


async def test_a_guest_is_interviewed_and_a_director_steers(pages: Pages) -> None:
    await pages.context.add_init_script(TRACK_SOCKETS)
    guest = await pages.open("/")
    await sign_up(guest)
    session_id = await create_director_session(guest)
    join = guest.get_by_role("button", name="Join the interview")
    await expect(join).to_be_enabled(timeout=10_000)  # the camera preview is on
    await join.click()

    # The offline host opens: its line is in the transcript and its voice is heard.
    transcript = guest.locator("#transcript")
    await expect(transcript.locator("li[data-role=ai]").first).to_contain_text(
        "bakery", timeout=20_000
    )
    await expect(guest.locator("#call-status")).to_have_text("Live")
    await expect(guest.locator("#host-state")).to_have_text("Speaking")
    await hears_the_host(guest, within_ms=5_000)

    # The guest's connection drops: the page rejoins and the same interview goes on.
    await guest.evaluate("() => window.openedSockets.at(-1).close()")
    await expect(guest.locator("#rejoin")).to_be_visible()
    await expect(guest.locator("#studio-alert")).to_contain_text("connection was lost")
    await expect(guest.locator("#call-status")).to_have_text("Live", timeout=15_000)
    await expect(guest.locator("#studio-alert")).to_be_hidden()
    await expect(transcript.locator("li")).to_have_count(1)  # refilled, not repeated

    # The director opens the console while the interview runs.
    director = await pages.open(f"/director/{session_id}")
    await expect(director.locator("#link-status")).to_have_text("Connected", timeout=15_000)
    await expect(director.locator("#transcript li[data-role=ai]").first).to_be_visible()
    await expect(director.locator("#topics")).to_contain_text("the bakery on the corner")
    # Both pages send the token as a subprotocol, never in the URL; the server picks ours.
    for page in (guest, director):
        sockets = await page.evaluate("() => window.openedSockets.map((s) => [s.url, s.protocol])")
        assert sockets
        assert all("token" not in url and protocol == "monumento" for url, protocol in sockets)

    # The fake microphone answers; PocketSphinx puts the guest's line in the transcript. Its
    # recognizer runs at nice 10: on a machine busy with other work that takes a while.
    await expect(transcript.locator("li[data-role=user]").first).to_be_visible(timeout=120_000)
    await expect(director.locator("#transcript li[data-role=user]").first).to_be_visible()

    # "Ask now" while the host asks its next question: it stops, and asks the note at once.
    await expect(guest.locator("#host-state")).to_have_text("Speaking", timeout=10_000)
    await director.get_by_label("Context for the host").fill(NOTE)
    await director.get_by_role("button", name="Ask now").click()
    note = director.locator("#notes li").first
    await expect(note).to_have_attribute("data-state", "acked", timeout=10_000)
    await expect(note).to_contain_text("The host has it")
    await expect(transcript).to_contain_text(NOTE, timeout=10_000)
    await expect(guest.locator("#host-state")).to_have_text("Speaking", timeout=5_000)
    await hears_the_host(guest, within_ms=5_000)  # the note, on the rejoined connection

    await director.get_by_label("New topic").fill(TOPIC)
    await director.get_by_role("button", name="Add", exact=True).click()
    await director.get_by_role("button", name="Send topics to the host").click()
    await expect(director.locator("#topics-status")).to_have_text("The host has the new list.")

    remaining = await guest.locator("#remaining").text_content()
    assert remaining is not None and remaining.count(":") == 1 and remaining != "0:00"
    await screenshot(guest, "studio-guest")
    await screenshot(director, "studio-director")

    await guest.get_by_role("button", name="End interview").click()
    await guest.get_by_role("button", name="Yes, end it").click()
    await expect(guest.locator("#studio-alert")).to_have_text(
        "The interview has ended.", timeout=15_000
    )
    await expect(guest.locator("#after")).to_contain_text("being prepared")
    await expect(director.locator("#console-alert")).to_have_text(
        "The interview has ended.", timeout=10_000
    )

    # History: the recording plays and seeks, with the transcript and every download.
    await guest.goto(f"{pages.base_url}/history")
    item = guest.locator(f"li[data-session-id='{session_id}']")
    await item.get_by_role("button", name="Show").click()
    video = item.locator("video.player")
    # Once finalisation made the MP4 (the page shows its progress meanwhile): encoding takes
    # a busy 2-core machine minutes, so the bound is far beyond what it should need.
    await expect(video).to_be_visible(timeout=300_000)
    await guest.wait_for_function(
        "v => v.readyState >= 1 && v.duration > 5", arg=await video.element_handle()
    )
    seeked = await video.evaluate(
        """v => new Promise(done => {
            v.addEventListener("seeked", () => done(v.currentTime), {once: true});
            v.currentTime = 3;
        })"""
    )
    assert abs(seeked - 3) < 0.5
    await expect(item.locator(".transcript li[data-role=user]").first).to_be_visible()
    downloads = item.locator(".downloads a")
    await expect(downloads.filter(has_text="Video (MP4)")).to_have_count(1)
    await expect(downloads.filter(has_text="Transcript (text)")).to_have_count(1)
    await screenshot(guest, "studio-history")

    assert pages.errors == []
