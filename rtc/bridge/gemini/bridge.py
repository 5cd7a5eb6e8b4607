"""Gemini Live as the interview host: google-genai's live API behind `HostBridge`.

A Live connection lasts about ten minutes (a `goAway` comes shortly before it closes) and
may fail sooner; an interview lasts an hour. So this is a thin asyncio shell around
sans-I/O parts: `connection` decides when to rotate, reconnect, restart or give up;
`uplink` holds the guest's audio, `outbox` writes to the connection,
`history` remembers the interview, `events` makes the events and
`metrics` counts (`bridge.stats`). The shell owns the client, the connections and
their readers, one connect task, the goAway deadline timer and the tasks closing old
connections; `close` cancels or awaits them all.

- Resumption is on from the first setup (the newest resumable handle is kept), and so is
  context window compression (a sliding window; thresholds in `GeminiTuning`).
- goAway: at the next resumable point (a handle after an answered turn, nothing sent
  since), or at the deadline (`rotation_margin_s` before the close, or half the time left),
  the bridge stops sending, opens the next connection with the newest handle and switches
  to it; the opening is not sent again. No status: a rotation is invisible. The Gemini API
  refuses a second socket of a session (1011): then, and from then on, the old connection
  is closed, and the close awaited, before the next opens (break-before-make).
- A loss without goAway (1011, a network error, a close): `HostStatus("reconnecting",
  reason)`, then reconnection at once and with exponential backoff, resuming the handle:
  `HostStatus("resumed")`. A refused (1007), expired or missing handle gets a fresh session
  seeded with a summary of the interview and nudged to carry on: `HostStatus("restarted")`.
  After `reconnect_attempts` failures: `HostStatus("disconnected", reason)`; events end.
- A session resumed from a handle older than what was said since (a forced switch, a loss)
  is first told what it missed (a `[Connection] …` client turn).
- Guest audio and client turns arriving while no connection takes them are held, bounded,
  and sent in order on the next one; each director note reaches exactly one connection.
  A switch before the host answered the guest's utterance replays it to the new connection
  from its start (`uplink`): neither a resumed session nor a dead TCP connection, which
  acknowledges nothing, can be trusted with it. Other audio written to a dead connection
  between the failure and its detection is lost, unknowably.

Turn-taking is the service's own voice-activity detection: the engine's VAD hints drive
cost control and tell rotations whether the guest is speaking.

Video (`sees_video`, a per-session choice): the engine sends a JPEG still of the guest's
camera at most once a second. It goes at once to the connection audio flows to, or is
dropped: during a switch (only the newest still matters, so none is held) and while cost
control has paused the stream (the model answers nothing then; the next still after the
guest speaks again shows them). The sliding context window keeps such sessions alive past
the service's two minutes for audio with video.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from google import genai
from google.genai import errors, types

from rtc.bridge.base import GUEST_SAMPLE_RATE, HostEvent, HostStatus
from rtc.bridge.brief import HostBrief
from rtc.bridge.gemini.connection import (
    OVERLAP_REFUSED,
    REFUSED,
    Action,
    ArmDeadline,
    Connect,
    ConnectionMachine,
    GiveUp,
    Phase,
    Status,
    Switch,
)
from rtc.bridge.gemini.events import EventQueue, TurnAssembler
from rtc.bridge.gemini.history import ConversationHistory
from rtc.bridge.gemini.metrics import BridgeMetrics, GeminiStats, stats_report
from rtc.bridge.gemini.outbox import ClientTurn, Link, Outbox
from rtc.bridge.gemini.tuning import GeminiTuning
from rtc.bridge.gemini.uplink import AudioUplink

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gemini-3.8-live"
"""Google's default Live model for low-latency voice dialogue (native audio, GA)."""
AUDIO_BATCH_MS = 60
"""Guest audio per realtimeInput message: the engine's 20 ms chunks, three at a time."""
EVENT_QUEUE_SIZE = 512
"""About 20 s of host audio at 40 ms a chunk, plus its transcript events."""

