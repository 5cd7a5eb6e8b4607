"""Tokens never reach a log line: a filter that redacts them from every record's message.

uvicorn logs request lines with their query string (`GET /…/files/video?token=eyJ…`) and
WebSocket URLs the same way; the console mail sender logs links that carry one-time tokens.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[REDACTED]"
# `token=`, `access_token=`, `refreshToken=`, `id_token=` … in a query string or a body.
_QUERY_TOKEN = re.compile(r"(?i)\b((?:access|refresh|id)?_?token=)[^&\s\"'#;,]+")
# `Bearer eyJ…` (a header) and `bearer.eyJ…` (the WebSocket subprotocol that carries it).
_BEARER = re.compile(r"(?i)\b(bearer[ .])[A-Za-z0-9\-_.~+/]+=*")
UVICORN_LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    """`text` with every token value replaced by `[REDACTED]`."""
    return _BEARER.sub(rf"\1{REDACTED}", _QUERY_TOKEN.sub(rf"\1{REDACTED}", text))


class TokenRedactor(logging.Filter):
    """Rewrites a record whose message (or a text field passed in `extra`) carries a token;
    never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # arguments that do not fit the format: logging reports that itself
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
            # uvicorn's coloured copy of the format, which would bring the arguments back.
            record.__dict__.pop("color_message", None)
        for name, value in vars(record).items():
            if name != "msg" and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


def redact_uvicorn_logs() -> None:
    """Put the filter on uvicorn's loggers, whatever handlers their records reach (once)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, TokenRedactor) for existing in logger.filters):
            logger.addFilter(TokenRedactor())
