"""Director messages and the per-director note limit."""

from __future__ import annotations

import pytest

from director.limits import NoteRateLimit
from director.protocol import MAX_NOTE_CHARS, Inject, Topics, parse_director_message
from signaling.protocol import Ping, ProtocolError


def test_valid_messages() -> None:
    assert parse_director_message('{"type":"inject","text":" Ask it ","id":"a"}') == Inject(
        "Ask it", "a", False
    )
    assert parse_director_message('{"type":"inject","text":"x","id":7,"now":true}') == Inject(
        "x", "7", True
    )
    assert parse_director_message('{"type":"topics","topics":["a"," ","b"]}') == Topics(
        ["a", "b"], None
    )
    assert parse_director_message('{"type":"ping"}') == Ping()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"type":"inject"}', "invalid_message"),
        ('{"type":"inject","text":"' + "x" * (MAX_NOTE_CHARS + 1) + '"}', "note_too_long"),
        ('{"type":"inject","text":"x","now":1}', "invalid_message"),
        ('{"type":"inject","text":"x","id":[1]}', "invalid_message"),
        ('{"type":"topics","topics":[1]}', "invalid_message"),
        ('{"type":"nope"}', "unknown_type"),
        ('{"type":"topics","topics":' + "[" * 20_000 + "]" * 20_000 + "}", "json_too_deep"),
        ('{"type":"inject","text":"x","at":NaN}', "invalid_json_value"),
    ],
)
def test_bad_messages(frame: str, code: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_director_message(frame)
    assert raised.value.code == code


def test_ten_notes_per_ten_seconds() -> None:
    now = [100.0]
    limit = NoteRateLimit(clock=lambda: now[0])
    assert all(limit.allow() for _ in range(10))
    assert not limit.allow()
    now[0] += 9.9
    assert not limit.allow()
    now[0] += 0.1
    assert limit.allow()
