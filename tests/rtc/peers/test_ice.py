"""ICE settings: host addresses, the UDP port range and STUN/TURN servers."""

from __future__ import annotations

import pytest
from aiortc import RTCIceServer, RTCPeerConnection

from rtc.peers.ice import (
    IcePolicy,
    IceSettingsError,
    install_ice_policy,
    parse_host_addresses,
    parse_ice_servers,
    parse_port_range,
)


def test_port_ranges() -> None:
    assert parse_port_range(None) is None and parse_port_range("") is None
    assert parse_port_range("50000-50199") == (50000, 50199)
    assert parse_port_range("50000") == (50000, 50000)
    for bad in ("50199-50000", "abc", "80-90", "50000-70000"):
        with pytest.raises(IceSettingsError, match="RTC_UDP_PORTS"):
            parse_port_range(bad)


def test_host_addresses() -> None:
    assert parse_host_addresses(None) == ()
    assert parse_host_addresses("127.0.0.1, ::1") == ("127.0.0.1", "::1")
    with pytest.raises(IceSettingsError, match="RTC_HOST_ADDRESSES"):
        parse_host_addresses("127.0.0.1,example.com")


def test_ice_servers_split_credentials_off_the_url() -> None:
    servers = parse_ice_servers("stun:stun.example:3478, turn:ann:s%40cret@turn.example:3478")
    assert servers == [
        RTCIceServer(urls="stun:stun.example:3478"),
        RTCIceServer(urls="turn:turn.example:3478", username="ann", credential="s@cret"),
    ]
    assert parse_ice_servers(None) == []
    with pytest.raises(IceSettingsError, match="ICE_SERVERS"):
        parse_ice_servers("http://example")


async def test_candidates_use_the_configured_address_and_ports() -> None:
    install_ice_policy(IcePolicy(host_addresses=("127.0.0.1",), port_range=(52100, 52110)))
    try:
        pc = RTCPeerConnection()
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        lines = [
            line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")
        ]
        await pc.close()
    finally:
        install_ice_policy(IcePolicy(host_addresses=("127.0.0.1",)))
    assert lines
    for line in lines:
        parts = line.split()
        assert parts[4] == "127.0.0.1"
        assert 52100 <= int(parts[5]) <= 52110
