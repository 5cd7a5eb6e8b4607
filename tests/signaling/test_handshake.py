"""The opening both sockets share, on a live server: the token as a subprotocol, the page's
`Origin`, and the per-node caps on open sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monumento.app import create_app
from store.database import Database
from store.users import UserStore
from tests.conftest import PASSWORD, make_settings, register
from tests.live_server import LiveServer, serve
from tests.rtc.guest_client import GuestClient
from tests.signaling.test_interview_socket import new_session

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
WEB_CLIENT = "http://localhost:3000"


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    settings = make_settings(
        tmp_path,
        database_url,
        rtc_host_addresses="127.0.0.1",
        interview_minute_seconds=12.0,
        rejoin_grace_seconds=0,
        cors_origins=[WEB_CLIENT],
        ws_sockets_per_user=3,
        ws_directors_per_session=2,
    )
    async with serve(create_app(settings)) as live:
        yield live


def url(server: LiveServer, session_id: str, socket: str) -> str:
    return f"{server.ws}/api/v1/sessions/{session_id}/{socket}"


def signed_in(token: str) -> list[str]:
    """The subprotocols a browser offers: `new WebSocket(url, ["monumento", "bearer." + t])`."""
    return ["monumento", f"bearer.{token}"]


async def opened(client: GuestClient) -> dict[str, Any]:
    """Connect and return the first event: `state` (or the transcript) or the refusal."""
    await client.connect()
    return await client.wait_for(lambda e: e["type"] in ("state", "transcript", "error"))


async def refused_with(client: GuestClient) -> tuple[str, int | None]:
    """Connect, and the error code and close code the server refused the socket with."""
    error = await opened(client)
    assert error["type"] == "error", error
    await client.wait_for(lambda e: e["type"] == "_closed")
    return error["code"], client.close_code


async def live_guest(server: LiveServer, token: str, session_id: str) -> GuestClient:
    guest = GuestClient(url(server, session_id, "interview"), subprotocols=signed_in(token))
    await guest.join()
    await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
    return guest


async def test_both_sockets_take_the_token_as_a_subprotocol_and_accept_monumento(
    server: LiveServer,
) -> None:
    token, _, session_id = await new_session(server, mode="Director Mode")
    guest = await live_guest(server, token, session_id)
    director = GuestClient(url(server, session_id, "director"), subprotocols=signed_in(token))
    try:
        assert guest.socket.subprotocol == "monumento"  # never the token
        assert (await opened(director))["type"] != "error"
        assert director.socket.subprotocol == "monumento"
        await director.wait_for(lambda e: e["type"] == "state" and e["state"] == "live")
    finally:
        await director.close()
        await guest.close()
    for socket in ("interview", "director"):
        refused = GuestClient(url(server, session_id, socket), subprotocols=signed_in("forged"))
        try:
            assert await refused_with(refused) == ("unauthorized", 4401)
            assert refused.socket.subprotocol == "monumento"
        finally:
            await refused.close()


async def test_a_page_from_another_origin_is_refused_on_both_sockets(server: LiveServer) -> None:
    token, _, session_id = await new_session(server)
    for socket in ("interview", "director"):
        for origin in ("https://evil.example", "null", "http://localhost:3001"):
            client = GuestClient(
                url(server, session_id, socket), subprotocols=signed_in(token), origin=origin
            )
            try:
                assert await refused_with(client) == ("forbidden_origin", 4403)
            finally:
                await client.close()
    # CORS_ORIGINS, the server's own pages and native apps (no Origin) get past the check:
    # the guest gets the interview's state; the director the interview's state, or
    # `not_live` once the guest's short visit has ended it; never `forbidden_origin`.
    for origin in (WEB_CLIENT, server.http, None):
        for socket, firsts in (("interview", {"state"}), ("director", {"state", "not_live"})):
            client = GuestClient(
                url(server, session_id, socket), subprotocols=signed_in(token), origin=origin
            )
            try:
                event = await opened(client)
                assert firsts & {event["type"], event.get("code")}, (origin, socket, event)
            finally:
                await client.close()


async def connect_once_allowed(client: GuestClient, within_s: float = 30.0) -> dict[str, Any]:
    """The first event once the server has given a closed socket's place back (it does so as
    that socket's handler returns, a moment after the client has closed it)."""
    async with asyncio.timeout(within_s):
        while True:
            event = await opened(client)
            if event.get("code") != "too_many_sockets":
                return event
            await client.close()
            client.events.clear()
            await asyncio.sleep(0.05)


async def test_a_user_holds_at_most_three_sockets_on_a_node(server: LiveServer) -> None:
    token, _, first = await new_session(server)
    sessions = [first, *[(await new_session_of(server, token)) for _ in range(3)]]
    clients = [
        GuestClient(url(server, session_id, "interview"), subprotocols=signed_in(token))
        for session_id in sessions
    ]
    try:
        for client in clients[:3]:
            assert (await opened(client))["type"] == "state"
        code, close = await refused_with(clients[3])
        assert (code, close) == ("too_many_sockets", 4429)
        assert "3 sockets open" in clients[3].events[0]["error"]
        await clients[0].close()
        retry = GuestClient(url(server, sessions[3], "interview"), subprotocols=signed_in(token))
        clients.append(retry)
        assert (await connect_once_allowed(retry))["type"] == "state"
    finally:
        for client in clients:
            await client.close()


async def new_session_of(server: LiveServer, token: str) -> str:
    """Another session of the account whose access token is `token`."""
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
        body = {"vibe": "The Historian", "mode": "Director Mode", "durationMinutes": 5}
        response = await http.post(
            "/sessions", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        session_id: str = response.json()["id"]
        return session_id


async def director_account(server: LiveServer, tmp_path: Path) -> str:
    """A new account with the director role; returns its access token."""
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
        email = (await register(http))["user"]["email"]
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/monumento.db")
        try:
            assert await UserStore(database).set_role(email, "director")
        finally:
            await database.close()
        login = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
        token: str = login.json()["accessToken"]
        return token


async def test_a_session_has_at_most_two_consoles_and_guest_sockets_count_for_the_user(
    server: LiveServer, tmp_path: Path
) -> None:
    token, _, session_id = await new_session(server, mode="Director Mode")
    guest = await live_guest(server, token, session_id)
    others = [await director_account(server, tmp_path) for _ in range(2)]
    consoles = [
        GuestClient(url(server, session_id, "director"), subprotocols=signed_in(caller))
        for caller in (token, token, token, others[0])
    ]
    try:
        # The owner: their guest socket and two consoles are their three sockets.
        for console in consoles[:2]:
            assert (await opened(console))["type"] != "error"
        assert await refused_with(consoles[2]) == ("too_many_sockets", 4429)
        assert "3 sockets open" in consoles[2].events[0]["error"]
        # Another director, with no socket open: the session's two consoles are taken.
        assert await refused_with(consoles[3]) == ("too_many_sockets", 4429)
        assert "2 directors already" in consoles[3].events[0]["error"]
        await consoles[0].close()
        retry = GuestClient(url(server, session_id, "director"), subprotocols=signed_in(others[1]))
        consoles.append(retry)
        assert (await connect_once_allowed(retry))["type"] != "error"
    finally:
        for console in consoles:
            await console.close()
        await guest.close()
