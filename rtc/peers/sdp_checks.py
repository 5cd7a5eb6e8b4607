"""A guest's offer and trickled candidates, checked before aiortc applies them (no I/O).

aiortc trusts what it parses. Offers the fuzz test (tests/signaling/test_fuzz_socket.py)
found that it cannot take, each failing where nobody catches it:

- an attribute naming a payload type the m= line lacks (`a=fmtp:120 ...`): its parser raises
  `StopIteration`, which inside the coroutine becomes a `RuntimeError`;
- a BUNDLE group whose first mid no audio, video or data section has: bundled sections get no
  transport, and both the answer and a connection task nobody awaits fail (`AttributeError`);
- an audio or video section with no direction (`a=sendrecv` left out): creating the answer
  raises `ValueError`;
- a candidate (in the offer or trickled) whose port is outside 1-65535: aioice sends its
  checks there, asyncio's `sendto` raises `OverflowError`, logs a fatal write error and closes
  the peer's UDP socket.

Checked here, each is refused at once with a message that says what to fix.
"""

from __future__ import annotations

from aiortc import RTCIceCandidate
from aiortc.sdp import SessionDescription

MEDIA_KINDS = frozenset({"audio", "video", "application"})


def offer_problem(sdp: str) -> str | None:
    """What in the offer aiortc would fail on later, or None if nothing is."""
    try:
        description = SessionDescription.parse(sdp)
    except StopIteration:
        return (
            "The SDP offer names a payload type its m= line does not list (in a=rtpmap, "
            "a=fmtp or a=rtcp-fb): list every payload type on the m= line"
        )
    except Exception as error:  # a third-party parser fed untrusted text: any failure is ours
        return f"The SDP offer could not be parsed: {str(error)[:80] or type(error).__name__}"
    mids = {media.rtp.muxId for media in description.media if media.kind in MEDIA_KINDS}
    for group in description.group:
        if group.semantic == "BUNDLE" and group.items and group.items[0] not in mids:
            return (
                f"The offer bundles its media on mid {str(group.items[0])[:40]!r}, which no "
                "media section has: give each m= section its a=mid and list those in BUNDLE"
            )
    for number, media in enumerate(description.media, start=1):
        if media.kind in ("audio", "video") and media.direction is None:
            return (
                f"Media section {number} ({media.kind}) has no direction: "
                "send a=sendrecv, a=sendonly, a=recvonly or a=inactive"
            )
        for candidate in media.ice_candidates:
            if (problem := candidate_problem(candidate)) is not None:
                return problem
    return None


def candidate_problem(candidate: RTCIceCandidate) -> str | None:
    """What in an ICE candidate aiortc would fail on later, or None if nothing is."""
    if not 0 < candidate.port < 1 << 16:
        return f"The ICE candidate's port {candidate.port} is not a UDP or TCP port (1-65535)"
    return None
