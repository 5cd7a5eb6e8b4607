"""One guest's WebRTC connection: offer in, answer out, their tracks in, the host's voice out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from rtc.peers.dtls_params import dtls_problem
from rtc.peers.encoded_tap import EncodedFrameSink, keyframe_requester, tap_receiver
from rtc.peers.sdp_checks import candidate_problem, offer_problem

logger = logging.getLogger(__name__)
VP8_CODECS = [
    codec
    for codec in RTCRtpSender.getCapabilities("video").codecs
    if codec.mimeType in ("video/VP8", "video/rtx")
]

CLOSED_STATES = frozenset({"failed", "closed"})


class PeerError(Exception):
    """The guest's offer or candidate cannot be used; the message says what to fix."""


class GuestPeer:
    """Owns one `RTCPeerConnection`; `closed` is set once it fails or is closed."""

    def __init__(
        self,
        outbound: MediaStreamTrack,
        ice_servers: list[RTCIceServer],
        on_encoded: EncodedFrameSink,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        self._outbound = outbound
        self._on_encoded = on_encoded
        self._on_closed = on_closed
        self.audio: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self.video: MediaStreamTrack | None = None
        self._request_keyframe: Callable[[], None] | None = None
        self.closed = asyncio.Event()
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_state)

    @property
    def connection_state(self) -> str:
        """aiortc's connection state (`new`, `connecting`, `connected`, `failed`, `closed`)."""
        return str(self._pc.connectionState)

    async def answer(self, offer_sdp: str) -> str:
        """Accept the guest's offer (audio required, video optional) and return the answer."""
        if self._pc.remoteDescription is not None:
            raise PeerError(
                "An offer was already accepted on this connection: rejoin to renegotiate"
            )
        problem = dtls_problem(offer_sdp) or offer_problem(offer_sdp)
        if problem is not None:
            raise PeerError(problem)
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except (
            ValueError,
            AssertionError,
            IndexError,
            KeyError,
            OperationError,  # no codec in common ("Failed to set remote audio description …")
            InvalidStateError,
        ) as error:
            raise PeerError(f"The SDP offer could not be parsed: {error or 'malformed'}") from error
        transceivers = self._pc.getTransceivers()
        if "audio" not in [t.kind for t in transceivers]:
            raise PeerError("Microphone track missing: the offer must include audio")
        for transceiver in transceivers:
            if transceiver.kind == "video":
                # VP8 is recorded as sent; aiortc decodes none of it (the engine decodes what
                # the host sees itself, a still a second, and asks for keyframes through this).
                transceiver.setCodecPreferences(VP8_CODECS)
                self._request_keyframe = keyframe_requester(transceiver.receiver)
            tap_receiver(transceiver.receiver, self._on_encoded, decode=transceiver.kind == "audio")
        self._pc.addTrack(self._outbound)
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        return str(self._pc.localDescription.sdp)

    def request_keyframe(self) -> None:
        """Ask the guest's browser for a video keyframe (a PLI); nothing without video."""
        if self._request_keyframe is not None:
            self._request_keyframe()

    async def add_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """A trickled ICE candidate; an empty one means the guest has no more."""
        if self._pc.remoteDescription is None:
            raise PeerError("Send the offer before ICE candidates")
        line = candidate.removeprefix("a=").removeprefix("candidate:")
        if not line:
            await self._pc.addIceCandidate(None)
            return
        try:
            parsed = candidate_from_sdp(line)
        except (AssertionError, ValueError, IndexError) as error:
            raise PeerError(f"The ICE candidate could not be parsed: {candidate!r}") from error
        if (problem := candidate_problem(parsed)) is not None:
            raise PeerError(problem)
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        if sdp_mid is None and sdp_mline_index is None:
            parsed.sdpMLineIndex = 0
        await self._pc.addIceCandidate(parsed)

    async def close(self) -> None:
        """Close the connection and stop every track (idempotent); `on_closed` is not called."""
        self._on_closed = None
        self._outbound.stop()
        await self._pc.close()
        self._mark_closed()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and not self.audio.done():
            self.audio.set_result(track)
        elif track.kind == "video" and self.video is None:
            self.video = track

    def _on_state(self) -> None:
        logger.info("guest peer is %s", self._pc.connectionState)
        if self._pc.connectionState in CLOSED_STATES:
            self._mark_closed()

    def _mark_closed(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            if not self.audio.done():
                self.audio.cancel()
            if self._on_closed is not None:
                self._on_closed()
