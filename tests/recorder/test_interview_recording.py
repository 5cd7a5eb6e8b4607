"""An interview leaves its tracks on disk, in sync; a killed server's tracks are repaired.

The first test runs the engine in-process; the second runs `monumento serve` as a child
process, kills it with SIGKILL mid-interview, starts it again and checks what survived.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest

from monumento.app import create_app
from recorder.manifest import read_manifest, session_media_dir
from tests.conftest import make_settings, until
from tests.live_server import LiveServer, free_port, serve, spawn_server, wait_ready
from tests.media.speech import speech_pcm
from tests.recorder.analysis import click_times_ms, decode_audio, white_frame_times_ms
from tests.rtc.guest_client import GuestClient
from tests.signaling.test_interview_socket import (
    ANSWER,
    TURN_S,
    finished_session,
    new_session,
    socket_url,
)


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    settings = make_settings(tmp_path, database_url, rtc_host_addresses="127.0.0.1")
    async with serve(create_app(settings)) as live:
        yield live


def audio_envelope(path: Path) -> tuple[np.ndarray, float]:
    """Per-10 ms RMS (full scale) of an audio file, and its duration in seconds."""
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.append(frame.to_ndarray().reshape(-1, frame.samples).astype(np.float64).mean(0))
    pcm = np.concatenate(chunks)
    if pcm.dtype != np.float64 or np.abs(pcm).max() > 2:
        pcm = pcm / 32768
    windows = pcm[: pcm.size // 480 * 480].reshape(-1, 480)
    return np.sqrt((windows**2).mean(axis=1)), pcm.size / 48_000


def first_loud_ms(envelope: np.ndarray, after_ms: int = 0, threshold: float = 0.01) -> int:
    start = after_ms // 10
    loud = np.flatnonzero(envelope[start:] > threshold)
    assert loud.size, "no sound found"
    return int((start + loud[0]) * 10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_interview_leaves_three_tracks_in_sync(server: LiveServer, tmp_path: Path) -> None:
    token, headers, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token), camera=True)
    try:
        await guest.join()
        opening = await guest.wait_for(lambda e: e["type"] == "transcript" and e["role"] == "ai")
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "listening")
        asked_at = len(guest.events)
        guest.microphone.say(speech_pcm(ANSWER, 48_000))
        heard = await guest.wait_for(
            lambda e: e["type"] == "transcript" and e["role"] == "user",
            within_s=TURN_S,
            after=asked_at,
        )
        await guest.send({"type": "end"})
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
    finally:
        await guest.close()

    session = await finished_session(server, headers, session_id)
    assert session["status"] == "ready"
    folder = session_media_dir(tmp_path / "data", session_id)
    manifest = read_manifest(folder)
    assert manifest is not None and manifest.state == "finalised"
    tracks = {entry.name: entry for entry in manifest.tracks}
    assert set(tracks) == {"guest-audio", "guest-video", "host-audio"}
    assert all(entry.state == "complete" and entry.duration_ms for entry in tracks.values())
    with av.open(str(folder / manifest.outputs["video"])) as finished:
        kinds = sorted(stream.type for stream in finished.streams)
        assert kinds == ["audio", "video"]
        assert finished.streams.video[0].codec_context.name == "h264"

    # The guest's words sit in their track where the transcript says they began.
    guest_audio = tracks["guest-audio"]
    envelope, seconds = audio_envelope(folder / guest_audio.file)
    assert abs(seconds * 1000 - guest_audio.duration_ms) < 100
    spoken_ms = guest_audio.start_offset_ms + first_loud_ms(envelope)
    assert heard["relativeOffset"] - 50 <= spoken_ms <= heard["relativeOffset"] + 400

    # The host's voice sits in its track where the host started speaking.
    host = tracks["host-audio"]
    envelope, _ = audio_envelope(folder / host.file)
    voiced_ms = host.start_offset_ms + first_loud_ms(envelope)
    assert abs(voiced_ms - opening["relativeOffset"]) <= 60

    with av.open(str(folder / tracks["guest-video"].file)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 30  # aiortc's test camera sends 30 fps


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_finished_video_and_mixed_audio_are_in_sync_within_one_frame(
    server: LiveServer, tmp_path: Path
) -> None:
    """The guest claps on camera (a white frame, a click) three times; the finished MP4
    shows each white frame within one frame of its click."""
    token, headers, session_id = await new_session(server)
    guest = GuestClient(socket_url(server, session_id, token), camera=True)
    try:
        await guest.join()
        await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "listening")
        camera = guest.camera_track
        assert camera is not None

        async def a_second_of_video() -> None:  # 30 frames, by the camera's own clock
            sent = camera.frames
            await camera.until(lambda: camera.frames >= sent + 30)

        for clapped in range(1, 4):
            await a_second_of_video()  # claps at least a second apart
            camera.clap()
            # Only a frame sent on time claps: a busy machine may take many frames to send one.
            await camera.until(lambda clapped=clapped: camera.claps == clapped)
        await a_second_of_video()  # the last clap's second, before the interview ends
        await guest.send({"type": "end"})
        await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
    finally:
        await guest.close()

    assert (await finished_session(server, headers, session_id))["status"] == "ready"
    folder = session_media_dir(tmp_path / "data", session_id)
    manifest = read_manifest(folder)
    assert manifest is not None
    video = folder / manifest.outputs["video"]
    flashes, frames = white_frame_times_ms(video)
    frame_ms = float(np.median(np.diff(frames)))
    assert len(flashes) == 3 and frame_ms <= 1000 / 24
    # Only the claps' stretch: the host is listening there, the guest silent but for clicks.
    audio = decode_audio(video)
    start = round(flashes[0] - 500) * 48
    clicks = [start / 48 + t for t in click_times_ms(audio[start : round(flashes[-1] + 500) * 48])]
    assert len(clicks) == 3, clicks
    offsets = [round(float(click - flash), 1) for flash, click in zip(flashes, clicks, strict=True)]
    print(f"\nclick - white frame in the finished MP4, ms: {offsets}")
    assert all(abs(offset) <= frame_ms for offset in offsets), (flashes, clicks, frame_ms)


def size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def flushed(track: Path, times: int) -> None:
    """Until the recorder has written `track` `times` more times (it grows at every flush)."""
    sizes = [size_of(track)]

    def grown() -> bool:
        size = size_of(track)
        if size > sizes[-1]:
            sizes.append(size)
        return len(sizes) > times

    await until(grown)


async def test_a_killed_server_loses_no_more_than_its_last_flush(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(
        DATA_DIR=str(data),
        PASSWORD_HASH_MEMORY_KIB="1024",
        RTC_HOST_ADDRESSES="127.0.0.1",
        LOG_JSON="false",
    )
    port = free_port()
    live = LiveServer(None, port)
    process = spawn_server(env, port)
    try:
        await wait_ready(live.http)
        token, headers, session_id = await new_session(live)
        guest = GuestClient(socket_url(live, session_id, token), camera=True)
        try:
            await guest.join()
            await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "speaking")
            guest.microphone.say(speech_pcm("One two three four five six seven.", 48_000))
            camera = guest.camera_track
            assert camera is not None
            sent = camera.frames  # 4 s of the interview, by the guest camera's own clock
            await camera.until(lambda: camera.frames >= sent + 120)
            reported = [e for e in guest.events if e["type"] == "state"][-1]
            # A flush writes everything placed before it. Once the file has grown three times
            # since that state arrived, a whole flush began after the server sent it (however
            # long a busy machine takes): what the server had by then is on disk.
            await flushed(session_media_dir(data, session_id) / "guest-audio.ogg", 3)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            await guest.close()
    finally:
        if process.poll() is None:
            process.kill()
    folder = session_media_dir(data, session_id)
    assert read_manifest(folder).state == "recording"  # type: ignore[union-attr]

    process = spawn_server(env, port)
    try:
        await wait_ready(live.http)
        session = await finished_session(live, headers, session_id)
        assert session["status"] == "ready"
        manifest = read_manifest(folder)
        assert manifest is not None and manifest.state == "finalised"
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert manifest.outputs["video"] == "final/interview.mp4"
    for entry in manifest.tracks:
        assert entry.state == "repaired"
        end_ms = entry.start_offset_ms + (entry.duration_ms or 0)
        # Less a second: media that reached the recorder late (jitter buffers hold it).
        assert end_ms >= reported["elapsedMs"] - 1000, (entry.name, end_ms, reported)
        if entry.kind == "audio":
            _, seconds = audio_envelope(folder / entry.file)
            assert abs(seconds * 1000 - (entry.duration_ms or 0)) < 100
        else:
            with av.open(str(folder / entry.file)) as container:
                assert sum(1 for _ in container.decode(video=0)) > 0
