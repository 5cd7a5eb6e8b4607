"""The pages beyond the happy path: phone width and the keyboard, a denied microphone, and
an expired sign-in (renewed with the refresh token, or sent back to the sign-in form)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Pages, new_pages, screenshot, session_in_address
from tests.conftest import PASSWORD
from tests.live_server import LiveServer

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DENY_MICROPHONE = """
navigator.mediaDevices.getUserMedia = async () => {
  throw new DOMException("Permission denied", "NotAllowedError");
};
"""


@pytest.fixture
async def phone(browser: Browser, studio_server: LiveServer) -> AsyncIterator[Pages]:
    async with new_pages(browser, studio_server, **PHONE) as opened:
        yield opened


async def overflow_px(page: Page) -> int:
    """How far the page is wider than the screen (0: no sideways scrolling)."""
    width: int = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


async def test_at_phone_width_with_the_keyboard(phone: Pages) -> None:
    page = await phone.open("/")
    await expect(page.get_by_label("Email")).to_be_focused()  # the form is ready to type
    assert await overflow_px(page) == 0
    # Sign up without the mouse: the switch to "create an account" is a button too.
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Create an account")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Your name")).to_be_focused()
    await page.keyboard.type("Pat Phone")
    await page.keyboard.press("Tab")
    await page.keyboard.type(f"phone-{uuid.uuid4().hex[:8]}@example.com")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="Set up your interview")
    await expect(heading).to_be_focused()
    assert await overflow_px(page) == 0
    await screenshot(page, "phone-setup")

    await page.keyboard.press("Tab")  # into the host choices; arrows pick another
    await expect(page.get_by_role("radio", name="The Historian")).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await expect(page.get_by_role("radio", name="The Celebrator")).to_be_checked()
    await page.get_by_role("button", name="Create session").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Join the interview")).to_be_enabled()
    assert await overflow_px(page) == 0
    await screenshot(page, "phone-studio")
    session_id = await session_in_address(page)

    for path in ("/history", f"/director/{session_id}"):
        other = await phone.open(path)
        await expect(other.locator("#loading")).to_be_hidden()
        assert await overflow_px(other) == 0, path
    await expect(other.locator("#link-status")).to_have_text("Waiting for the interview to start…")
    await screenshot(other, "phone-director")
    assert phone.errors == []


async def test_a_denied_microphone_says_what_to_do(pages: Pages) -> None:
    await pages.context.add_init_script(DENY_MICROPHONE)
    page = await pages.open("/")
    await sign_up_by_api(pages, page)
    await page.get_by_role("button", name="Create session").click()
    await expect(page.get_by_role("alert")).to_contain_text("Microphone access is blocked")
    await expect(page.get_by_role("button", name="Try again")).to_be_focused()
    await expect(page.get_by_role("button", name="Join the interview")).to_be_disabled()
    assert pages.errors == []


async def test_an_expired_sign_in_is_renewed_with_the_refresh_token(pages: Pages) -> None:
    page = await pages.open("/")
    auth = await sign_up_by_api(pages, page, expired=True)
    await page.goto(f"{pages.base_url}/history")
    await expect(page.get_by_text("No interviews yet.")).to_be_visible()
    stored = json.loads(await page.evaluate("() => localStorage.getItem('monumento.auth')"))
    assert stored["refreshToken"] != auth["refreshToken"]  # renewed (and rotated) once
    assert pages.errors == []


async def test_a_sign_in_that_cannot_be_renewed_asks_to_sign_in_again(pages: Pages) -> None:
    page = await pages.open("/")
    await sign_up_by_api(pages, page, expired=True, refresh_token="spent")
    await page.goto(f"{pages.base_url}/history")
    await expect(page.get_by_role("alert")).to_have_text("Your sign-in expired: sign in again")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # The browser reports the refused renewal (a 401) itself; nothing else went wrong.
    assert [error for error in pages.errors if "401" not in error] == []


async def sign_up_by_api(
    pages: Pages, page: Page, *, expired: bool = False, refresh_token: str | None = None
) -> dict[str, Any]:
    """Register through the API and hand the page that sign-in, as if it had signed in."""
    async with httpx.AsyncClient(base_url=f"{pages.base_url}/api/v1") as http:
        response = await http.post(
            "/auth/register",
            json={"email": f"api-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD},
        )
    auth: dict[str, Any] = response.json()
    stored = {
        "accessToken": auth["accessToken"],
        "refreshToken": refresh_token or auth["refreshToken"],
        "expiresAt": 0 if expired else 4_102_444_800_000,
        "user": auth["user"],
    }
    await page.evaluate(
        "auth => localStorage.setItem('monumento.auth', JSON.stringify(auth))", stored
    )
    await page.reload()
    return auth
