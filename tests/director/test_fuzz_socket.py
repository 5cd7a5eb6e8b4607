"""The director socket fuzzed with Hypothesis, against a live interview with the offline host:
notes and topic lists with hostile fields, unknown types, malformed JSON, binary frames and
frames near the 64 KiB limit, one console after another.

Every frame gets its answer before the next one is judged: an `error` event for a bad frame
(or a note over the rate limit), nothing for a good one but, in time, its `ack`; a frame over
the limit closes the socket with 1009; no socket is dropped without a close frame. Nothing is
logged as an error, the interview runs on and ends when its guest says so, and afterwards the
server is healthy and the user's lists still read. More examples: `HYPOTHESIS_PROFILE=deep`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import strategies as st

from director.protocol import (
    MAX_NOTE_CHARS,
    MAX_TOPIC_CHARS,
    MAX_TOPICS,
    Inject,
    Topics,
    parse_director_message,
)
from monumento.app import create_app
from signaling.protocol import MAX_FRAME_BYTES, Ping, ProtocolError
from tests.conftest import make_settings
from tests.director.test_director_socket import director_url, live_interview
from tests.hostile import (
    any_text,
    dumps,
    hostile_values,
    json_values,
    logged_errors,
    object_with_hostile,
    run_examples,
)
from tests.live_server import LiveServer, serve
from tests.rtc.guest_client import GuestClient

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WAIT_S = 60.0  # a bound a busy machine meets; each wait ends on its event
ADDRESSED_ERRORS = {"not_live", "host_unavailable"}
"""Errors the interview's side sends back for a note it could not apply: each one is a bug
here, since the interview is live and its host is the offline one."""


@dataclass(frozen=True, slots=True)
class Console:
    """One director's socket: the frames it sends, one after another."""

    frames: list[str | bytes]

    def __repr__(self) -> str:
        shown = [f[:200] + (b"..." if isinstance(f, bytes) else "...") for f in self.frames]
        return f"Console({shown})"


