"""Outgoing email: a log sender by default, a SendGrid-compatible HTTP sender as a setting."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

from config import Settings

logger = logging.getLogger(__name__)


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
    """Writes the email to the log: enough for development and single-node trials."""

    async def send(self, email: Email) -> None:
        logger.info(
            "email to %s: %s\n%s",
            email.to,
            email.subject,
            email.text,
            extra={"email_to": email.to, "email_subject": email.subject},
        )


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
    return ConsoleEmailSender()
