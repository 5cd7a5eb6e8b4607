"""PocketSphinx in a process of its own, so that decoding a guest's answer never stalls the
server's event loop.

PocketSphinx's Python binding holds the GIL for the whole of a `process_raw` call (measured:
a 4.3 s answer takes 2.2 s to decode, during which no other thread of the process runs), so a
thread cannot keep it off the loop; a process can. `PocketSphinxTranscriber` runs this module
(`python -m rtc.bridge.offline.recognizer`) and speaks this wire format over its stdin and
stdout, one request at a time:

- request: `REQUEST` (sample rate, byte count), then that many bytes of mono s16le;
- reply: `REPLY` (status, byte count), then UTF-8: the words (`OK`) or what went wrong
  (`FAILED`; the process carries on).

The process loads the model once, decodes at a lower priority than the server's (the guests'
live audio must win the CPU over a transcript line), and exits at the end of its stdin: when
the server closes it, or dies.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
from typing import Any

import av
import numpy as np
import pocketsphinx  # type: ignore[import-untyped]
from av.audio.resampler import AudioResampler

SPHINX_SAMPLE_RATE = 16_000
REQUEST = struct.Struct("<II")
REPLY = struct.Struct("<BI")
OK = 0
FAILED = 1
NICENESS = 10  # CFS then gives the server's threads ~90 % of a core both want


def to_16k(pcm: bytes, sample_rate: int) -> bytes:
    """Mono s16le at `sample_rate` → 16 kHz mono s16le (band-limited, via libswresample)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    if sample_rate == SPHINX_SAMPLE_RATE or samples.size == 0:
        return samples.tobytes()
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = sample_rate
    resampler = AudioResampler(format="s16", layout="mono", rate=SPHINX_SAMPLE_RATE)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return b"".join(bytes(out.planes[0])[: out.samples * 2] for out in frames)


def decode(decoder: Any, pcm: bytes, sample_rate: int) -> str:
    """The words of one utterance, lower-case and space-separated ("" for silence or noise).

    The decoder is reused: its live cepstral mean adapts to the guests' channel over the turns.
    """
    audio = to_16k(pcm, sample_rate)
    if not audio:
        return ""
    decoder.start_utt()
    decoder.process_raw(audio)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return "" if hypothesis is None else " ".join(hypothesis.hypstr.split())


def main() -> None:
    """Serve requests from stdin until it ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the server's to handle
    os.nice(NICENESS)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt a reply
    requests = sys.stdin.buffer
    # The second, "flat" search pass is off: it costs 0.1-0.3 s of CPU per answer for little.
    decoder = pocketsphinx.Decoder(loglevel="FATAL", fwdflat=False)
    while len(header := requests.read(REQUEST.size)) == REQUEST.size:
        sample_rate, size = REQUEST.unpack(header)
        pcm = requests.read(size)
        if len(pcm) < size:
            break
        try:
            status, text = OK, decode(decoder, pcm, sample_rate)
        except Exception as error:  # told to the server, which raises it for this utterance
            status, text = FAILED, f"{type(error).__name__}: {error}"
        payload = text.encode()
        replies.write(REPLY.pack(status, len(payload)) + payload)
        replies.flush()


if __name__ == "__main__":
    main()
