"""Parsing the guest socket's frames."""

from __future__ import annotations

import pytest

from signaling.protocol import (
    Candidate,
    End,
    Offer,
    Ping,
    ProtocolError,
    parse_client_message,
)


def test_valid_messages() -> None:
    assert parse_client_message('{"type": "offer", "sdp": "v=0"}') == Offer("v=0")
    assert parse_client_message(
        '{"type": "candidate", "candidate": "candidate:1", "sdpMid": "0", "sdpMLineIndex": 0}'
    ) == Candidate("candidate:1", "0", 0)
    assert parse_client_message('{"type": "candidate", "candidate": null}') == Candidate(
        "", None, None
    )
    assert parse_client_message('{"type": "end"}') == End()
    assert parse_client_message('{"type": "ping", "extra": 1}') == Ping()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("nope", "malformed_json"),
        ('{"type": "ping", "x": ' + "[" * 20_000 + "]" * 20_000 + "}", "json_too_deep"),
        ('{"type": "ping", "x": Infinity}', "invalid_json_value"),
        ('{"type": "offer", "sdp": "v=0\\u0000"}', "invalid_json_value"),
        ("[]", "invalid_message"),
        ('{"type": 3}', "invalid_message"),
        ('{"type": "fly"}', "unknown_type"),
        ('{"type": "offer", "sdp": ""}', "invalid_message"),
        ('{"type": "candidate", "candidate": 5}', "invalid_message"),
        ('{"type": "candidate", "sdpMLineIndex": true}', "invalid_message"),
        ('{"type": "candidate", "sdpMLineIndex": -1}', "invalid_message"),
        ('{"type": "candidate", "sdpMid": 0}', "invalid_message"),
    ],
)
def test_bad_frames(frame: str, code: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_client_message(frame)
    assert raised.value.code == code
