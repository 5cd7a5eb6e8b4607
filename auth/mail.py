"""Outgoing email: an outbox folder by default, a SendGrid-compatible HTTP sender as a setting."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx

from config import Settings

logger = logging.getLogger(__name__)
OUTBOX_DIR = "outbox"


@dataclass(frozen=True, slots=True)
class Email:
    """One plain-text message."""

    to: str
    subject: str
    text: str


class EmailSender(Protocol):
    """Delivers an email; failures are logged by the caller, never shown to the user."""

    async def send(self, email: Email) -> None: ...


class ConsoleEmailSender:
    """Development and single-node trials: each email is written whole to a file in `outbox`
    (readable only by the server's user) and the log names the file. The log itself never
    holds the email's links, since they carry tokens (`monumento/redaction.py`)."""

    def __init__(self, outbox: Path) -> None:
        self._outbox = outbox

    async def send(self, email: Email) -> None:
        path = await asyncio.to_thread(self._write, email)
        logger.info(
            "email to %s: %s (the whole email, links included, is in %s)",
            email.to,
            email.subject,
            path,
            extra={"email_to": email.to, "email_subject": email.subject},
        )

    def _write(self, email: Email) -> Path:
        self._outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self._outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.txt"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(f"To: {email.to}\nSubject: {email.subject}\n\n{email.text}")
        return path


class SendGridEmailSender:
    """Sends through SendGrid's v3 mail API (or anything that speaks it)."""

    def __init__(self, client: httpx.AsyncClient, *, api_key: str, sender: str) -> None:
        self._client = client
        self._api_key = api_key
        self._sender = sender

    async def send(self, email: Email) -> None:
        response = await self._client.post(
            "/v3/mail/send",
            headers={"Authorization": f"Bearer {self._api_key}"},
            json={
                "personalizations": [{"to": [{"email": email.to}]}],
                "from": _address(self._sender),
                "subject": email.subject,
                "content": [{"type": "text/plain", "value": email.text}],
            },
        )
        response.raise_for_status()


def _address(formatted: str) -> dict[str, str]:
    """`Name <a@b>` or `a@b` as SendGrid's `{email, name}` object."""
    if "<" in formatted and formatted.endswith(">"):
        name, _, address = formatted[:-1].partition("<")
        return {"email": address.strip(), "name": name.strip()}
    return {"email": formatted.strip()}


def build_email_sender(settings: Settings, client: httpx.AsyncClient) -> EmailSender:
    """The sender the settings ask for."""
    if settings.email_sender == "sendgrid":
        if settings.sendgrid_api_key is None:
            raise ValueError("EMAIL_SENDER=sendgrid needs SENDGRID_API_KEY")
        return SendGridEmailSender(
            client, api_key=settings.sendgrid_api_key.get_secret_value(), sender=settings.email_from
        )
    return ConsoleEmailSender(settings.data_dir / OUTBOX_DIR)
