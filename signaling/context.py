"""What the sockets need from the rest of the server, handed in by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCIceServer
from starlette.requests import HTTPConnection

from rtc.registry import InterviewRegistry
from signaling.handshake import SocketPolicy
from store.sessions import SessionStore


@dataclass(frozen=True, slots=True)
class SignalingContext:
    """The registry of live interviews, the sessions, the ICE servers peers use, who may open
    sockets, and the clock of the sockets' message budgets."""

    registry: InterviewRegistry
    sessions: SessionStore
    ice_servers: list[RTCIceServer]
    policy: SocketPolicy
    clock: Callable[[], float]


def signaling_context(connection: HTTPConnection) -> SignalingContext:
    """The context of the app serving this socket."""
    context = connection.app.state.signaling
    assert isinstance(context, SignalingContext)
    return context
