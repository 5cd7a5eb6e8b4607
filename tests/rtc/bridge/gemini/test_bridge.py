"""GeminiLiveBridge through the real google-genai SDK, against the local Gemini Live fake."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from google import genai
from google.genai import errors, types

from rtc.bridge.base import HostAudio, HostEvent, HostStatus, Interrupted, Transcript, TurnComplete
from rtc.bridge.brief import HostBrief
from rtc.bridge.gemini import bridge as gemini
from rtc.bridge.gemini.bridge import DEFAULT_MODEL, GeminiLiveBridge
from rtc.bridge.gemini.tuning import GeminiTuning
from tests.fakes.audio import chunks, rms, silence, voiced
from tests.fakes.gemini_live import FakeGeminiConfig, FakeGeminiLive

API_KEY = "test-api-key"
BRIEF = HostBrief(
    vibe="The Journalist",
    mode="Director Mode",
    duration_minutes=20,
    topics=["childhood", "first job"],
    guest_name="Ada",
)
FAST = FakeGeminiConfig(pace=0)
WAIT = 30.0
"""How long a wait may take before it fails: generous, as a busy machine is slow."""
NO_RECONNECT = GeminiTuning(reconnect_attempts=0)
"""A bridge that gives up at the first lost connection, as all did before reconnection."""


class Recorder:
    """Reads a bridge's events in a task of its own, so a test can wait for them."""

    def __init__(self, bridge: GeminiLiveBridge) -> None:
        """Start reading `bridge.events()`."""
        self.events: list[HostEvent] = []
        self._changed = asyncio.Condition()
        self.task = asyncio.create_task(self._collect(bridge))

    async def _collect(self, bridge: GeminiLiveBridge) -> None:
        async for event in bridge.events():
            self.events.append(event)
            async with self._changed:
                self._changed.notify_all()

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds over the events seen so far."""
        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(predicate)

    def count(self, kind: type[HostEvent]) -> int:
        """How many events of `kind` arrived."""
        return sum(isinstance(e, kind) for e in self.events)

    def lines(self, role: str, *, final: bool = True) -> list[str]:
        """The transcript texts of `role`, final (or partial) ones only."""
        return [
            e.text
            for e in self.events
            if isinstance(e, Transcript) and e.role == role and e.final == final
        ]

    def audio(self) -> list[HostAudio]:
        """The host audio chunks, in order."""
        return [e for e in self.events if isinstance(e, HostAudio)]


def bridge_for(
    fake: FakeGeminiLive,
    brief: HostBrief = BRIEF,
    tuning: GeminiTuning | None = None,
    *,
    sees_video: bool = False,
) -> GeminiLiveBridge:
    """A bridge that reaches `fake` and trusts its certificate."""
    return GeminiLiveBridge(
        brief,
        api_key=API_KEY,
        base_url=fake.base_url,
        http_options=types.HttpOptions(async_client_args={"ssl": fake.client_ssl_context()}),
        tuning=tuning,
        sees_video=sees_video,
    )


@contextlib.asynccontextmanager
async def interview(
    fake: FakeGeminiLive, tuning: GeminiTuning | None = None, *, sees_video: bool = False
) -> AsyncIterator[tuple[GeminiLiveBridge, Recorder]]:
    """A started bridge and the recorder of its events; closed (and drained) on exit."""
    bridge = bridge_for(fake, tuning=tuning, sees_video=sees_video)
    await bridge.start()
    recorder = Recorder(bridge)
    try:
        yield bridge, recorder
    finally:
        await bridge.close()
        async with asyncio.timeout(WAIT):
            await recorder.task


async def speak(bridge: GeminiLiveBridge, seconds: float = 1.0, pause: float = 0.6) -> int:
    """The guest says something, then is silent; returns the samples sent (20 ms chunks)."""
    pcm = voiced(seconds) + silence(pause)
    for chunk in chunks(pcm):
        await bridge.send_audio(chunk)
    return len(pcm) // 2


async def test_setup_carries_model_voice_instruction_transcription_and_resumption() -> None:
    async with FakeGeminiLive(FAST) as fake, interview(fake):
        await fake.wait_for(lambda: bool(fake.setups))
    (setup,) = fake.setups
    connection = fake.connections[0]
    assert connection.api_key == API_KEY
    assert connection.path.endswith("GenerativeService.BidiGenerateContent")
    assert setup["model"] == f"models/{DEFAULT_MODEL}"
    generation = setup["generationConfig"]
    assert generation["responseModalities"] == ["AUDIO"]
    assert generation["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"] == {
        "voiceName": "Zephyr"
    }
    assert setup["systemInstruction"]["parts"] == [{"text": BRIEF.system_instruction()}]
    assert setup["inputAudioTranscription"] == {}
    assert setup["outputAudioTranscription"] == {}
    assert setup["sessionResumption"] == {}
    assert setup["contextWindowCompression"] == {"slidingWindow": {}}


async def test_host_opens_the_interview_with_audio_and_a_whole_transcript() -> None:
    async with FakeGeminiLive(FAST) as fake, interview(fake) as (_, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        opening = fake.client_contents[0]
        assert opening["turnComplete"] is True
        assert "Welcome" in opening["turns"][0]["parts"][0]["text"]
        audio = recorder.audio()
        assert {a.sample_rate for a in audio} == {24_000}
        pcm = b"".join(a.pcm for a in audio)
        assert len(pcm) // 2 == 24_000  # the fake's one-second reply, all of it
        assert rms(pcm) > 1000  # a voice, not silence
        assert rms(silence(0.1)) < 50
        assert recorder.lines("ai") == [FAST.reply_text]
        partials = recorder.lines("ai", final=False)
        assert partials[-1] == FAST.reply_text
        assert all(FAST.reply_text.startswith(p) for p in partials)
        assert recorder.lines("user") == []
        assert isinstance(recorder.events[-1], TurnComplete)


async def test_guest_speech_gets_a_final_line_and_a_reply_and_no_sample_is_lost() -> None:
    async with FakeGeminiLive(FAST) as fake:
        async with interview(fake) as (bridge, recorder):
            await recorder.until(lambda: recorder.count(TurnComplete) == 1)
            opening_events = len(recorder.events)
            sent = await speak(bridge)
            await recorder.until(lambda: recorder.count(TurnComplete) == 2)
            turn = recorder.events[opening_events:]
            assert recorder.lines("user") == [FAST.heard_text]
            assert recorder.lines("ai") == [FAST.reply_text, FAST.reply_text]
            guest_final = turn.index(Transcript("user", FAST.heard_text, final=True))
            first_audio = next(i for i, e in enumerate(turn) if isinstance(e, HostAudio))
            assert guest_final < first_audio  # the guest's line ends when the host answers
            assert all(FAST.heard_text.startswith(p) for p in recorder.lines("user", final=False))
        connection = fake.connections[0]
        assert sent % (16_000 * gemini.AUDIO_BATCH_MS // 1000) != 0  # a tail was left over...
        assert connection.samples_received == sent  # ...and still arrived
        assert connection.audio_mime_types == {"audio/pcm;rate=16000"}
        assert all(640 <= n <= 1600 for n in connection.audio_messages[:-1])  # 40-100 ms


async def test_inject_now_reaches_the_host_at_once() -> None:
    note = "Ask her about her first job at the harbour."
    async with FakeGeminiLive(FAST) as fake, interview(fake) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await bridge.inject(note, now=True)
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        content = fake.client_contents[-1]
        assert content["turnComplete"] is True
        assert content["turns"] == [{"role": "user", "parts": [{"text": f"[Director] {note}"}]}]
        assert note in recorder.lines("ai")[-1]


async def test_inject_later_waits_for_the_hosts_next_turn() -> None:
    note = "Ask about the boats."
    async with FakeGeminiLive(FAST) as fake, interview(fake) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await bridge.inject(note, now=False)
        await fake.wait_for(lambda: len(fake.client_contents) == 2)
        assert fake.client_contents[-1]["turnComplete"] is False
        assert fake.connections[0].replies == [FAST.reply_text]  # no turn started
        await speak(bridge)
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        assert recorder.lines("ai")[-1] == f"{FAST.reply_text} {note}"


async def test_topics_wait_for_the_next_turn_and_wrap_up_is_answered_at_once() -> None:
    async with FakeGeminiLive(FAST) as fake, interview(fake) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await bridge.set_topics(["the war years", "her garden"])
        await fake.wait_for(lambda: len(fake.client_contents) == 2)
        topics = fake.client_contents[-1]
        assert topics["turnComplete"] is False
        assert "the war years; her garden" in topics["turns"][0]["parts"][0]["text"]
        await bridge.wrap_up()
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        assert fake.client_contents[-1]["turnComplete"] is True
        assert gemini.WRAP_UP in recorder.lines("ai")[-1]


async def test_guest_speech_during_a_host_turn_interrupts_it() -> None:
    config = FakeGeminiConfig(reply_seconds=3.0, pace=1.0)
    async with FakeGeminiLive(config) as fake, interview(fake) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(HostAudio) >= 3)
        for chunk in chunks(voiced(0.3)):
            await bridge.send_audio(chunk)
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        interrupted = next(i for i, e in enumerate(recorder.events) if isinstance(e, Interrupted))
        assert fake.connections[0].interruptions == 1
        assert len(recorder.audio()) < 3000 // config.chunk_ms  # the reply was cut short
        (said,) = recorder.lines("ai")
        assert config.reply_text.startswith(said) and said != config.reply_text
        assert recorder.events[interrupted + 1] == Transcript("ai", said, final=True)


async def test_the_newest_resumption_handle_is_kept() -> None:
    async with FakeGeminiLive(FAST) as fake, interview(fake, NO_RECONNECT) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await speak(bridge)
        # The update follows turnComplete: any later message proves the bridge read it.
        await recorder.until(lambda: bool(recorder.lines("user", final=False)))
        assert bridge.resumption_handle == "fake-handle-1"
        await fake.wait_for(lambda: len(fake.handles_issued) == 2)
        await fake.close_all(1000, "Done.")
        async with asyncio.timeout(WAIT):
            await recorder.task
        assert bridge.resumption_handle == "fake-handle-2"


async def test_without_reconnection_a_server_close_ends_events_with_a_status() -> None:
    async with FakeGeminiLive(FAST) as fake, interview(fake, NO_RECONNECT) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        await fake.close_all(1011, "Internal error encountered.")
        async with asyncio.timeout(WAIT):
            await recorder.task  # events() ended without close()
        status = recorder.events[-1]
        assert isinstance(status, HostStatus)
        assert status.state == "disconnected"
        assert "1011" in status.detail and "Internal error" in status.detail
        await bridge.send_audio(voiced(0.02))  # dropped quietly: the status said it all
        await bridge.inject("Anything", now=True)


async def test_a_failure_mid_turn_keeps_what_was_said_and_the_host_carries_on() -> None:
    async with FakeGeminiLive(FAST) as fake, interview(fake) as (bridge, recorder):
        await recorder.until(lambda: recorder.count(TurnComplete) == 1)
        fake.fail_next_turn(1011)
        await bridge.inject("Ask about school.", now=True)
        await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        said = recorder.lines("ai")[1]
        assert FAST.reply_text.startswith(said) and said != FAST.reply_text
        lost = recorder.events.index(Transcript("ai", said, final=True))
        assert recorder.events[lost + 1 :].count(HostStatus("resumed")) == 1
        assert recorder.events[lost + 1] == HostStatus(
            "reconnecting", "1011 Internal error encountered."
        )
        assert [c.setup["sessionResumption"] for c in fake.connections] == [
            {},
            {"handle": "fake-handle-1"},
        ]
        # The resumed session's state predates the note and the cut turn: it is told both.
        (catch_up,) = fake.connections[1].client_contents
        text = catch_up["turns"][0]["parts"][0]["text"]
        assert text.startswith("[Connection]")
        assert f"You (cut off): {said}" in text and "Director note: Ask about school." in text
        assert catch_up["turnComplete"] is True
        assert recorder.lines("ai")[2] == FAST.reply_text  # and carries on


async def test_a_slow_reader_loses_stale_partials_and_the_oldest_audio_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gemini, "EVENT_QUEUE_SIZE", 8)
    async with FakeGeminiLive(FAST) as fake:
        bridge = bridge_for(fake, tuning=NO_RECONNECT)
        await bridge.start()
        await fake.wait_for(lambda: fake.connections[0].turns_completed == 1)
        await fake.close_all(1000, "Done.")  # the reader reads it all, then ends the events
        events = [event async for event in bridge.events()]
        await bridge.close()
    assert len(events) == 8 - 1  # the queue was full; the end marker took the last place
    assert events[-3:] == [
        Transcript("ai", FAST.reply_text, final=True),
        TurnComplete(),
        HostStatus("disconnected", "1000 Done."),
    ]
    reply = voiced(1.0, rate=24_000, pitch=140.0)
    newest = [reply[i : i + 1920] for i in range(0, len(reply), 1920)][-4:]
    assert [e.pcm for e in events[:-3] if isinstance(e, HostAudio)] == newest


async def test_close_leaves_no_task_behind() -> None:
    async with FakeGeminiLive(FAST) as fake:
        before = asyncio.all_tasks()
        async with interview(fake) as (bridge, recorder):
            await recorder.until(lambda: recorder.count(TurnComplete) == 1)
            await speak(bridge)
            await recorder.until(lambda: recorder.count(TurnComplete) == 2)
        left = asyncio.all_tasks() - before - fake.server_tasks()
        assert left == set()
        assert recorder.count(HostStatus) == 0  # closing is not a disconnection


async def test_the_fake_refuses_media_chunks_like_the_service() -> None:
    async with FakeGeminiLive(FAST) as fake:
        client = genai.Client(
            api_key=API_KEY,
            http_options=types.HttpOptions(
                base_url=fake.base_url, async_client_args={"ssl": fake.client_ssl_context()}
            ),
        )
        async with client.aio.live.connect(model=DEFAULT_MODEL) as session:
            blob = types.Blob(data=voiced(0.04), mime_type="audio/pcm;rate=16000")
            await session.send_realtime_input(media=blob)
            with pytest.raises(errors.APIError) as refused:
                async for _ in session.receive():
                    pass
        with pytest.raises(errors.APIError) as unknown_handle:
            config = types.LiveConnectConfig(
                session_resumption=types.SessionResumptionConfig(handle="never-issued")
            )
            async with client.aio.live.connect(model=DEFAULT_MODEL, config=config):
                pass
        await client.aio.aclose()
        client.close()
    assert refused.value.code == 1007
    assert "media_chunks is deprecated" in str(refused.value.details)
    assert unknown_handle.value.code == 1007
    assert [c.close_code for c in fake.connections] == [1007, 1007]


async def test_the_fake_ends_a_guest_turn_at_audio_stream_end() -> None:
    async with FakeGeminiLive(FAST) as fake:
        client = genai.Client(
            api_key=API_KEY,
            http_options=types.HttpOptions(
                base_url=fake.base_url, async_client_args={"ssl": fake.client_ssl_context()}
            ),
        )
        config = types.LiveConnectConfig(input_audio_transcription=types.AudioTranscriptionConfig())
        async with client.aio.live.connect(model=DEFAULT_MODEL, config=config) as session:
            blob = types.Blob(data=voiced(0.5), mime_type="audio/pcm;rate=16000")
            await session.send_realtime_input(audio=blob)
            await session.send_realtime_input(audio_stream_end=True)
            heard = [
                m.server_content.input_transcription.text
                async for m in session.receive()
                if m.server_content and m.server_content.input_transcription
            ]
        await client.aio.aclose()
        client.close()
    assert "".join(h or "" for h in heard) == FAST.heard_text
    assert fake.connections[0].audio_stream_ends == 1
    assert fake.connections[0].samples_received == 8000
