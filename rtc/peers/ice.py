"""ICE for deployments: which host addresses and UDP ports peers use, and STUN/TURN servers.

aioice offers every interface but loopback, on any port, with no setting to change it. Behind
NAT, in Kubernetes and in tests that must stay on 127.0.0.1, the server needs both under its
control, so aiortc is given a `Connection` subclass that gathers host candidates on the
configured addresses and port range; STUN and TURN candidates are gathered as aioice does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote

import aiortc.rtcicetransport
from aioice import Candidate, Connection, turn
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import StunProtocol, relayed_candidate, server_reflexive_candidate
from aiortc import RTCIceServer


class IceSettingsError(ValueError):
    """An ICE setting could not be understood; the message names it."""


@dataclass(frozen=True, slots=True)
class IcePolicy:
    """Host addresses to offer (empty: every interface) and the UDP port range (None: any)."""

    host_addresses: tuple[str, ...] = ()
    port_range: tuple[int, int] | None = None


class PolicyConnection(Connection):
    """aioice's connection, gathering host candidates as the policy says."""

    policy: ClassVar[IcePolicy] = IcePolicy()

    async def get_component_candidates(
        self,
        component: int,
        addresses: list[str],
        timeout: int = 5,  # noqa: ASYNC109 (aioice's signature, which this overrides)
    ) -> list[Candidate]:
        """Host candidates on the policy's addresses and ports, then STUN and TURN ones."""
        policy = type(self).policy
        if policy.host_addresses:
            addresses = list(policy.host_addresses)
        host_protocols: list[StunProtocol] = []
        for address in addresses:
            protocol = await self._bind(component, address, policy.port_range)
            if protocol is not None:
                host_protocols.append(protocol)
        self._protocols += host_protocols
        candidates = [protocol.local_candidate for protocol in host_protocols]
        candidates += await self._server_candidates(component, host_protocols, timeout)
        return candidates

    async def _bind(
        self, component: int, address: str, port_range: tuple[int, int] | None
    ) -> StunProtocol | None:
        loop = asyncio.get_running_loop()
        ports = [0]
        if port_range is not None:
            ports = list(range(port_range[0], port_range[1] + 1))
            random.shuffle(ports)
        for port in ports:
            try:
                transport, protocol = await loop.create_datagram_endpoint(
                    lambda: StunProtocol(self), local_addr=(address, port)
                )
            except OSError:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE)
            host, bound_port = transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=bound_port,
                type="host",
            )
            return protocol
        return None

    async def _server_candidates(
        self, component: int, host_protocols: list[StunProtocol], wait_s: float
    ) -> list[Candidate]:
        tasks: list[asyncio.Task[tuple[Candidate, Any]]] = []
        if self.stun_server:
            tasks += [
                asyncio.create_task(server_reflexive_candidate(protocol, self.stun_server))
                for protocol in host_protocols
                if ipaddress.ip_address(protocol.local_candidate.host).version == 4
            ]
        if self.turn_server:
            tasks.append(
                asyncio.create_task(
                    relayed_candidate(
                        component=component,
                        hide_related_address=False,
                        protocol_factory=lambda: StunProtocol(self),
                        turn_server=self.turn_server,
                        turn_username=self.turn_username,
                        turn_password=self.turn_password,
                        turn_ssl=self.turn_ssl,
                        turn_transport=self.turn_transport,
                    )
                )
            )
        if not tasks:
            return []
        done, pending = await asyncio.wait(tasks, timeout=wait_s)
        for task in pending:
            task.cancel()
        candidates: list[Candidate] = []
        for task in done:
            if task.exception() is None:
                candidate, relay_protocol = task.result()
                candidates.append(candidate)
                if relay_protocol is not None:
                    self._protocols.append(relay_protocol)
        return candidates


def install_ice_policy(policy: IcePolicy) -> None:
    """Make every aiortc peer of this process gather candidates by `policy`."""
    PolicyConnection.policy = policy
    aiortc.rtcicetransport.Connection = PolicyConnection  # type: ignore[attr-defined]


def parse_port_range(value: str | None) -> tuple[int, int] | None:
    """`50000-50199` → (50000, 50199); empty or None → any port."""
    if not value:
        return None
    low, sep, high = value.partition("-")
    try:
        first, last = int(low), int(high if sep else low)
    except ValueError as error:
        raise IceSettingsError(
            f"RTC_UDP_PORTS: {value!r} is not a range like 50000-50199"
        ) from error
    if not 1024 <= first <= last <= 65535:
        raise IceSettingsError(f"RTC_UDP_PORTS: {value!r} must lie within 1024-65535, low to high")
    return first, last


def parse_host_addresses(value: str | None) -> tuple[str, ...]:
    """`127.0.0.1,10.0.0.5` → addresses to offer; empty → every interface but loopback."""
    if not value:
        return ()
    addresses = tuple(part.strip() for part in value.split(",") if part.strip())
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError as error:
            raise IceSettingsError(
                f"RTC_HOST_ADDRESSES: {address!r} is not an IP address"
            ) from error
    return addresses


def parse_ice_servers(value: str | None) -> list[RTCIceServer]:
    """`stun:host:3478,turn:user:pass@host:3478` → aiortc ICE servers (credentials split off)."""
    servers: list[RTCIceServer] = []
    for url in (part.strip() for part in (value or "").split(",")):
        if not url:
            continue
        scheme, _, rest = url.partition(":")
        if scheme not in ("stun", "stuns", "turn", "turns") or not rest:
            raise IceSettingsError(f"ICE_SERVERS: {url!r} must start with stun: or turn:")
        if "@" in rest:
            credentials, _, location = rest.rpartition("@")
            username, _, password = credentials.partition(":")
            servers.append(
                RTCIceServer(
                    urls=f"{scheme}:{location}",
                    username=unquote(username),
                    credential=unquote(password),
                )
            )
        else:
            servers.append(RTCIceServer(urls=url))
    return servers


__all__ = [
    "IcePolicy",
    "IceSettingsError",
    "PolicyConnection",
    "install_ice_policy",
    "parse_host_addresses",
    "parse_ice_servers",
    "parse_port_range",
]
