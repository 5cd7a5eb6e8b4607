"""Offers and candidates aiortc would fail on later, refused before it sees them.

Each case below is one the fuzz test of the interview socket found: before the checks, the
offer raised out of `GuestPeer.answer` (the socket dropped with 1011) or left a failed task
and a fatal UDP write error in the log.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiortc import AudioStreamTrack, RTCIceCandidate, RTCPeerConnection

from rtc.peers.guest import GuestPeer, PeerError
from rtc.peers.sdp_checks import candidate_problem, offer_problem
from tests.hostile import logged_errors

Lines = list[str]


async def browser_offer() -> str:
    """An offer of audio and video, with its candidates, as a browser sends one."""
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def changed(sdp: str, change: Callable[[Lines], Lines]) -> str:
    return "\r\n".join(change(sdp.splitlines())) + "\r\n"


def before_first(prefix: str, line: str) -> Callable[[Lines], Lines]:
    def insert(lines: Lines) -> Lines:
        at = next(n for n, existing in enumerate(lines) if existing.startswith(prefix))
        return [*lines[:at], line, *lines[at:]]

    return insert


def without(line: str) -> Callable[[Lines], Lines]:
    def drop(lines: Lines) -> Lines:
        at = lines.index(line)
        return [*lines[:at], *lines[at + 1 :]]

    return drop


BROKEN = {
    "a payload type the m= line lacks": (
        before_first("a=rtpmap:", "a=fmtp:120 minptime=10"),
        "payload type its m= line does not list",
    ),
    "a BUNDLE on a mid no section has": (without("a=mid:0"), "bundles its media on mid '0'"),
    "an audio section without a direction": (without("a=sendrecv"), "has no direction"),
    "a candidate on port 99999": (
        before_first("a=candidate:", "a=candidate:1 1 udp 2130706431 127.0.0.1 99999 typ host"),
        "port 99999",
    ),
}


async def test_a_browsers_offer_passes() -> None:
    assert offer_problem(await browser_offer()) is None


@pytest.mark.parametrize("case", list(BROKEN))
async def test_offers_aiortc_would_fail_on_are_refused_with_what_to_fix(case: str) -> None:
    change, message = BROKEN[case]
    sdp = changed(await browser_offer(), change)
    assert message in (offer_problem(sdp) or "")
    peer = GuestPeer(AudioStreamTrack(), [], on_encoded=lambda *_: None)
    try:
        with logged_errors() as errors, pytest.raises(PeerError, match=message):
            await peer.answer(sdp)
    finally:
        await peer.close()
    assert not errors.records, errors


@pytest.mark.parametrize(("port", "usable"), [(0, False), (-1, False), (65536, False), (9, True)])
def test_a_candidate_needs_a_port_from_1_to_65535(port: int, usable: bool) -> None:
    candidate = RTCIceCandidate(1, "f", "127.0.0.1", port, 1, "udp", "host")
    assert (candidate_problem(candidate) is None) is usable


async def test_a_trickled_candidate_on_a_port_past_65535_is_refused() -> None:
    peer = GuestPeer(AudioStreamTrack(), [], on_encoded=lambda *_: None)
    try:
        await peer.answer(await browser_offer())
        with pytest.raises(PeerError, match="port 70000"):
            await peer.add_candidate("candidate:1 1 udp 1 127.0.0.1 70000 typ host", "0", 0)
        await peer.add_candidate("candidate:1 1 udp 1 127.0.0.1 9 typ host", "0", 0)
    finally:
        await peer.close()
