"""A local Sentry ingest endpoint: parses envelopes as Sentry's does, refuses what it refuses.

Behaviour from Sentry's developer documentation, "Envelopes"
(https://develop.sentry.dev/sdk/data-model/envelopes/, the serialization format) and
"Authentication" (the `X-Sentry-Auth` header), and from Relay's answers:

- `POST /api/<project_id>/envelope/` (the trailing slash optional); any other path is 404.
- Auth: `X-Sentry-Auth: Sentry sentry_key=<key>, sentry_version=7, ...`, or the
  `sentry_key` query parameter, or the envelope header's `dsn`. None of them: 401. A key
  that is not the project's: 403. A project id that is not this project's: 403 (Relay's
  "event submission rejected with_reason: ProjectId").
- The body may be compressed as a whole (`Content-Encoding: gzip` or `deflate`, the
  documentation leaves it to the transport); anything else is 415.
- The envelope: a header line (a JSON object, possibly empty), then items, each an item
  header line (a JSON object with a `type`, and an optional `length`) and its payload:
  exactly `length` bytes, then a newline or the end; without `length`, up to the next
  newline or the end. Newlines are `\\n` only. Anything malformed (a header that is not a
  JSON object, an item without `type`, a payload shorter than its `length`, an `event`
  payload that is not a JSON object) is 400 and nothing of it is kept.

Accepted envelopes answer 200 `{"id": <event_id>}` and are kept; `wait_for` blocks until an
item matches (a condition variable, notified as each envelope is kept).
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_PATH = re.compile(r"^/api/(?P<project>[^/]+)/envelope/?$")
_AUTH_FIELD = re.compile(r"(\w+)=([^,\s]+)")


class EnvelopeError(ValueError):
    """An envelope Sentry would refuse with 400."""


@dataclass(frozen=True, slots=True)
class Item:
    """One item of an envelope: its header and its payload (JSON-decoded when it is)."""

    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.headers["type"])

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed envelope: its header and items."""

    headers: dict[str, Any]
    items: list[Item] = field(default_factory=list)


def parse_envelope(body: bytes) -> Envelope:
    """The envelope in `body`, as the documentation's serialization format defines it."""
    header_line, rest = _line(body, 0)
    if header_line is None:
        raise EnvelopeError("missing envelope header")
    envelope = Envelope(_json_object(header_line, "envelope header"))
    position = rest
    while position < len(body):
        item_line, position = _line(body, position)
        if item_line is None or not item_line.strip():
            if position >= len(body):
                break  # a trailing newline
            raise EnvelopeError("empty item header")
        headers = _json_object(item_line, "item header")
        if not isinstance(headers.get("type"), str):
            raise EnvelopeError("item header without a type")
        length = headers.get("length")
        if length is None:
            payload, position = _line(body, position)
            payload = payload or b""
        else:
            if not isinstance(length, int) or length < 0:
                raise EnvelopeError("item length is not a non-negative integer")
            payload = body[position : position + length]
            if len(payload) != length:
                raise EnvelopeError("payload shorter than its length")
            position += length
            if position < len(body):
                if body[position : position + 1] != b"\n":
                    raise EnvelopeError("missing newline after payload")
                position += 1
        item = Item(headers, payload)
        if item.type == "event":
            try:
                event = item.json()
            except ValueError as error:
                raise EnvelopeError("event payload is not JSON") from error
            if not isinstance(event, dict):
                raise EnvelopeError("event payload is not a JSON object")
        envelope.items.append(item)
    return envelope


def _line(body: bytes, start: int) -> tuple[bytes | None, int]:
    if start >= len(body):
        return None, start
    end = body.find(b"\n", start)
    if end < 0:
        return body[start:], len(body)
    return body[start:end], end + 1


def _json_object(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError as error:
        raise EnvelopeError(f"{what} is not JSON") from error
    if not isinstance(value, dict):
        raise EnvelopeError(f"{what} is not a JSON object")
    return value


class FakeSentry:
    """One project (`project_id`, public key `key`) on 127.0.0.1, in a thread."""

    def __init__(self, *, key: str = "publickey0123456789", project_id: str = "42") -> None:
        self.key = key
        self.project_id = project_id
        self.envelopes: list[Envelope] = []
        self.refusals: list[int] = []
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def dsn(self) -> str:
        return f"http://{self.key}@127.0.0.1:{self.port}/{self.project_id}"

    def events(self) -> list[dict[str, Any]]:
        """Every event payload received so far."""
        with self._changed:
            return self._events_locked()

    def wait_for(
        self, condition: Callable[[dict[str, Any]], bool], within_s: float = 30.0
    ) -> dict[str, Any]:
        """The first event that meets `condition`, waiting for it (blocking: use a thread)."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [event for event in self._events_locked() if condition(event)]
            return bool(found)

        with self._changed:
            if not self._changed.wait_for(seen, timeout=within_s):
                raise TimeoutError("no such event reached the fake Sentry")
        return found[0]

    def _events_locked(self) -> list[dict[str, Any]]:
        return [
            item.json()
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == "event"
        ]

    @contextmanager
    def running(self) -> Iterator[FakeSentry]:
        """Serve until the block ends."""
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def _ingest(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        url = urlsplit(path)
        match = _PATH.match(url.path)
        if match is None:
            return 404, {"detail": "not found"}
        encoding = headers.get("content-encoding", "identity").strip().lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding != "identity":
                return 415, {"detail": f"unsupported content encoding {encoding!r}"}
        except (OSError, zlib.error, EOFError):
            return 400, {"detail": "invalid compressed body"}
        try:
            envelope = parse_envelope(body)
        except EnvelopeError as error:
            return 400, {"detail": f"invalid envelope: {error}"}
        keys = self._keys(headers.get("x-sentry-auth"), url.query, envelope)
        if not keys:
            return 401, {"detail": "missing authorization information"}
        if any(key != self.key for key in keys):
            return 403, {"detail": "event submission rejected with_reason: ProjectKey"}
        if match["project"] != self.project_id:
            return 403, {"detail": "event submission rejected with_reason: ProjectId"}
        with self._changed:
            self.envelopes.append(envelope)
            self._changed.notify_all()
        return 200, {"id": envelope.headers.get("event_id")}

    @staticmethod
    def _keys(auth: str | None, query: str, envelope: Envelope) -> list[str]:
        keys = []
        if auth is not None:
            scheme, _, fields = auth.strip().partition(" ")
            given = dict(_AUTH_FIELD.findall(fields)) if scheme.lower() == "sentry" else {}
            keys.append(given.get("sentry_key", ""))
        keys += parse_qs(query).get("sentry_key", [])
        dsn = envelope.headers.get("dsn")
        if isinstance(dsn, str):
            keys.append(urlsplit(dsn).username or "")
        return keys

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, answer = fake._ingest(self.path, headers, body)
                if status != 200:
                    with fake._changed:
                        fake.refusals.append(status)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test's output is not the place

        return Handler
