"""What a hostile client sends, as Hypothesis strategies, for the fuzz tests of the REST API
and both sockets.

JSON values mix the awkward (NaN, 10^30, lone surrogates, U+0000, 100,000 levels of
nesting, strings of tens of kilobytes) with the plausible, so that some inputs get past
validation and reach the stores. `run_examples` scales each run's example count with the
Hypothesis profile (`ci` by default, `deep` for a long run: see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

Drawn = TypeVar("Drawn")

BASE_EXAMPLES = 100
"""The `ci` profile's max_examples: the scale every fuzz test's own count is relative to."""


async def run_examples(
    strategy: st.SearchStrategy[Drawn], check: Callable[[Drawn], Awaitable[None]], count: int
) -> None:
    """Check `count` drawn examples (more under a bigger profile) against one running server.

    Hypothesis draws and shrinks in a worker thread; each example is checked on this event
    loop, where the server and its fixtures live, so the test can set up before and check
    the server after the whole run.
    """
    loop = asyncio.get_running_loop()
    examples = max(1, count * settings.default.max_examples // BASE_EXAMPLES)

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(strategy)
    def example(drawn: Drawn) -> None:
        asyncio.run_coroutine_threadsafe(check(drawn), loop).result()

    await asyncio.to_thread(example)


class ErrorRecords(logging.Handler):
    """Keeps every record at ERROR or above (an unhandled exception, a failed task)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __repr__(self) -> str:
        return "\n".join(f"{r.name}: {r.getMessage()} {r.exc_info or ''}" for r in self.records)


@contextlib.contextmanager
def logged_errors() -> Iterator[ErrorRecords]:
    """The ERROR records logged anywhere while the block runs."""
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


EDGE_INTEGERS = [10**30, 2**63, -(2**63) - 1, 2**63 - 1, 2**53, 2**53 - 1, 2**31, -1, 0, 1]
"""Most dangerous first: the first example of a run is made of each list's first entry."""
NASTY_STRINGS = [
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "",
    " ",
    "\x00",
    "\ufeff",
    "\u202e\u0644\u0627",
    "e\u0301\u0301\u0301",
    "\U0001f600" * 50,
    "NaN",
    "Infinity",
    "1e999",
    "-0",
    "null",
    "{}",
    "../../../../etc/passwd",
    "%00",
    "%2e%2e%2f",
    "' OR '1'='1",
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "http://",
    "https://example.com/" + "a" * 3000,
    "x" * 5000,
]

integers = st.one_of(st.integers(), st.sampled_from(EDGE_INTEGERS), st.integers(-(2**70), 2**70))
any_text = st.one_of(st.text(st.characters(), max_size=40), st.sampled_from(NASTY_STRINGS))
"""Any string a JSON document can spell, surrogates and U+0000 included."""
wire_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
"""Text that can travel in a URL, a header or a WebSocket text frame."""
scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(),  # NaN and infinities become the NaN/Infinity tokens json.dumps writes
    any_text,
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)


def nested(depth: int, kind: str) -> Any:
    """A document `depth` levels deep (built without recursion)."""
    document: Any = 1
    for _ in range(depth):
        document = [document] if kind == "list" else {"a": document}
    return document


deep_values = st.builds(
    nested, st.sampled_from([600, 260, 64, 33, 32, 31]), st.sampled_from(["dict", "list"])
)
big_values = st.sampled_from(["x" * 40_000, ["y" * 1000] * 40, {f"k{n}": n for n in range(3000)}])
hostile_values = st.one_of(deep_values, json_values, scalars, big_values)


def dumps(document: Any) -> str:
    """JSON text as a careless client writes it: NaN stays NaN, surrogates are escaped."""
    return json.dumps(document)


RAW_DOCUMENTS = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"",
    b"   ",
    b"null",
    b"NaN",
    b"-Infinity",
    b"1e999",
    b'{"a": 1e999}',
    b"1" * 5000,
    b'{"a": ' + b"9" * 5000 + b"}",
    b'"\\ud800"',
    b'{"a": "\\u0000"}',
    b'{"a": "\xff\xfe"}',
    b"\xef\xbb\xbf{}",
    '{"a": 1}'.encode("utf-16"),
    b'{"a": [1, 2',
    b"{'single': 'quotes'}",
    b'{"a": 1,}',
    b'{"a": 1} trailing',
    b'{"__proto__": {"admin": true}}',
]
raw_bodies = st.one_of(st.sampled_from(RAW_DOCUMENTS), st.binary(max_size=64))
"""Bodies that are not one well-formed JSON document."""


def hostile_like(example: Any) -> st.SearchStrategy[Any]:
    """Something hostile in place of `example`, often of its own type, the worst first (the
    first example of a run is made of each strategy's first choice)."""
    if isinstance(example, dict | list):
        containers = st.dictionaries(any_text, hostile_values, max_size=4)
        return st.one_of(deep_values, containers, big_values, hostile_values)
    if isinstance(example, str):
        return st.one_of(st.sampled_from(NASTY_STRINGS), any_text, hostile_values)
    if isinstance(example, int):
        return st.one_of(st.sampled_from(EDGE_INTEGERS), integers, hostile_values)
    return hostile_values


