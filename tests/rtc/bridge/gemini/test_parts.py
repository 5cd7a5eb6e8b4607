"""The Gemini Live bridge's sans-I/O parts: the audio uplink, the history, the assembler."""

from __future__ import annotations

from google.genai import types

from rtc.bridge.base import HostAudio, Interrupted, Transcript, TurnComplete
from rtc.bridge.brief import HostBrief
from rtc.bridge.gemini.events import TurnAssembler
from rtc.bridge.gemini.history import ConversationHistory
from rtc.bridge.gemini.tuning import GeminiTuning
from rtc.bridge.gemini.uplink import STREAM_END, AudioUplink, UplinkItem

RATE = 16_000
BRIEF = HostBrief(vibe="The Historian", mode="Director Mode", duration_minutes=60, topics=["sea"])


def frame(value: int, ms: int = 20) -> bytes:
    """`ms` of a constant sample value, to tell pieces of audio apart."""
    return value.to_bytes(2, "little", signed=True) * (RATE * ms // 1000)


def drain(uplink: AudioUplink) -> list[UplinkItem]:
    items = []
    while (item := uplink.take()) is not None:
        items.append(item)
    return items


def samples(items: list[UplinkItem]) -> int:
    return sum(len(i) // 2 for i in items if isinstance(i, bytes))


def test_audio_goes_up_in_batches_and_the_tail_on_flush() -> None:
    uplink = AudioUplink(GeminiTuning(cost_control=False), rate=RATE, batch_ms=60)
    for value in range(5):
        uplink.push(frame(value))
    items = drain(uplink)
    assert items == [frame(0) + frame(1) + frame(2)]
    uplink.flush()
    assert drain(uplink) == [frame(3) + frame(4)]
    assert uplink.samples_given == 5 * 320 and uplink.samples_withheld == 0


def test_cost_control_ends_the_stream_after_the_silence_and_sends_the_preroll_first() -> None:
    tuning = GeminiTuning(silence_pause_s=0.1, preroll_ms=60)
    uplink = AudioUplink(tuning, rate=RATE, batch_ms=20)
    uplink.push(frame(1))
    uplink.guest_started()  # speech: no countdown
    uplink.push(frame(2))
    uplink.push(frame(3))
    uplink.guest_stopped()
    for value in range(10, 20):  # 200 ms of silence
        uplink.push(frame(value))
    items = drain(uplink)
    assert items[:3] == [frame(1), frame(2), frame(3)]
    assert items[3:] == [*(frame(v) for v in range(10, 15)), STREAM_END]  # 100 ms, then the end
    assert uplink.paused and uplink.stream_ends == 1
    assert uplink.samples_withheld == 5 * 320
    uplink.guest_started()
    uplink.push(frame(20))
    assert drain(uplink) == [frame(17), frame(18), frame(19), frame(20)]  # 60 ms pre-roll
    assert uplink.samples_withheld == 2 * 320
    assert uplink.samples_given == samples(items) + 4 * 320 + uplink.samples_withheld


def test_cost_control_counts_silence_from_the_start() -> None:
    uplink = AudioUplink(GeminiTuning(silence_pause_s=0.04), rate=RATE, batch_ms=60)
    uplink.push(frame(1))
    uplink.push(frame(2))
    uplink.push(frame(3))
    assert drain(uplink) == [frame(1) + frame(2), STREAM_END]


def test_without_cost_control_silence_streams_on() -> None:
    uplink = AudioUplink(GeminiTuning(cost_control=False), rate=RATE, batch_ms=20)
    uplink.guest_stopped()
    for _ in range(1000):
        uplink.push(frame(0))
    assert len(drain(uplink)) == 1000 and not uplink.paused


def test_a_full_backlog_drops_the_oldest_audio_and_counts_it() -> None:
    tuning = GeminiTuning(cost_control=False, backlog_s=0.1)
    uplink = AudioUplink(tuning, rate=RATE, batch_ms=20)
    for value in range(8):
        uplink.push(frame(value))
    assert uplink.queued_samples == 1600 and uplink.max_queued_samples == 1600
    assert uplink.samples_dropped == 3 * 320
    item = uplink.take()
    assert item == frame(3)
    uplink.give_back(item)  # a send that failed: first in line again
    assert drain(uplink) == [frame(v) for v in range(3, 8)]
    uplink.push(frame(9))
    uplink.push(frame(10, ms=10))
    uplink.discard()  # closing with a connection still being opened
    assert uplink.take() is None and uplink.samples_dropped == 3 * 320 + 480


def test_history_is_bounded_and_catches_up_from_a_mark() -> None:
    history = ConversationHistory(BRIEF, GeminiTuning(history_lines=3, history_line_chars=20))
    history.add("host", "Welcome! Where did you grow up?")
    mark = history.mark
    history.add("guest", "By the sea.")
    history.add("director", "Ask about boats")
    history.add("host", "What boats   were there?", cut=True)
    history.add("guest", "   ")  # nothing said: nothing kept
    catch_up = history.catch_up(mark)
    assert catch_up is not None
    assert catch_up.startswith("[Connection]")
    assert "Guest: By the sea.\nDirector note: Ask about boats\nYou (cut off): What boats" in (
        catch_up
    )
    assert history.catch_up(history.mark) is None
    # The guest's lines whose audio is replayed are not told a second time.
    replayed = history.catch_up(mark, guest_after=mark)
    assert replayed is not None and "By the sea" not in replayed
    assert "Director note: Ask about boats\nYou (cut off): What boats" in replayed
    assert "played to you again" in replayed
    speaking = history.mark
    history.add("guest", "And boats.")
    assert history.catch_up(speaking, guest_after=speaking) is None
    assert "Guest: And boats." in history.summary(0)
    assert "And boats" not in history.summary(0, guest_after=speaking)
    for n in range(5):
        history.add("guest", f"line {n}")
    history.add("director", "Ask about boats")
    summary = history.summary(elapsed_s=600)
    assert "about 10 of 60 minutes" in summary
    assert "Topics to cover, in order: sea." in summary
    assert "  - Ask about boats" in summary
    assert "Welcome" not in summary and "line 1" not in summary  # only the last 3 lines
    assert "Guest: line 2\n  Guest: line 3\n  Guest: line 4" in summary
    assert "Welcome! Where did y…" not in summary
    history.add("host", "x" * 50)
    assert "You: " + "x" * 19 + "…" in history.summary(0)


def test_the_assembler_joins_fragments_and_finishes_cut_lines_once() -> None:
    history = ConversationHistory(BRIEF, GeminiTuning())
    turns = TurnAssembler(history)

    def content(**fields: object) -> types.LiveServerContent:
        return types.LiveServerContent.model_validate(fields)

    assert turns.feed(content(input_transcription={"text": "By the s"})) == [
        Transcript("user", "By the s", final=False)
    ]
    turns.feed(content(input_transcription={"text": "ea."}))
    audio = {"parts": [{"inline_data": {"data": b"\x01\x00", "mime_type": "audio/pcm;rate=24000"}}]}
    assert turns.feed(content(model_turn=audio)) == [
        Transcript("user", "By the sea.", final=True),
        HostAudio(b"\x01\x00", 24_000),
    ]
    turns.feed(content(output_transcription={"text": "Lov"}))
    assert turns.feed(content(output_transcription={"text": "ely."}, interrupted=True)) == [
        Transcript("ai", "Lovely.", final=False),
        Interrupted(),
        Transcript("ai", "Lovely.", final=True),
    ]
    turns.feed(content(output_transcription={"text": "And"}))
    assert turns.finish(cut=True) == [Transcript("ai", "And", final=True)]
    assert turns.finish(cut=True) == []
    assert turns.feed(content(turn_complete=True)) == [TurnComplete()]
    assert [(e.speaker, e.text, e.cut) for e in history.since(0)] == [
        ("guest", "By the sea.", False),
        ("host", "Lovely.", True),
        ("host", "And", True),
    ]


def test_an_unanswered_utterance_is_replayed_from_just_before_its_start() -> None:
    tuning = GeminiTuning(cost_control=False, replay_margin_ms=20)
    uplink = AudioUplink(tuning, rate=RATE, batch_ms=20)
    for value in range(2):
        uplink.push(frame(value))
    uplink.guest_started()  # the engine's VAD tells speech 60-80 ms into it: the margin
    for value in (2, 3):
        uplink.push(frame(value))
    assert drain(uplink) == [frame(0), frame(1), frame(2), frame(3)]
    uplink.push(frame(4))  # held: no connection takes audio
    assert uplink.replay() == 3 * 320
    item = uplink.take()
    assert item == frame(1)
    uplink.give_back(item)  # a replayed item whose send failed is replayed again
    assert drain(uplink) == [frame(1), frame(2), frame(3), frame(4)]
    assert (uplink.samples_sent, uplink.samples_replayed) == (5 * 320, 3 * 320)
    assert uplink.replay_complete
    assert uplink.replay() == 4 * 320  # the next connection gets it again, with frame 4


def test_an_answered_utterance_is_forgotten_but_the_margin() -> None:
    tuning = GeminiTuning(cost_control=False, replay_margin_ms=20, backlog_s=60)
    uplink = AudioUplink(tuning, rate=RATE, batch_ms=20)
    uplink.guest_started()
    for value in range(50):
        uplink.push(frame(value))
    drain(uplink)
    uplink.answered()
    uplink.push(frame(50))
    drain(uplink)
    assert uplink.replay() == 320  # the log holds the newest 20 ms only: memory stays flat


def test_a_new_utterance_forgets_the_one_before() -> None:
    tuning = GeminiTuning(cost_control=False, replay_margin_ms=0)
    uplink = AudioUplink(tuning, rate=RATE, batch_ms=20)
    uplink.guest_started()
    uplink.push(frame(1))
    drain(uplink)
    uplink.guest_started()
    uplink.push(frame(2))
    drain(uplink)
    assert uplink.replay() == 320
    assert drain(uplink) == [frame(2)]


def test_speech_before_the_host_says_anything_adds_to_the_unanswered_turn() -> None:
    """The guest stops, the connection goes before the host answers, and the guest speaks
    again while the audio is held: the replay starts at the first utterance, not the last."""
    tuning = GeminiTuning(cost_control=False, replay_margin_ms=0)
    uplink = AudioUplink(tuning, rate=RATE, batch_ms=20)
    uplink.guest_started()
    uplink.push(frame(1))
    drain(uplink)
    uplink.push(frame(2))  # held
    uplink.guest_started(continues=True)
    uplink.push(frame(3))
    assert uplink.replay() == 320
    assert drain(uplink) == [frame(1), frame(2), frame(3)]


def test_the_replay_is_bounded_and_says_when_it_lost_the_start() -> None:
    tuning = GeminiTuning(cost_control=False, backlog_s=0.04, replay_margin_ms=0)
    uplink = AudioUplink(tuning, rate=RATE, batch_ms=20)
    uplink.guest_started()
    for value in range(5):
        uplink.push(frame(value))
        drain(uplink)
    assert not uplink.replay_complete
    assert uplink.replay() == 2 * 320  # the newest 40 ms only
    assert drain(uplink) == [frame(3), frame(4)]


def test_the_replay_leaves_out_the_pause_before_the_utterance() -> None:
    tuning = GeminiTuning(silence_pause_s=0.02, replay_margin_ms=100)
    uplink = AudioUplink(tuning, rate=RATE, batch_ms=20)
    uplink.push(frame(1))
    uplink.push(frame(2))  # paused: kept for the pre-roll
    uplink.guest_started()
    uplink.push(frame(3))
    assert drain(uplink) == [frame(1), STREAM_END, frame(2), frame(3)]
    uplink.replay()
    assert drain(uplink) == [frame(1), frame(2), frame(3)]
