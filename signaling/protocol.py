"""The interview socket's client messages, parsed and checked without any I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wire.json_input import JsonRefused, parse_json

MAX_FRAME_BYTES = 64 * 1024
"""The largest frame either socket takes; uvicorn's protocol layer enforces it (1009)."""


class ProtocolError(Exception):
    """A frame the server cannot use; `code` and the message go back as an `error` event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Offer:
    sdp: str


@dataclass(frozen=True, slots=True)
class Candidate:
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True, slots=True)
class End:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    pass


ClientMessage = Offer | Candidate | End | Ping


def parse_json_frame(text: str) -> dict[str, Any]:
    """A frame as a JSON object with a string `type`, or `ProtocolError`."""
    try:
        message = parse_json(text)
    except JsonRefused as error:
        raise ProtocolError(error.code, f"The message: {error}") from error
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("invalid_message", "Each message must be a JSON object with a type")
    return message


def parse_client_message(text: str) -> ClientMessage:
    """One frame of the guest's socket as a typed message, or `ProtocolError`."""
    message = parse_json_frame(text)
    kind = message["type"]
    if kind == "offer":
        sdp = message.get("sdp")
        if not isinstance(sdp, str) or not sdp.strip():
            raise ProtocolError("invalid_message", "offer: sdp must be a non-empty string")
        return Offer(sdp)
    if kind == "candidate":
        return _candidate(message)
    if kind == "end":
        return End()
    if kind == "ping":
        return Ping()
    raise ProtocolError("unknown_type", f"Unknown message type {kind!r}")


def _candidate(message: dict[str, Any]) -> Candidate:
    candidate = message.get("candidate")
    if candidate is None:
        candidate = ""  # end of candidates, as browsers signal it
    if not isinstance(candidate, str):
        raise ProtocolError("invalid_message", "candidate: candidate must be a string")
    sdp_mid = message.get("sdpMid")
    index = message.get("sdpMLineIndex")
    if sdp_mid is not None and not isinstance(sdp_mid, str):
        raise ProtocolError("invalid_message", "candidate: sdpMid must be a string")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
        raise ProtocolError("invalid_message", "candidate: sdpMLineIndex must be a whole number")
    return Candidate(candidate, sdp_mid, index)
