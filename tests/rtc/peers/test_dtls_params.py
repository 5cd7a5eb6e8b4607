"""An offer's DTLS fingerprints and setup roles, checked before aiortc sees them."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCPeerConnection

from rtc.peers.dtls_params import dtls_problem
from tests.rtc.guest_client import ScriptedMicrophone

SHA256 = ":".join(["AB"] * 32)


async def browser_like_offer() -> str:
    """A real offer (aiortc's, as a browser's: a fingerprint and setup in each section)."""
    pc = RTCPeerConnection()
    try:
        pc.addTrack(ScriptedMicrophone())
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def without(sdp: str, attribute: str) -> str:
    return "".join(
        line for line in sdp.splitlines(keepends=True) if not line.startswith(f"a={attribute}:")
    )


async def test_a_real_offer_passes() -> None:
    offer = await browser_like_offer()
    assert offer.count("a=fingerprint:") >= 2
    assert dtls_problem(offer) is None


async def test_an_offer_without_fingerprints_is_refused_naming_the_section() -> None:
    problem = dtls_problem(without(await browser_like_offer(), "fingerprint"))
    assert problem is not None
    assert "no DTLS fingerprint in media section 1 (audio)" in problem


async def test_a_session_level_fingerprint_covers_every_section() -> None:
    offer = without(await browser_like_offer(), "fingerprint")
    offer = offer.replace("t=0 0\r\n", f"t=0 0\r\na=fingerprint:sha-256 {SHA256}\r\n", 1)
    assert dtls_problem(offer) is None


@pytest.mark.parametrize(
    "fingerprint",
    [
        "sha-256 zz:zz",
        "sha-256",
        "sha-256 AB:CD",  # too short for SHA-256
        f"sha-256 {SHA256}:AB",
        "md5 0123456789abcdef",  # not hex pairs with colons
        "sha-256 " + "AB" * 32,
        "sha 256 " + SHA256,
    ],
)
async def test_a_malformed_fingerprint_is_refused(fingerprint: str) -> None:
    offer = re.sub(
        r"a=fingerprint:[^\r\n]*", f"a=fingerprint:{fingerprint}", await browser_like_offer()
    )
    problem = dtls_problem(offer)
    assert problem is not None and "DTLS fingerprint" in problem


async def test_an_unknown_algorithm_alone_is_refused_but_may_come_with_a_known_one() -> None:
    offer = await browser_like_offer()
    unknown = re.sub(r"a=fingerprint:[^\r\n]*", "a=fingerprint:sha-1 AB:CD:EF", offer)
    assert "no DTLS fingerprint" in (dtls_problem(unknown) or "")
    both = re.sub(r"(a=fingerprint:[^\r\n]*)", r"\1\r\na=fingerprint:sha-1 AB:CD:EF", offer)
    assert dtls_problem(both) is None


@pytest.mark.parametrize("setup", ["sideways", "", None])
async def test_a_setup_role_that_is_missing_or_unknown_is_refused(setup: str | None) -> None:
    offer = await browser_like_offer()
    offer = (
        without(offer, "setup")
        if setup is None
        else re.sub(r"a=setup:[^\r\n]*", f"a=setup:{setup}", offer)
    )
    problem = dtls_problem(offer)
    assert problem is not None and "a=setup:actpass, active or passive" in problem


@pytest.mark.parametrize("setup", ["actpass", "active", "passive"])
async def test_every_setup_role_an_offer_may_take_passes(setup: str) -> None:
    offer = re.sub(r"a=setup:[^\r\n]*", f"a=setup:{setup}", await browser_like_offer())
    assert dtls_problem(offer) is None
