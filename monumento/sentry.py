"""Error reports to Sentry when `SENTRY_DSN` is set: tagged with their ids, tokens redacted.

Every event names the node (`node_id`) and, where it was captured in their context, the
request (`request_id`) and the session (`session_id`) it concerns. Unhandled errors of
requests are reported by Sentry's Starlette integration, errors logged anywhere (an
interview's task, a finalisation job) by its logging integration. Its asyncio integration
is left out: it reports every exception a task raises, even one its awaiter handles (a join
refused by the start task), which would make expected refusals look like errors.

Nothing secret is sent: no default PII (no Authorization or Cookie header, no client
address), Sentry's scrubber on variables named like secrets, and `monumento.redaction` over
every string of an event and of each breadcrumb (URLs, query strings, messages); a logged
error keeps its formatted message, not the arguments it was formatted from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from starlette.types import ASGIApp, Receive, Scope, Send

from config import Settings
from correlation import current_request_id, current_session_id
from monumento.redaction import redact

if TYPE_CHECKING:
    from sentry_sdk._types import Breadcrumb, BreadcrumbHint, Event, Hint


def init_sentry(settings: Settings, node_id: str) -> bool:
    """Start reporting to `SENTRY_DSN`, if it is set (True then)."""
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        traces_sample_rate=settings.sentry_traces_sample_rate,
        # Default PII stays off (the SDK's default; naming the option is deprecated in 2.5x).
        integrations=[StarletteIntegration(), LoggingIntegration()],
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
    )
    sentry_sdk.get_global_scope().set_tag("node_id", node_id)
    return True


def scrub_event(event: Event, _hint: Hint) -> Event:
    """`event` tagged with the ids in context, every token in it redacted."""
    tags = event.setdefault("tags", {})
    if isinstance(tags, dict):
        for name, value in _tags().items():
            tags.setdefault(name, value)
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        # A token passed as an argument is found in the formatted message only (`token=%s`).
        logentry["params"] = []
    scrubbed: Event = _redact_all(event)
    return scrubbed


def scrub_breadcrumb(crumb: Breadcrumb, _hint: BreadcrumbHint) -> Breadcrumb:
    """`crumb` with every token in its message and data redacted."""
    scrubbed: Breadcrumb = _redact_all(crumb)
    return scrubbed


def _redact_all(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_all(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_all(item) for item in value]
    return value


class ErrorTags:
    """Puts the request's ids on Sentry's scope of the request as an error leaves it.

    Sentry reports an unhandled error once it has left every middleware, the one that set
    the request id included; the scope it reports from outlives the context variables."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            sentry_sdk.get_isolation_scope().set_tags(_tags())
            raise


def _tags() -> dict[str, str]:
    ids = {"request_id": current_request_id.get(), "session_id": current_session_id.get()}
    return {name: value for name, value in ids.items() if value is not None}
