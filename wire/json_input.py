"""Untrusted JSON text parsed with bounds.

`json.loads` alone lets a hostile client cause a `RecursionError` (100,000 nested arrays),
values the database cannot store (`NaN`, a lone surrogate, `\\u0000`) or documents nested
so deep that they cannot be serialized again. Every entry point parses through here, so
each of those is refused with a code and a message before anything is stored.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting of objects and arrays accepted anywhere; real clients use a handful."""


class JsonRefused(ValueError):
    """JSON the server will not take; `code` and the message go back to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_json(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The document in `text`, or `JsonRefused` if it is malformed, too deep or unstorable."""
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as error:
        raise too_deep(max_depth) from error
    except JsonRefused:
        raise
    except ValueError as error:  # bad syntax, not UTF-8, or an integer of over 4300 digits
        raise JsonRefused("malformed_json", f"The body is not valid JSON: {error}") from error
    check_document(document, max_depth=max_depth)
    return document


def check_document(document: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse `document` if it nests deeper than `max_depth` or holds a string that UTF-8 or
    the database cannot store. Walks without recursion, whatever the depth."""
    pending: list[tuple[Any, int]] = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise _constant_error(repr(value))
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                raise too_deep(max_depth)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_string(key)
                pending.append((item, depth + 1))


def encoded_size(document: Any) -> int:
    """Bytes of `document` as compact UTF-8 JSON: what a stored value costs."""
    return len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())


def too_deep(max_depth: int) -> JsonRefused:
    return JsonRefused(
        "json_too_deep",
        f"JSON is nested more than {max_depth} levels deep: flatten the document",
    )


def _check_string(value: str) -> None:
    if "\x00" in value:
        raise JsonRefused("invalid_json_value", "Strings may not contain the character U+0000")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise JsonRefused(
            "invalid_json_value", "Strings may not contain unpaired surrogates (\\ud800-\\udfff)"
        ) from error


def _refuse_constant(name: str) -> Any:
    raise _constant_error(name)


def _constant_error(name: str) -> JsonRefused:
    return JsonRefused("invalid_json_value", f"{name} is not a JSON number: send a finite number")
