"""Mail senders: the SendGrid v3 request shape, and the console sender's log line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from auth.mail import ConsoleEmailSender, Email, SendGridEmailSender, build_email_sender
from tests.conftest import make_settings

EMAIL = Email(to="ada@example.com", subject="Hello", text="Open this link")


async def test_sendgrid_sender_posts_a_v3_mail_send_request() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="https://mail.example"
    ) as client:
        sender = SendGridEmailSender(client, api_key="SG.key", sender="Monumento <hi@m.example>")
        await sender.send(EMAIL)
    [request] = seen
    assert request.url == "https://mail.example/v3/mail/send"
    assert request.headers["Authorization"] == "Bearer SG.key"
    assert json.loads(request.content) == {
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "from": {"email": "hi@m.example", "name": "Monumento"},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Open this link"}],
    }


async def test_sendgrid_sender_raises_when_the_service_refuses() -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(401)), base_url="https://m.example"
    ) as client:
        with pytest.raises(httpx.HTTPStatusError):
            await SendGridEmailSender(client, api_key="bad", sender="a@b.c").send(EMAIL)


async def test_console_sender_keeps_the_whole_email_in_the_outbox_and_logs_where(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    with caplog.at_level(logging.INFO, logger="auth.mail"):
        await ConsoleEmailSender(outbox).send(EMAIL)
        await ConsoleEmailSender(outbox).send(EMAIL)
    first, second = sorted(outbox.iterdir())
    assert first.read_text() == "To: ada@example.com\nSubject: Hello\n\nOpen this link"
    assert second.read_text() == first.read_text()  # a file per email, never overwritten
    assert first.stat().st_mode & 0o777 == 0o600
    assert "ada@example.com" in caplog.text and str(first) in caplog.text
    assert "Open this link" not in caplog.text  # links carry tokens: not in the log


def test_the_sender_follows_the_settings(tmp_path: Path) -> None:
    client = httpx.AsyncClient()
    console = make_settings(tmp_path, "sqlite://")
    assert isinstance(build_email_sender(console, client), ConsoleEmailSender)
    sendgrid = make_settings(tmp_path, "sqlite://", email_sender="sendgrid", sendgrid_api_key="k")
    assert isinstance(build_email_sender(sendgrid, client), SendGridEmailSender)
    with pytest.raises(ValueError, match="SENDGRID_API_KEY"):
        build_email_sender(make_settings(tmp_path, "sqlite://", email_sender="sendgrid"), client)
