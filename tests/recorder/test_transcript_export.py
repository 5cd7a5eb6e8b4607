"""Transcript timing rules and the caption formats' edge cases."""

from __future__ import annotations

from recorder.transcript_export import TranscriptLine, cues, time_lines, to_srt, to_text


def test_a_line_ends_where_the_next_begins_unless_its_end_is_known() -> None:
    lines = time_lines(
        [
            TranscriptLine("ai", "Hello.", 1_000, end_ms=1_000),  # not after its start: ignored
            TranscriptLine("user", "Hi there.", 2_500, end_ms=3_100),
            TranscriptLine("ai", "So...", 4_000),
        ],
        duration_ms=60_000,
    )
    assert [(line.start_ms, line.end_ms) for line in lines] == [
        (1_000, 2_500),
        (2_500, 3_100),
        (4_000, 5_000),
    ]


def test_blank_lines_go_and_offsets_before_the_zero_are_clamped() -> None:
    lines = time_lines(
        [TranscriptLine("user", " \n ", 500), TranscriptLine("ai", "Early\nline", -300)],
        duration_ms=10_000,
    )
    assert [(line.text, line.start_ms) for line in lines] == [("Early line", 0)]


def test_the_last_line_ends_with_the_recording_when_that_comes_first() -> None:
    words = " ".join(["word"] * 20)  # about 8 s to say
    (line,) = time_lines([TranscriptLine("user", words, 1_000)], duration_ms=4_000)
    assert line.end_ms == 4_000
    (line,) = time_lines([TranscriptLine("user", words, 1_000)], duration_ms=60_000)
    assert line.end_ms == 9_000


def test_a_long_line_with_little_time_stays_one_cue() -> None:
    words = " ".join(["word"] * 40)
    lines = time_lines(
        [TranscriptLine("user", words, 0), TranscriptLine("ai", "Next.", 1_000)],
        duration_ms=10_000,
    )
    first, second = cues(lines)
    assert (first.start_ms, first.end_ms, second.start_ms) == (0, 1_000, 1_000)
    assert " ".join(first.rows(label=False)) == words


def test_timestamps_past_an_hour() -> None:
    lines = time_lines([TranscriptLine("ai", "Still here?", 3_725_250)], duration_ms=3_800_000)
    assert to_text(lines) == "[1:02:05] Host: Still here?\n"
    assert to_srt(lines) == "1\n01:02:05,250 --> 01:02:06,250\nHost: Still here?\n\n"
