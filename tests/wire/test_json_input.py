"""Bounded JSON parsing: what a hostile client sends is refused with a code, never raised."""

from __future__ import annotations

import json

import pytest

from wire.json_input import MAX_DEPTH, JsonRefused, check_document, encoded_size, parse_json


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_a_document_as_deep_as_the_limit_parses() -> None:
    assert parse_json(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 900, 100_000])
def test_deeper_nesting_is_refused_whatever_the_depth(levels: int) -> None:
    with pytest.raises(JsonRefused) as refused:
        parse_json(nested(levels))
    assert refused.value.code == "json_too_deep"


def test_objects_count_towards_the_depth_as_arrays_do() -> None:
    deep = '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
    with pytest.raises(JsonRefused, match="nested more than 32 levels"):
        parse_json(deep)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "malformed_json"),
        (b"\xff\xfe{}", "malformed_json"),
        ("1" * 5000, "malformed_json"),  # past Python's 4300-digit conversion limit
        ('{"x": NaN}', "invalid_json_value"),
        ("[Infinity]", "invalid_json_value"),
        ('{"x": -Infinity}', "invalid_json_value"),
        ('{"x": "a\\u0000b"}', "invalid_json_value"),
        ('{"\\u0000": 1}', "invalid_json_value"),
        ('["\\ud800"]', "invalid_json_value"),
        ('{"\\udfff": 1}', "invalid_json_value"),
    ],
)
def test_what_the_database_cannot_store_is_refused(text: str | bytes, code: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        parse_json(text)
    assert refused.value.code == code


def test_paired_surrogates_are_one_character_and_fine() -> None:
    assert parse_json('["\\ud83d\\ude00"]') == ["\U0001f600"]


def test_check_document_walks_a_document_deeper_than_the_recursion_limit() -> None:
    document: list[object] = []
    for _ in range(50_000):
        document = [document]
    with pytest.raises(JsonRefused):
        check_document(document)


def test_encoded_size_counts_utf8_bytes_of_compact_json() -> None:
    assert encoded_size({"a": "é"}) == len('{"a":"é"}'.encode())
