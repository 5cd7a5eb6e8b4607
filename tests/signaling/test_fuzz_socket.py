"""The interview socket fuzzed with Hypothesis: sequences of hostile frames (known types with
bad fields, unknown types, malformed JSON, binary frames, frames near the 64 KiB limit, offers
with broken SDP, garbage ICE candidates before and after an accepted offer).

Every frame gets its answer before the next one is judged: an `error` event for a bad frame,
an `answer` or an `error` for an offer, at most one `error` for a candidate once a connection
exists, a close with a documented code where the protocol says so, and never a socket dropped
without a close frame. Nothing is logged as an error, every interview ends, and afterwards the
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
from aiortc import RTCPeerConnection
from hypothesis import strategies as st

from monumento.app import create_app
from signaling.protocol import (
    MAX_FRAME_BYTES,
    Candidate,
    End,
    Offer,
    Ping,
    ProtocolError,
    parse_client_message,
)
from tests.conftest import make_settings, register
from tests.hostile import (
    any_text,
    candidate_lines,
    dumps,
    hostile_values,
    integers,
    json_values,
    logged_errors,
    mutated_sdp,
    run_examples,
)
from tests.live_server import LiveServer, serve
from tests.rtc.guest_client import GuestClient

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

REFUSED = {"stranger": 4404, "nobody": 4401, "no-such-session": 4404}
"""Who else connects, and the close code each gets (signaling/interview_socket.py)."""
WAIT_S = 60.0  # a bound a busy machine meets; each wait ends on its event


def candidate_free(sdp: str) -> str:
    """An offer with no candidates: the server answers it and then waits for trickled ones,
    so each garbage candidate reaches aiortc and ICE never completes on its own."""
    lines = [line for line in sdp.splitlines() if not line.startswith(("a=candidate", "a=end-"))]
    return "\r\n".join(lines) + "\r\n"


async def make_offer() -> str:
    """A real offer of audio (and video), as a browser's would be."""
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        await pc.setLocalDescription(await pc.createOffer())
        return candidate_free(pc.localDescription.sdp)
    finally:
        await pc.close()


@dataclass(frozen=True, slots=True)
class Conversation:
    """One socket's life: who connects, whether a real offer goes first, then the frames."""

    who: str
    offer_first: bool
    frames: list[str | bytes]

    def __repr__(self) -> str:
        shown = [f[:200] + (b"..." if isinstance(f, bytes) else "...") for f in self.frames]
        return f"Conversation({self.who}, offer_first={self.offer_first}, {shown})"


def runs(offer: str) -> dict[str, tuple[st.SearchStrategy[Conversation], int]]:
    """One Hypothesis run per kind of hostile frame, with its number of conversations: each
    frame of a run is of its kind, so that every kind reaches the code it is aimed at."""
    extra = st.dictionaries(any_text, json_values, max_size=2)
    sdp = st.one_of(mutated_sdp(offer), mutated_sdp(offer), any_text, hostile_values)
    offers = st.builds(lambda s, more: {**more, "type": "offer", "sdp": s}, sdp, extra)

    def candidate(line: Any, mid: Any, index: Any) -> dict[str, Any]:
        return {"type": "candidate", "candidate": line, "sdpMid": mid, "sdpMLineIndex": index}

    # Mostly well-formed messages, so that the garbage in the line reaches aiortc.
    lines = st.builds(
        candidate,
        candidate_lines(),
        st.sampled_from(["0", "1", None, "9"]),
        st.sampled_from([0, None, 1, 7]),
    )
    fields = st.builds(
        candidate,
        st.one_of(candidate_lines(), hostile_values),
        st.one_of(st.sampled_from(["0", None]), any_text, hostile_values),
        st.one_of(st.sampled_from([0, None]), integers, hostile_values),
    )
    candidates = st.one_of(lines, lines, lines, fields)
    others = st.one_of(
        st.builds(lambda more: {**more, "type": "ping"}, extra),
        st.builds(lambda more: {**more, "type": "end"}, extra),
        st.fixed_dictionaries({"type": any_text | hostile_values}),
        st.fixed_dictionaries(
            {"type": st.just("start"), "media": any_text, "sampleRate": integers}
        ),
        hostile_values,
    )
    near_limit = st.sampled_from([MAX_FRAME_BYTES - 100, MAX_FRAME_BYTES + 1]).map(
        lambda size: '{"type": "ping", "pad": "' + "x" * (size - 28) + '"}'
    )
    kinds: dict[str, tuple[st.SearchStrategy[str | bytes], bool, int]] = {
        "offers": (offers.map(dumps), False, 40),
        "candidates after an offer": (candidates.map(dumps), True, 40),
        "candidates before it": (candidates.map(dumps), False, 8),
        "other messages": (others.map(dumps), False, 15),
        "text that is not JSON": (st.text(st.characters(codec="utf-8"), max_size=200), False, 8),
        "binary frames": (st.binary(max_size=2000), False, 5),
        "frames near the limit": (near_limit, False, 4),
    }
    anything = st.one_of(*(frames for frames, _, _ in kinds.values()))
    kinds["a mix"] = (anything, True, 20)
    found = {
        name: (
            st.builds(
                Conversation,
                st.just("owner"),
                st.just(first),
                st.lists(frames, min_size=1, max_size=4),
            ),
            count,
        )
        for name, (frames, first, count) in kinds.items()
    }
    refused = st.builds(Conversation, st.sampled_from(list(REFUSED)), st.just(False), st.just([]))
    return found | {"refused connections": (refused, 5)}