def runs() -> dict[str, tuple[st.SearchStrategy[Console], int]]:
    """One Hypothesis run per kind of frame, with its number of consoles."""
    # Mostly well-formed notes, so that odd but valid text reaches the host (and eSpeak NG).
    said = st.one_of(
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=80),
        st.sampled_from(["y " * (MAX_NOTE_CHARS // 2), "Ask about 😀 \u202e\u0644\u0627 e\u0301"]),
    )
    good_notes = st.builds(
        lambda text, client_id, now: {"type": "inject", "text": text, "id": client_id, "now": now},
        said,
        st.sampled_from(["n-1", 7, None, "x" * 300]),
        st.booleans(),
    )
    note = {"type": "inject", "text": "Ask about her bakery", "id": "n-1", "now": True}
    bad_notes = st.sampled_from(list(note)).flatmap(lambda field: object_with_hostile(note, field))
    notes = st.one_of(good_notes, good_notes, bad_notes)
    good_topics = st.builds(
        lambda listed, client_id: {"type": "topics", "topics": listed, "id": client_id},
        st.one_of(
            st.lists(said, max_size=5),
            st.just(["t" * MAX_TOPIC_CHARS] * MAX_TOPICS),
            st.just(["t"] * (MAX_TOPICS + 1)),
        ),
        st.sampled_from(["t-1", None]),
    )
    listing = {"type": "topics", "topics": ["her bakery", "her apprenticeship"], "id": "t-1"}
    bad_topics = st.sampled_from(list(listing)).flatmap(
        lambda field: object_with_hostile(listing, field)
    )
    topics = st.one_of(good_topics, good_topics, bad_topics)
    extra = st.dictionaries(any_text, json_values, max_size=2)
    others = st.one_of(
        st.builds(lambda more: {**more, "type": "ping"}, extra),
        st.fixed_dictionaries({"type": any_text | hostile_values}),
        hostile_values,
    )
    near_limit = st.sampled_from([MAX_FRAME_BYTES - 100, MAX_FRAME_BYTES + 1]).map(
        lambda size: '{"type": "ping", "pad": "' + "x" * (size - 28) + '"}'
    )
    kinds: dict[str, tuple[st.SearchStrategy[str | bytes], int]] = {
        "notes": (notes.map(dumps), 25),
        "topic lists": (topics.map(dumps), 15),
        "other messages": (others.map(dumps), 10),
        "text that is not JSON": (st.text(st.characters(codec="utf-8"), max_size=200), 6),
        "binary frames": (st.binary(max_size=2000), 4),
        "frames near the limit": (near_limit, 4),
    }
    kinds["a mix"] = (st.one_of(*(frames for frames, _ in kinds.values())), 10)
    return {
        name: (st.builds(Console, st.lists(frames, min_size=1, max_size=4)), count)
        for name, (frames, count) in kinds.items()
    }


class Direct:
    """Plays consoles against the live interview, one at a time."""

    def __init__(self, server: LiveServer, session_id: str, token: str) -> None:
        self.url = director_url(server, session_id, token)

    async def __call__(self, console: Console) -> None:
        director = GuestClient(self.url)
        try:
            await director.connect()
            await self.play(director, console.frames)
        finally:
            await director.close()

    async def play(self, director: GuestClient, frames: list[str | bytes]) -> None:
        accepted = 0
        for frame in frames:
            before = len(director.events)
            await director.socket.send(frame)
            if not isinstance(frame, bytes) and len(frame.encode()) > MAX_FRAME_BYTES:
                closed = await director.wait_for(lambda e: e["type"] == "_closed", WAIT_S, before)
                assert closed["code"] == 1009, director.events[before:]
                return
            await director.socket.send('{"type": "ping"}')
            reply = await director.wait_for(
                lambda e: e["type"] in ("pong", "_closed"), WAIT_S, before
            )
            assert reply["type"] == "pong", (frame[:200], director.events[before:])
            got = director.events[before : director.events.index(reply, before)]
            accepted += self.judge(frame, got)
        # Every note the console let through reaches the host and comes back acknowledged.
        await director.until(lambda: acks(director) >= accepted, WAIT_S)
        assert acks(director) == accepted
        addressed = [e for e in director.events if e.get("code") in ADDRESSED_ERRORS]
        assert not addressed, addressed

    @staticmethod
    def judge(frame: str | bytes, got: list[dict[str, Any]]) -> bool:
        """Check the events one frame got; whether it was a note let through to the host."""
        shown = (frame[:200], got)
        errors = [e for e in got if e["type"] == "error" and e["code"] not in ADDRESSED_ERRORS]
        for error in errors:
            assert isinstance(error["error"], str) and error["error"], shown
        if isinstance(frame, bytes):
            assert [e["code"] for e in errors] == ["invalid_message"], shown
            return False
        try:
            message = parse_director_message(frame)
        except ProtocolError as error:
            assert [e["code"] for e in errors] == [error.code], shown
            return False
        if isinstance(message, Ping):
            assert not errors, shown
            return False
        assert isinstance(message, Inject | Topics)
        assert [e["code"] for e in errors] in ([], ["rate_limited"]), shown
        return not errors


def acks(director: GuestClient) -> int:
    return sum(event["type"] == "ack" for event in director.events)


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    settings = make_settings(
        tmp_path,
        database_url,
        rtc_host_addresses="127.0.0.1",
        rate_limit_per_minute=10**9,
        interview_minute_seconds=60.0,  # five minutes: longer than the whole run
    )
    async with serve(create_app(settings)) as live:
        yield live


async def test_hostile_console_frames_get_their_answer_and_the_interview_runs_on(
    server: LiveServer,
) -> None:
    assert server.app is not None
    registry = server.app.state.signaling.registry
    guest, token, session_id = await live_interview(server)
    try:
        with logged_errors() as errors:
            direct = Direct(server, session_id, token)
            for strategy, count in runs().values():
                await run_examples(strategy, direct, count)
            live = await guest.wait_for(lambda e: e["type"] == "state", WAIT_S, len(guest.events))
            assert live["state"] == "live"  # the host took every note and the interview runs on
            await guest.send({"type": "end"})
            await guest.wait_for(lambda e: e["type"] == "_closed", WAIT_S)
            async with asyncio.timeout(WAIT_S):
                await registry.wait_until_empty()
        assert not errors.records, errors
    finally:
        await guest.close()
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
        for probe in ("/healthz", "/readyz"):
            assert (await http.get(f"{server.http}{probe}")).status_code == 200
        headers = {"Authorization": f"Bearer {token}"}
        listed = await http.get("/sessions", headers=headers)
        assert listed.status_code == 200, listed.text
        messages = await http.get(f"/sessions/{session_id}/messages", headers=headers)
        assert messages.status_code == 200, messages.text
        assert messages.json(), "the host's lines, the notes it spoke among them, were saved"