OPENING = "The guest has joined the call. Welcome them and ask your first question."
SEES_GUEST = (
    "You can see your guest: a still from their camera arrives about once a second. Mention "
    "what you see only when it helps the conversation."
)
WRAP_UP = "Time is nearly up: thank the guest warmly and close the interview now."


class GeminiLiveBridge:
    """The AI host of one interview, played by a Gemini Live model across connections."""

    def __init__(
        self,
        brief: HostBrief,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        http_options: types.HttpOptions | None = None,
        tuning: GeminiTuning | None = None,
        sees_video: bool = False,
    ) -> None:
        """A host for `brief`; `base_url` and `http_options` (e.g. an `ssl` context in
        `async_client_args`) reach another endpoint than Google's, such as a test fake.
        With `sees_video` the host is told it sees the guest (`send_video`)."""
        options = http_options or types.HttpOptions()
        if base_url is not None:
            options = options.model_copy(update={"base_url": base_url})
        self._brief = brief
        self._sees_video = sees_video
        self._api_key = api_key
        self._model = model
        self._http_options = options
        self._tuning = tuning = tuning or GeminiTuning()
        self._events = EventQueue(EVENT_QUEUE_SIZE)
        self._history = ConversationHistory(brief, tuning)
        self._turns = TurnAssembler(self._history)
        self._machine = ConnectionMachine(tuning)
        self._uplink = AudioUplink(tuning, rate=GUEST_SAMPLE_RATE, batch_ms=AUDIO_BATCH_MS)
        self._metrics = BridgeMetrics()
        self._link: Link | None = None
        self._outbox = Outbox(
            self._machine,
            self._uplink,
            self._history,
            held_limit=tuning.held_contents,
            active=lambda: self._link,
            on_closed=self._lost,
        )
        self._client: genai.Client | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._retiring: set[asyncio.Task[None]] = set()
        self._deadline: asyncio.Task[None] | None = None
        self._seed: str | None = None
        self._utterance_mark = 0
        """The history's mark when the guest last started speaking."""
        self._started_at: float | None = None
        self._go_away: str | None = None
        self._closed = False

    @property
    def tuning(self) -> GeminiTuning:
        """The knobs this bridge keeps its connections with."""
        return self._tuning

    @property
    def resumption_handle(self) -> str | None:
        """The newest handle the service offered to resume this session with, if any."""
        return self._machine.handle

    @property
    def go_away(self) -> str | None:
        """The time left (e.g. "10s") the service last announced before dropping a connection."""
        return self._go_away

    @property
    def stats(self) -> GeminiStats:
        """Rotations, reconnections and the guest's audio in numbers, as of now."""
        self._metrics.samples(self._uplink)
        return self._metrics.snapshot()

    def report(self) -> dict[str, Any]:
        return {"gemini": stats_report(self.stats)}

    def live_config(self, handle: str | None = None) -> types.LiveConnectConfig:
        """The setup: spoken replies in the vibe's voice, both sides transcribed, resumable
        (from `handle` if given), with a sliding context window for long interviews."""
        voice = types.PrebuiltVoiceConfig(voice_name=self._brief.voice)
        instruction = self._brief.system_instruction()
        if self._sees_video:
            instruction += "\n" + SEES_GUEST
        if self._seed is not None:
            instruction += "\n\n" + self._seed
        return types.LiveConnectConfig(
            response_modalities=[types.Modality.AUDIO],
            speech_config=types.SpeechConfig(
                voice_config=types.VoiceConfig(prebuilt_voice_config=voice)
            ),
            system_instruction=instruction,
            input_audio_transcription=types.AudioTranscriptionConfig(),
            output_audio_transcription=types.AudioTranscriptionConfig(),
            session_resumption=types.SessionResumptionConfig(handle=handle),
            context_window_compression=types.ContextWindowCompressionConfig(
                trigger_tokens=self._tuning.compression_trigger_tokens,
                sliding_window=types.SlidingWindow(
                    target_tokens=self._tuning.compression_target_tokens
                ),
            ),
        )

    async def start(self) -> None:
        """Connect, start reading, and ask the host to open the interview."""
        if self._started_at is not None or self._closed:
            raise RuntimeError("a GeminiLiveBridge starts once")
        self._started_at = time.monotonic()
        # Building a client loads CA certificates from disk: keep that off the event loop.
        self._client = await asyncio.to_thread(
            genai.Client, vertexai=False, api_key=self._api_key, http_options=self._http_options
        )
        (first,) = self._machine.start()
        assert isinstance(first, Connect)
        try:
            link = await self._open(first)
        except BaseException:
            self._machine.close()
            await self._release()
            raise
        logger.info("Gemini Live session %s open (%s)", link.session.session_id, self._model)
        switch = self._apply(self._machine.connected(link.id))
        assert switch is not None
        await self._switch(link, switch)

    async def send_audio(self, pcm: bytes) -> None:
        """Queue the guest's audio; it goes up in `AUDIO_BATCH_MS` messages when it can."""
        self._require_started()
        if self._machine.phase is Phase.CLOSED:
            return  # the bridge gave up, and said so on `events()`
        self._uplink.push(pcm)
        await self._outbox.pump()

    async def send_video(self, jpeg: bytes) -> None:
        """Send a still of the guest now, or drop it (see the module docstring)."""
        if self._started_at is None or self._closed:
            return
        sent = not self._uplink.paused and await self._outbox.show(jpeg)
        self._metrics.video(sent=sent)

    async def guest_started_speaking(self) -> None:
        """Resume a paused stream (pre-roll first); a rotation waits for the answer."""
        continues = self._machine.guest_continues
        if not continues:
            self._utterance_mark = self._history.mark
        self._machine.guest_started()
        self._uplink.guest_started(continues=continues)
        if self._started_at is not None and self._machine.phase is not Phase.CLOSED:
            await self._outbox.pump()

    async def guest_stopped_speaking(self) -> None:
        """Start counting the silence after which cost control pauses the stream."""
        self._machine.guest_stopped()
        self._uplink.guest_stopped()

    async def inject(self, text: str, *, now: bool) -> None:
        """A director's note as a user turn: answered at once if `now` (this also cuts the
        host short if it is speaking), else taken into account on the host's next turn."""
        await self._say(ClientTurn(f"[Director] {text}", now, note=text))

    async def set_topics(self, topics: list[str]) -> None:
        """Tell the host its new list of topics, for its next turns."""
        if topics:
            note = "From now on, cover these topics, in order: " + "; ".join(topics) + "."
        else:
            note = "There is no list of topics any more: follow the conversation."
        await self._say(ClientTurn(f"[Director] {note}", False, topics=topics))

    async def wrap_up(self) -> None:
        """Ask the host to thank the guest and close the interview, at once."""
        await self._say(ClientTurn(f"[Director] {WRAP_UP}", True, note=WRAP_UP))

    async def events(self) -> AsyncIterator[HostEvent]:
        """The host's audio, transcripts, turn events and statuses, until `close` or until
        the bridge gives up on reconnecting."""
        async for event in self._events:
            yield event

    async def close(self) -> None:
        """Stop reading, send the rest of the guest's audio, disconnect; `events` ends.

        Audio held for a connection still being opened is dropped (and counted as such).
        Every step is idempotent, so closing twice, or again after a cancelled close, is safe.
        """
        self._closed = True
        was_sending = self._machine.sending
        self._machine.close()
        for task in self._tasks:
            task.cancel()
        link, self._link = self._link, None
        if link is not None:
            await link.stop_reading()
            if was_sending:
                self._uplink.flush()
                async with self._outbox.lock:
                    await self._outbox.drain(link)
            self._retire(link)
        while pending := self._tasks | self._retiring:  # a cancelled connect may retire
            await asyncio.wait(pending)
        self._uplink.discard()  # held for a connection that will not open now
        await self._release()
        self._events.put_all(self._turns.finish())
        self._metrics.samples(self._uplink)
        self._events.end()

    async def _say(self, turn: ClientTurn) -> None:
        self._require_started()
        await self._outbox.say(turn)

    def _apply(self, actions: list[Action]) -> Switch | None:
        """Carry out the machine's actions; a `Switch` is returned for the caller to await."""
        switch: Switch | None = None
        for action in actions:
            if isinstance(action, Connect):
                self._spawn(self._connect(action), "gemini-live-connect")
            elif isinstance(action, Switch):
                switch = action
            elif isinstance(action, Status):
                self._events.put(HostStatus(action.state, action.detail))
            elif isinstance(action, ArmDeadline):
                if self._deadline is not None:
                    self._deadline.cancel()
                self._deadline = self._spawn(self._expire(action), "gemini-live-deadline")
            elif isinstance(action, GiveUp):
                logger.warning("Gemini Live: giving up: %s", action.reason)
                self._events.put_all(self._turns.finish(cut=True))
                self._events.put(HostStatus("disconnected", action.reason))
                self._events.end()
        return switch

    async def _connect(self, action: Connect) -> None:
        """Open the connection the machine asked for and switch to it, or report why not."""
        await asyncio.sleep(action.delay)
        if not action.overlap:
            await self._close_active()
        if action.handle is None:  # a fresh session: seed it with the interview so far
            elapsed = time.monotonic() - (self._started_at or 0.0)
            self._seed = self._history.summary(elapsed, guest_after=self._replayed_after())
        try:
            link = await self._open(action)
        except errors.APIError as exc:
            if exc.code == OVERLAP_REFUSED and action.overlap:
                logger.info("Gemini Live refused a second socket: rotating break-before-make")
                self._metrics.connect_failed("overlap")
            else:
                refused = exc.code == REFUSED and action.handle is not None
                self._metrics.connect_failed("refused" if refused else "error")
            self._apply(self._machine.connect_failed(action.link, exc.code, _api_reason(exc)))
            return
        except Exception as exc:  # a network error, a timeout, a refused handshake
            self._metrics.connect_failed("error")
            self._apply(self._machine.connect_failed(action.link, None, repr(exc)))
            return
        switch = self._apply(self._machine.connected(link.id))
        try:
            if switch is not None:
                await self._switch(link, switch)
        finally:
            if self._link is not link:  # stale, or cancelled before the switch took it
                self._retire(link)

    async def _open(self, action: Connect) -> Link:
        assert self._client is not None
        config = self.live_config(action.handle)
        async with asyncio.timeout(self._tuning.connect_timeout_s):
            link = await Link.open(self._client, self._model, config, link_id=action.link)
        self._metrics.connected()
        return link

    async def _switch(self, link: Link, switch: Switch) -> None:
        """Make `link` active: retire the old one, then send what was held, in order."""
        async with self._outbox.lock:
            old, self._link = self._link, link
            if old is not None:
                await old.stop_reading()
                self._retire(old)
                self._cut_lines()
            if self._deadline is not None:
                self._deadline.cancel()
            link.reader = asyncio.create_task(self._read(link), name="gemini-live-reader")
            backlog = self._uplink.queued_samples
            replayed = self._uplink.replay() if switch.guest_unanswered else 0
            await self._outbox.flush(link, self._first_turn(switch))
        if switch.held_since is not None:
            done = time.monotonic()
            self._metrics.switched(
                switch.kind,
                forced=switch.forced,
                seconds=done - switch.held_since,
                since_go_away=None if switch.go_away_at is None else done - switch.go_away_at,
                backlog=backlog,
            )
            logger.info(
                "Gemini Live: %s to connection %d (%d samples held, %d replayed)",
                switch.kind,
                link.id,
                backlog,
                replayed,
            )
        self._metrics.samples(self._uplink)

    def _first_turn(self, switch: Switch) -> ClientTurn | None:
        """What a new connection is told first: the opening, a catch-up or a nudge; the
        guest's unanswered utterance, replayed, follows it."""
        complete = not (
            switch.guest_unanswered or switch.guest_active or self._outbox.holds_complete_turn
        )
        if switch.kind == "opened":
            return ClientTurn(OPENING, True)
        if switch.kind == "restarted":
            return ClientTurn(self._history.nudge(), complete)
        if switch.mark is None:
            return None
        missed = self._history.catch_up(switch.mark, guest_after=self._replayed_after())
        return None if missed is None else ClientTurn(missed, complete)

    async def _read(self, link: Link) -> None:
        """Turn `link`'s messages into events until it ends; then report the loss."""
        try:
            while True:  # receive() stops after each turnComplete
                async for message in link.session.receive():
                    self._on_message(link, message)
        except errors.APIError as exc:  # how the SDK reports a close frame
            reason = _api_reason(exc)
        except Exception as exc:
            logger.exception("Gemini Live reader failed")
            reason = repr(exc)
        logger.info("Gemini Live connection %d ended: %s", link.id, reason)
        self._lost(link, reason)

    def _on_message(self, link: Link, message: types.LiveServerMessage) -> None:
        content = message.server_content
        if content is not None:
            # The guest's transcription is not an answer: it comes in no set order with the
            # rest, even while the guest is still speaking.
            if content.model_turn or content.output_transcription:
                self._machine.host_output(link.id)
                if not self._machine.guest_unanswered:
                    self._uplink.answered()
            self._events.put_all(self._turns.feed(content))
            if content.turn_complete:
                self._machine.turn_complete(link.id)
        update = message.session_resumption_update
        if update is not None and update.resumable and update.new_handle:
            mark = self._history.mark
            self._apply(self._machine.handle_update(link.id, update.new_handle, mark))
        if message.go_away is not None:
            self._go_away = message.go_away.time_left or "0s"
            self._apply(self._machine.go_away(link.id, self._go_away))

    def _lost(self, link: Link, reason: str) -> None:
        """`link` ended or refused a write: finish its lines; reconnect if it was active."""
        if link is not self._link or not self._machine.sending:
            return
        if self._machine.phase is Phase.OPEN:
            self._metrics.lost()
        self._cut_lines()
        self._apply(self._machine.lost(link.id, reason))

    def _replayed_after(self) -> int | None:
        """The history mark after which the guest's lines are replayed as audio to the next
        connection (their unanswered utterance, whole), if they are."""
        if self._machine.guest_unanswered and self._uplink.replay_complete:
            return self._utterance_mark
        return None

    def _cut_lines(self) -> None:
        """The connection is going: finish its lines (the guest's, if replayed, is not)."""
        replayed = self._replayed_after() is not None
        self._events.put_all(self._turns.finish(cut=True, replayed=replayed))

    async def _expire(self, action: ArmDeadline) -> None:
        await asyncio.sleep(action.seconds)
        self._apply(self._machine.deadline(action.link))

    async def _close_active(self) -> None:
        """Break before make: close the active connection, and wait, before the next opens
        (the service refuses a resume while an earlier socket of the session is open)."""
        link = self._link
        if link is None:
            return
        await link.stop_reading()
        try:
            async with asyncio.timeout(self._tuning.close_timeout_s):
                await link.close()
        except TimeoutError:
            logger.warning("Gemini Live: connection %d did not close in time", link.id)

    def _retire(self, link: Link) -> None:
        """Close `link` in the background (a close handshake can take a while)."""
        task = asyncio.create_task(link.close(), name="gemini-live-retire")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _require_started(self) -> None:
        if self._started_at is None or self._closed:
            raise RuntimeError("GeminiLiveBridge is not started (or already closed)")

    async def _release(self) -> None:
        """Close the client (its connections are closed by then)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aio.aclose()
            client.close()


def _api_reason(exc: errors.APIError) -> str:
    return f"{exc.code} {exc.details}".strip()