@dataclass(frozen=True, slots=True)
class Expected:
    """What one frame must get before the pong of the ping after it."""

    errors: tuple[int, int] = (0, 0)  # at least, at most
    code: str | None = None  # the error's code, when the parser decides it
    answer_or_error: bool = False  # an offer: exactly one of the two
    close: int | None = None  # the socket closes with this code instead


def expected(frame: str | bytes, connected: bool) -> Expected:
    """The server's answer to `frame`, by the protocol (and its sans-I/O parser)."""
    if isinstance(frame, bytes):
        return Expected((1, 1), "invalid_message")
    if len(frame.encode()) > MAX_FRAME_BYTES:
        return Expected(close=1009)  # refused by uvicorn's protocol layer, from the header
    try:
        message = parse_client_message(frame)
    except ProtocolError as error:
        return Expected((1, 1), error.code)
    if isinstance(message, Ping):
        return Expected()
    if isinstance(message, End):
        return Expected(close=1000)
    if isinstance(message, Offer):
        return Expected(answer_or_error=True)
    assert isinstance(message, Candidate)
    return Expected((0, 1)) if connected else Expected((1, 1))


class Talk:
    """Plays conversations against the server as the owner of a fresh session each time."""

    def __init__(self, server: LiveServer, http: httpx.AsyncClient, offer: str) -> None:
        self.server, self.http, self.offer = server, http, offer

    async def setup(self) -> None:
        self.owner = (await register(self.http))["accessToken"]
        self.stranger = (await register(self.http))["accessToken"]

    async def new_session(self) -> str:
        headers = {"Authorization": f"Bearer {self.owner}"}
        body = {"vibe": "The Jester", "mode": "Auto-Pilot", "durationMinutes": 5}
        response = await self.http.post("/sessions", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def __call__(self, conversation: Conversation) -> None:
        session_id = await self.new_session()
        token = {"owner": self.owner, "stranger": self.stranger}.get(conversation.who, "")
        if conversation.who == "no-such-session":
            token, session_id = self.owner, "not-a-session"
        url = f"{self.server.ws}/api/v1/sessions/{session_id}/interview?token={token}"
        guest = GuestClient(url)
        try:
            await guest.connect()
            if conversation.who in REFUSED:
                await self.refused(guest, REFUSED[conversation.who])
                return
            offer = [dumps({"type": "offer", "sdp": self.offer})] * conversation.offer_first
            await self.play(guest, [*offer, *conversation.frames, dumps({"type": "end"})])
        finally:
            await guest.close()

    async def refused(self, guest: GuestClient, code: int) -> None:
        closed = await guest.wait_for(lambda e: e["type"] == "_closed", WAIT_S)
        assert closed["code"] == code
        assert [e["type"] for e in guest.events] == ["error", "_closed"]

    async def play(self, guest: GuestClient, sent: list[str | bytes]) -> None:
        connected = False
        for frame in sent:
            before = len(guest.events)
            await guest.socket.send(frame)
            expect = expected(frame, connected)
            if expect.close is not None:
                closed = await guest.wait_for(lambda e: e["type"] == "_closed", WAIT_S, before)
                assert closed["code"] == expect.close, (frame[:200], guest.events[before:])
                return
            await guest.socket.send('{"type": "ping"}')
            reply = await guest.wait_for(lambda e: e["type"] in ("pong", "_closed"), WAIT_S, before)
            if reply["type"] == "_closed":
                # A connection whose ICE failed (end of candidates, none usable) is lost: 4410.
                assert connected and reply["code"] == 4410, (frame[:200], guest.events[before:])
                return
            got = guest.events[before : guest.events.index(reply, before)]
            connected = self.judge(frame, expect, got) or connected

    @staticmethod
    def judge(frame: str | bytes, expect: Expected, got: list[dict[str, Any]]) -> bool:
        """Check the events one frame got; whether they accepted an offer."""
        shown = (frame[:200], got)
        assert all(isinstance(e.get("type"), str) for e in got), shown
        errors = [e for e in got if e["type"] == "error" and e.get("code") != "media_lost"]
        answers = [e for e in got if e["type"] == "answer"]
        for error in errors:
            assert isinstance(error["error"], str) and error["error"], shown
            assert isinstance(error["code"], str) and error["code"], shown
        if expect.answer_or_error:
            assert len(errors) + len(answers) == 1, shown
        else:
            assert not answers, shown
            low, high = expect.errors
            assert low <= len(errors) <= high, shown
            if expect.code is not None:
                assert errors[0]["code"] == expect.code, shown
        return bool(answers)


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    settings = make_settings(
        tmp_path,
        database_url,
        rtc_host_addresses="127.0.0.1",
        rate_limit_per_minute=10**9,
        rejoin_grace_seconds=0,  # a socket closed without `end` (1009, 4410) ends its interview
    )
    async with serve(create_app(settings)) as live:
        yield live


async def test_hostile_frames_get_their_answer_and_never_drop_the_socket(
    server: LiveServer,
) -> None:
    assert server.app is not None
    registry = server.app.state.signaling.registry
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
        talk = Talk(server, http, await make_offer())
        await talk.setup()
        with logged_errors() as errors:
            for strategy, count in runs(talk.offer).values():
                await run_examples(strategy, talk, count)
            async with asyncio.timeout(WAIT_S):
                await registry.wait_until_empty()  # every interview ended with its socket
        assert not errors.records, errors
        for probe in ("/healthz", "/readyz"):
            assert (await http.get(f"{server.http}{probe}")).status_code == 200
        headers = {"Authorization": f"Bearer {talk.owner}"}
        listed = await http.get("/sessions", params={"size": 100}, headers=headers)
        assert listed.status_code == 200, listed.text
        for session in listed.json()["content"]:
            messages = await http.get(f"/sessions/{session['id']}/messages", headers=headers)
            assert messages.status_code == 200, messages.text
