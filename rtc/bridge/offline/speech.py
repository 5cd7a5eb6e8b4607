"""Offline speech synthesis with eSpeak NG, driven through ctypes, for the offline AI host.

The shared library and its data come from the `espeakng-loader` wheel. eSpeak NG keeps global
state and is not thread-safe, so the process initialises it once, in AUDIO_OUTPUT_SYNCHRONOUS
mode (`espeak_Synth` hands every buffer of samples to our callback on the calling thread and
returns when the text is spoken), and every synthesis holds one process-wide lock. A worker
thread is enough to keep synthesis off the event loop: ctypes releases the GIL for the whole
`espeak_Synth` call and takes it back only to copy each 60 ms buffer in our callback.
"""

from __future__ import annotations

import asyncio
import ctypes
import fractions
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import espeakng_loader  # type: ignore[import-untyped]
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler

DEFAULT_VOICE = "en-us"
DEFAULT_RATE_WPM = 175  # espeakRATE_NORMAL
MIN_RATE_WPM = 80  # espeakRATE_MINIMUM
MAX_RATE_WPM = 450  # espeakRATE_MAXIMUM

# Values from eSpeak NG's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report a missing espeak-ng-data instead of exit(1)
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
_EE_OK = 0
_EE_NOT_FOUND = 2

# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); events are not read.
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class SpeechError(RuntimeError):
    """eSpeak NG could not be loaded or failed to synthesise; the message says which and why."""


@dataclass(frozen=True, slots=True)
class SynthesizedSpeech:
    """Synthesised speech as mono s16le PCM at `sample_rate`, ready for a `HostAudio`."""

    pcm: bytes
    sample_rate: int

    @property
    def duration_s(self) -> float:
        """How long the speech lasts, in seconds."""
        return len(self.pcm) / 2 / self.sample_rate


class _Engine:
    """The process's one initialised eSpeak NG; use it only while holding `_LOCK`."""

    def __init__(self) -> None:
        library_path: str = espeakng_loader.get_library_path()
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as exc:
            raise SpeechError(f"cannot load the eSpeak NG library {library_path}: {exc}") from exc
        try:
            data_path: str = espeakng_loader.get_data_path()
        except RuntimeError as exc:
            raise SpeechError(f"eSpeak NG's data is missing: {exc}") from exc

        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,  # const void *text
            ctypes.c_size_t,  # size
            ctypes.c_uint,  # position
            ctypes.c_int,  # espeak_POSITION_TYPE position_type
            ctypes.c_uint,  # end_position
            ctypes.c_uint,  # flags
            ctypes.c_void_p,  # unsigned int *unique_identifier
            ctypes.c_void_p,  # void *user_data
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int

        # Buffer length 0 = the library's default (60 ms); returns the sample rate, or <= 0.
        rate = int(
            lib.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
            )
        )
        if rate <= 0:
            raise SpeechError(
                f"eSpeak NG failed to initialise with its data at {data_path} "
                f"(espeak_Initialize returned {rate})"
            )
        self.sample_rate = rate
        self._lib = lib
        self._chunks: list[bytes] = []
        self._callback = _SynthCallback(self._collect)  # referenced while the library may call it
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(
        self, wav: ctypes._Pointer[ctypes.c_short], numsamples: int, _events: int | None
    ) -> int:
        """Keep one buffer of samples; returning 0 tells the library to continue."""
        if wav and numsamples > 0:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def synthesize(self, text: str, voice: str, rate_wpm: int) -> bytes:
        """The PCM of `text` spoken by `voice` at `rate_wpm`."""
        status = int(self._lib.espeak_SetVoiceByName(voice.encode()))
        if status == _EE_NOT_FOUND:
            raise ValueError(f"eSpeak NG has no voice {voice!r}")
        _check(status, f"espeak_SetVoiceByName({voice!r})")
        _check(self._lib.espeak_SetParameter(_ESPEAK_RATE, rate_wpm, 0), "espeak_SetParameter")
        encoded = text.encode()
        try:
            _check(
                self._lib.espeak_Synth(
                    encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                ),
                "espeak_Synth",
            )
            # Returns (and clears) the error the synthesis recorded, if any.
            _check(self._lib.espeak_Synchronize(), "espeak_Synchronize")
            return b"".join(self._chunks)
        finally:
            self._chunks.clear()


def _check(status: int, call: str) -> None:
    """Raise if an eSpeak NG call did not return EE_OK."""
    if status != _EE_OK:
        raise SpeechError(f"eSpeak NG's {call} failed with status {status}")


_LOCK = threading.Lock()
_engine: _Engine | None = None


def _locked_engine() -> _Engine:
    """The process's engine, initialised on first use; call it with `_LOCK` held."""
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


class SpeechSynthesizer:
    """Text to real speech, offline, without blocking the event loop that asks for it."""

    def __init__(self) -> None:
        with _LOCK:
            self._sample_rate = _locked_engine().sample_rate
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")

    @property
    def sample_rate(self) -> int:
        """The library's native rate (22050 Hz for eSpeak NG's voices)."""
        return self._sample_rate

    def synthesize(
        self, text: str, *, voice: str = DEFAULT_VOICE, rate_wpm: int = DEFAULT_RATE_WPM
    ) -> SynthesizedSpeech:
        """Speech for `text` (UTF-8), made on the calling thread, for code outside the loop."""
        if not MIN_RATE_WPM <= rate_wpm <= MAX_RATE_WPM:
            raise ValueError(
                f"rate_wpm must be {MIN_RATE_WPM}..{MAX_RATE_WPM} words per minute, not {rate_wpm}"
            )
        with _LOCK:
            pcm = _locked_engine().synthesize(text, voice, rate_wpm)
        return SynthesizedSpeech(pcm=pcm, sample_rate=self._sample_rate)

    async def speak(
        self, text: str, *, voice: str = DEFAULT_VOICE, rate_wpm: int = DEFAULT_RATE_WPM
    ) -> SynthesizedSpeech:
        """Like `synthesize`, but on this synthesizer's worker thread so the loop keeps running."""
        job = functools.partial(self.synthesize, text, voice=voice, rate_wpm=rate_wpm)
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    def close(self) -> None:
        """Stop the worker thread: queued requests are cancelled, one under way finishes."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def resample_pcm(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Mono s16le PCM at `from_rate` converted, in one piece, to `to_rate`."""
    if from_rate == to_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype=np.int16).reshape(1, -1)
    frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = from_rate
    frame.pts = 0
    frame.time_base = fractions.Fraction(1, from_rate)
    resampler = AudioResampler(format="s16", layout="mono", rate=to_rate)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return b"".join(bytes(out.planes[0])[: out.samples * 2] for out in frames)