@st.composite
def object_with_hostile(draw: st.DrawFn, example: dict[str, Any], field: str) -> dict[str, Any]:
    """`example` with `field` made hostile (or dropped, or null), and maybe unknown fields."""
    document = dict(example)
    change = draw(st.sampled_from(["hostile", "hostile", "drop", "null"]))
    document.pop(field, None)
    if change == "hostile":
        document[field] = draw(hostile_like(example.get(field)))
    elif change == "null":
        document[field] = None
    document.update(draw(st.dictionaries(any_text, json_values, max_size=2)))
    return document


@st.composite
def objects_like(draw: st.DrawFn, example: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """`example` with one to three of `fields` made hostile, dropped or null."""
    document = dict(example)
    for field in draw(st.sets(st.sampled_from(fields), min_size=1, max_size=3)):
        document = draw(object_with_hostile(document, field))
    return document


# Socket frames


@st.composite
def mutated_sdp(draw: st.DrawFn, sdp: str) -> str:
    """`sdp` with a few of its lines dropped, replaced or added, or cut short: what a broken
    or hostile client offers (no fingerprint, bogus codecs, numbers past any range)."""
    lines = sdp.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, max(0, len(lines) - 1)))
        change = draw(st.sampled_from(["replace", "drop", "add", "cut"]))
        if change == "cut":
            lines = lines[:where]
        elif change == "drop" and lines:
            del lines[where]
        else:
            line = draw(st.sampled_from(BAD_SDP_LINES) | wire_text)
            lines[where : where + (change == "replace")] = [line]
    return "\r\n".join(lines) + "\r\n"


BAD_SDP_LINES = [
    "a=fingerprint:sha-256 00",
    "a=fingerprint:md5 " + ":".join(["AB"] * 16),
    "a=fingerprint:sha-256",
    "a=setup:bogus",
    "a=ice-ufrag:",
    "a=ice-pwd:",
    "a=ice-options:" + "x" * 500,
    "m=audio 0 RTP/AVP 999999999999",
    "m=audio 9 UDP/TLS/RTP/SAVPF",
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "a=rtpmap:111 opus/0/0",
    "a=rtpmap:111 opus/48000/99999999999",
    "a=rtpmap:-1 x/y",
    "a=fmtp:111 minptime=-10;useinbandfec=99999999999999999999",
    "a=rtcp-fb:111 nack " + "pli " * 100,
    "a=ssrc:99999999999999999 cname:x",
    "a=ssrc-group:FID 1",
    "a=extmap:9999999 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=msid:" + "x" * 1000,
    "a=mid:",
    "a=group:BUNDLE 0 1 2 3 4 5",
    "a=sctp-port:99999999",
    "a=max-message-size:-1",
    "c=IN IP4 999.1.1.1",
    "c=IN IP6 ::::",
    "a=candidate:1 1 udp 1 127.0.0.1 99999 typ host",
    "o=- 99999999999999999999999 2 IN IP4 127.0.0.1",
    "v=1",
    "t=x y",
]
BAD_CANDIDATES = [
    "",
    "candidate:",
    "candidate:1 1 udp 1 127.0.0.1 99999 typ host",
    "candidate:1 1 udp 1 127.0.0.1 -1 typ host",
    "candidate:1 99999999999999999999 udp 1 127.0.0.1 9 typ host",
    "candidate:1 1 udp 99999999999999999999 127.0.0.1 9 typ host",
    "candidate:1 1 udp 1 999.999.999.999 9 typ host",
    "candidate:1 1 udp 1 ::::: 9 typ host",
    "candidate:1 1 udp 1 255.255.255.255 9 typ host",
    "candidate:1 1 udp 1 0.0.0.0 0 typ host",
    "candidate:1 1 tcp 1 127.0.0.1 9 typ host tcptype bogus",
    "candidate:1 1 sctp 1 127.0.0.1 9 typ relay raddr x rport y",
    "candidate:1 1 udp 1 127.0.0.1 9 typ host raddr 1.2.3.4 rport 99999999",
    "candidate:1 1 udp 1 127.0.0.1 9 typ bogus",
    "a=candidate:1 1 udp 1 127.0.0.1 9 typ host generation 0 ufrag x",
]


@st.composite
def candidate_lines(draw: st.DrawFn) -> str:
    """An ICE candidate line: one of the known-bad ones, or one built from hostile parts."""
    if draw(st.booleans()):
        return draw(st.sampled_from(BAD_CANDIDATES))
    parts = [
        draw(wire_text.filter(lambda t: t.strip() != "")),
        str(draw(integers)),
        draw(st.sampled_from(["udp", "tcp", "UDP", "x"])),
        str(draw(integers)),
        draw(st.sampled_from(["127.0.0.1", "::1", "10.0.0.1", "1.2.3"]) | wire_text),
        str(draw(integers)),
        "typ",
        draw(st.sampled_from(["host", "srflx", "prflx", "relay"]) | wire_text),
    ]
    return "candidate:" + " ".join(parts)
