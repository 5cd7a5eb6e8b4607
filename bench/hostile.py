"""Can a hostile client make the server hold memory? RSS under oversized bodies and frames.

    .venv/bin/python -m bench.hostile                  # about 30 s
    .venv/bin/python -m bench.hostile --no-baseline    # the protected server only

Each case runs against a fresh server, so that no case inherits another's allocator state,
in a process of its own pinned to the first CPU (`bench/server.py`: the app `monumento
serve` runs, with its embedded defaults: SQLite and local disk in a temporary directory,
the offline host, uvicorn configured by `monumento.server.uvicorn_config`); the hostile
client runs here, on the second CPU. Each case runs twice:

- protected: the server as it ships. `api/bodies.py` refuses a body by its Content-Length
  before reading it and counts a chunked one as it streams in, up to `MAX_BODY_BYTES`;
  uvicorn's `ws_max_size` (`MAX_FRAME_BYTES`) refuses a larger frame from its header.
- baseline (`bench.server --unprotected`): the same server with both limits off, to show
  what they prevent. Bodies are read whole and then measured (as `api/bodies.py` did before
  it counted them) and uvicorn buffers frames up to its default 16 MiB.

After a warm-up (an account, a session, logins, small bodies and frames over the limits,
so that every path below has run once), the case:

- bodies, Content-Length: `--bodies` parallel unauthenticated POSTs of `--body-mb` MB to
  `/api/v1/auth/login`;
- bodies, chunked: the same with `Transfer-Encoding: chunked`;
- frames: `--sockets` WebSockets each sending one `--frame-mb` MB frame, text and binary
  by turns: a registered user's interview and director sockets (each has answered a ping,
  so the frame reaches a socket in use) and unauthenticated ones of both kinds (the frame
  sent as soon as the handshake is answered).

The client writes every body and frame from one 64 KiB chunk, so it never holds more than
that of any request, and it keeps sending until the body is sent or the server drops the
connection, whatever the answer, as a hostile client would. It records each answer: the
HTTP status and error code, the WebSocket close code (or, when the socket stays open, the
error event and the pong to a ping sent after the frame), and how much it had sent when
the answer came (a few MB of that sit in the sockets' buffers). A thread reads the server
process's VmRSS (/proc/<pid>/status) every 20 ms; a case's growth is its peak minus the
reading just before it. The protected server must grow by less than `--bound-mib`
(30 MiB, issue 12's bound) in every case: the exit status is 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import os
import resource
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from bench.common import (
    LOOPBACK,
    Child,
    children,
    code_state,
    cpu_pair,
    machine,
    now_stamp,
    pin_to_cpu,
    rss_mib,
    run,
    write_json,
)

MB = 1_000_000
CHUNK = 64 * 1024
SAMPLE_S = 0.020
ANSWER_TIMEOUT_S = 60.0
PASSWORD = "benchmark password"
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8
SOCKET_KINDS = (("interview", True), ("director", True), ("interview", False), ("director", False))
WARMUP_BYTES = 2 * 1024 * 1024
WARMUP_FRAME_BYTES = 128 * 1024


# What the server's process holds


def server_rss_mib(pid: int) -> float:
    """VmRSS of the server's process alone: the offline host's recognizer, a process of its
    own started by the first interview, loads its model meanwhile on its own schedule."""
    return rss_mib(pid, with_family=False)


class PeakRss:
    """A process's RSS when the block starts and its peak until the block ends, read by a
    thread every `SAMPLE_S` so that a spike between two awaits of the client is seen."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self.start_mib = 0.0
        self.peak_mib = 0.0

    def __enter__(self) -> PeakRss:
        self.start_mib = self.peak_mib = server_rss_mib(self._pid)
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, server_rss_mib(self._pid))

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.peak_mib = max(self.peak_mib, server_rss_mib(self._pid))


# Connections


class Wire:
    """One TCP connection to the server, on a bare non-blocking socket.

    Not an asyncio stream: a server that refuses a frame sends its close frame and closes
    while the client is still sending, the client's next write fails with a reset, and an
    asyncio transport then stops reading, the close frame unread. The socket itself still
    holds it, so here reads go on whatever happens to writes.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()

    @classmethod
    async def open(cls, port: int) -> Wire:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (LOOPBACK, port))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def send(self, data: bytes) -> None:
        """All of `data`, or `ConnectionError`."""
        await self._loop.sock_sendall(self._sock, data)

    async def read_exactly(self, size: int) -> bytes:
        """`size` bytes, or `EOFError` if the connection ends first."""
        while len(self._buffer) < size:
            await self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def read_until(self, separator: bytes) -> bytes:
        """Up to and with `separator`, or `EOFError`."""
        while (found := self._buffer.find(separator)) < 0:
            await self._fill()
        return await self.read_exactly(found + len(separator))

    async def _fill(self) -> None:
        try:
            data = await self._loop.sock_recv(self._sock, CHUNK)
        except ConnectionError as error:
            raise EOFError("the server reset the connection") from error
        if not data:
            raise EOFError("the server closed the connection")
        self._buffer += data

    def close(self) -> None:
        self._sock.close()


# Bodies and frames, streamed


def filler(size: int, prefix: bytes = b"", suffix: bytes = b"") -> Iterator[bytes]:
    """`size` bytes, `prefix` + 'a's + `suffix`, in pieces of at most `CHUNK`."""
    chunk = b"a" * CHUNK
    yield prefix
    left = size - len(prefix) - len(suffix)
    while left > 0:
        piece = chunk if left >= CHUNK else chunk[:left]
        left -= len(piece)
        yield piece
    yield suffix


def login_body(size: int) -> Iterator[bytes]:
    """A login attempt whose password makes the JSON `size` bytes long."""
    return filler(size, b'{"email":"hostile@example.com","password":"', b'"}')


def mask(piece: bytes, key: bytes, offset: int) -> bytes:
    """`piece` masked with `key` (RFC 6455 5.3), as if it started at `offset` of the payload."""
    turn = offset % 4
    keys = (key[turn:] + key[:turn]) * (len(piece) // 4 + 1)
    masked = int.from_bytes(piece, "big") ^ int.from_bytes(keys[: len(piece)], "big")
    return masked.to_bytes(len(piece), "big")


def frame_header(opcode: int, length: int, key: bytes) -> bytes:
    """The header of one final, masked client frame of `length` payload bytes."""
    first = bytes([0x80 | opcode])
    if length < 126:
        return first + bytes([0x80 | length]) + key
    if length < 1 << 16:
        return first + bytes([0x80 | 126]) + length.to_bytes(2, "big") + key
    return first + bytes([0x80 | 127]) + length.to_bytes(8, "big") + key


def frame(opcode: int, length: int, payload: Iterator[bytes]) -> Iterator[bytes]:
    """One masked client frame of `length` bytes: its header, then `payload` piece by piece."""
    key = os.urandom(4)
    yield frame_header(opcode, length, key)
    offset = 0
    for piece in payload:
        yield mask(piece, key, offset)
        offset += len(piece)


def frame_payload(size: int, binary: bool) -> Iterator[bytes]:
    """A frame's payload: JSON of a type neither socket knows, or bytes."""
    return filler(size) if binary else filler(size, b'{"type":"hostile","padding":"', b'"}')


@dataclass(slots=True)
class Answer:
    """How the server answered one request, and how much the client had sent by then."""

    what: str
    sent_bytes: int


class Sender:
    """Writes pieces until they are all out or the server has dropped the connection,
    whatever it answered meanwhile; notes how much was out when the answer came."""

    def __init__(self, wire: Wire, answer: asyncio.Task[str]) -> None:
        self._wire = wire
        self._answer = answer
        self.sent = 0
        self._sent_at_answer: int | None = None

    @property
    def sent_at_answer(self) -> int:
        return self.sent if self._sent_at_answer is None else self._sent_at_answer

    async def send(self, pieces: Iterator[bytes], *, chunked: bool = False) -> bool:
        """True if every piece went out."""
        try:
            for piece in pieces:
                if self._answer.done() and self._sent_at_answer is None:
                    self._sent_at_answer = self.sent
                if chunked and piece:
                    await self._wire.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
                elif piece:
                    await self._wire.send(piece)
                self.sent += len(piece)
                await asyncio.sleep(0)  # the answer may have come: let its reader see it
            if chunked:
                await self._wire.send(b"0\r\n\r\n")
        except ConnectionError:
            return False
        return True


# HTTP


async def read_http_answer(wire: Wire) -> str:
    """`status code` of one HTTP response, or how the connection ended without one."""
    try:
        head = (await wire.read_until(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await wire.read_exactly(length)
    except EOFError:
        return "dropped, no answer"
    code = ""
    with contextlib.suppress(ValueError, AttributeError):
        code = str(json.loads(body).get("code", ""))
    return f"{head[0].split()[1]} {code}".strip()


async def hostile_post(port: int, path: str, size: int, *, chunked: bool) -> Answer:
    """POST `size` bytes of JSON to `path` without credentials; the server's answer."""
    wire = await Wire.open(port)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    answer = asyncio.create_task(read_http_answer(wire))
    sender = Sender(wire, answer)
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n\r\n"
        )
        await wire.send(head.encode("ascii"))
        await sender.send(login_body(size), chunked=chunked)
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            what = await answer
        return Answer(what, sender.sent_at_answer)
    finally:
        answer.cancel()
        await asyncio.wait([answer])
        wire.close()


# WebSockets


@dataclass(frozen=True, slots=True)
class SocketTarget:
    """One socket of the frames case."""

    kind: str  # "interview" or "director"
    signed_in: bool
    binary: bool
    session_id: str

    def path(self, token: str) -> str:
        query = f"?token={token}" if self.signed_in else ""
        return f"/api/v1/sessions/{self.session_id}/{self.kind}{query}"


class RawSocket:
    """A WebSocket client of a few lines, so that a frame can be streamed from its header
    on and the server's answer read as it comes (client libraries buffer whole frames)."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire

    @classmethod
    async def connect(cls, port: int, path: str) -> RawSocket:
        """Open the socket; `ConnectionError` if the server does not switch protocols."""
        wire = await Wire.open(port)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        try:
            await wire.send(
                f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode("ascii")
            )
            head = await wire.read_until(b"\r\n\r\n")
        except BaseException:
            wire.close()
            raise
        if not head.startswith(b"HTTP/1.1 101"):
            wire.close()
            raise ConnectionError(f"no WebSocket: {head.splitlines()[0].decode('latin-1')}")
        return cls(wire)

    async def send_text(self, text: str) -> None:
        data = text.encode()
        await self.wire.send(b"".join(frame(TEXT, len(data), iter([data]))))

    async def read_frame(self) -> tuple[int, bytes]:
        """The next frame from the server (unmasked, and small: the server's own)."""
        first, second = await self.wire.read_exactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await self.wire.read_exactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self.wire.read_exactly(8), "big")
        return first & 0x0F, await self.wire.read_exactly(length)

    async def until_pong(self) -> str:
        """Frames up to a pong or a close: "open, error <code>…" or the close code."""
        errors: list[str] = []
        while True:
            try:
                opcode, payload = await self.read_frame()
            except EOFError:
                return "dropped, no close frame"
            if opcode == CLOSE:
                return str(int.from_bytes(payload[:2], "big")) if len(payload) >= 2 else "1005"
            if opcode == TEXT:
                event = json.loads(payload)
                if event.get("type") == "error":
                    errors.append(str(event.get("code")))
                elif event.get("type") == "pong":
                    return ", ".join(["open", *(f"error {code}" for code in errors)])

    async def close(self) -> None:
        """Say goodbye (if the server still listens) and hang up."""
        with contextlib.suppress(ConnectionError):
            await self.wire.send(b"".join(frame(CLOSE, 2, iter([(1000).to_bytes(2, "big")]))))
        self.wire.close()


async def open_ready(port: int, target: SocketTarget, token: str) -> RawSocket:
    """A signed-in socket that has answered a ping: its handler is reading frames."""
    ws = await RawSocket.connect(port, target.path(token))
    await ws.send_text('{"type":"ping"}')
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        answer = await ws.until_pong()
    if answer != "open":
        await ws.close()
        raise RuntimeError(f"{target.kind} socket was refused ({answer}) before the frame")
    return ws


async def hostile_frame(
    port: int, target: SocketTarget, token: str, size: int, ws: RawSocket | None
) -> Answer:
    """One frame of `size` bytes on `ws` (or a fresh unauthenticated one); the answer.

    A ping follows the frame, so a socket that stays open says so with its pong."""
    if ws is None:
        ws = await RawSocket.connect(port, target.path(token))
    answer = asyncio.create_task(ws.until_pong())
    sender = Sender(ws.wire, answer)
    try:
        opcode = BINARY if target.binary else TEXT
        if await sender.send(frame(opcode, size, frame_payload(size, target.binary))):
            with contextlib.suppress(ConnectionError):
                await ws.send_text('{"type":"ping"}')
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            what = await answer
        return Answer(what, sender.sent_at_answer)
    finally:
        answer.cancel()
        await asyncio.wait([answer])
        await ws.close()


# One case against one server


CASES = ("content-length", "chunked", "frames")
VARIANTS: tuple[tuple[str, list[str]], ...] = (
    ("protected", []),
    ("baseline", ["--unprotected"]),
)


@dataclass(slots=True)
class CaseResult:
    """One case against one fresh server."""

    name: str
    requests: int
    answers: list[Answer]
    start_mib: float
    peak_mib: float
    fresh_mib: float = 0.0
    log_tracebacks: int = 0

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.start_mib

    def answer_summary(self) -> str:
        counts = collections.Counter(answer.what for answer in self.answers)
        return "; ".join(f"{what} x{count}" for what, count in sorted(counts.items()))

    def sent_mb(self) -> float:
        """The most any request had sent when its answer came."""
        return max((answer.sent_bytes for answer in self.answers), default=0) / MB

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "answers": [[answer.what, answer.sent_bytes] for answer in self.answers],
            "fresh_mib": self.fresh_mib,
            "start_mib": self.start_mib,
            "peak_mib": self.peak_mib,
            "log_tracebacks": self.log_tracebacks,
        }


class Account:
    """A registered user of the server under test, with sessions of its own."""

    def __init__(self, http: httpx.AsyncClient, token: str, email: str) -> None:
        self.http = http
        self.token = token
        self.email = email

    @classmethod
    async def register(cls, http: httpx.AsyncClient) -> Account:
        email = f"hostile-{uuid.uuid4().hex[:12]}@example.com"
        response = await http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "fullName": "Bench Hostile"},
        )
        response.raise_for_status()
        return cls(http, str(response.json()["accessToken"]), email)

    async def new_session(self) -> str:
        response = await self.http.post(
            "/api/v1/sessions",
            json={"vibe": "The Historian", "mode": "Auto-Pilot", "durationMinutes": 5},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        response.raise_for_status()
        return str(response.json()["id"])


def socket_targets(count: int, sessions: list[str]) -> list[SocketTarget]:
    """`count` sockets: signed-in interview and director sockets on `sessions` (one guest
    each) and unauthenticated ones, by turns; four text frames, then four binary, …"""
    targets = []
    for index in range(count):
        kind, signed_in = SOCKET_KINDS[index % len(SOCKET_KINDS)]
        session = sessions[(index // len(SOCKET_KINDS)) % len(sessions)]
        binary = (index // len(SOCKET_KINDS)) % 2 == 1
        targets.append(SocketTarget(kind, signed_in, binary, session))
    return targets


def sessions_needed(sockets: int) -> int:
    """One session per signed-in interview socket (a session has one guest at a time)."""
    return max(1, (sockets + len(SOCKET_KINDS) - 1) // len(SOCKET_KINDS))


async def warm_up(port: int, account: Account, session_id: str) -> None:
    """Run every path of the cases once, with small bodies and frames over the limits."""
    wrong = {"email": account.email, "password": "not the password"}
    await account.http.post("/api/v1/auth/login", json=wrong)
    right = {"email": account.email, "password": PASSWORD}
    (await account.http.post("/api/v1/auth/login", json=right)).raise_for_status()
    for chunked in (False, True):
        await hostile_post(port, "/api/v1/auth/login", WARMUP_BYTES, chunked=chunked)
    guest = SocketTarget("interview", True, False, session_id)
    director = SocketTarget("director", True, True, session_id)
    guest_socket = await open_ready(port, guest, account.token)
    director_socket = await open_ready(port, director, account.token)
    await hostile_frame(port, director, account.token, WARMUP_FRAME_BYTES, director_socket)
    for kind in ("interview", "director"):
        anonymous = SocketTarget(kind, False, False, session_id)
        await hostile_frame(port, anonymous, "", WARMUP_FRAME_BYTES, None)
    await guest_socket.send_text('{"type":"end"}')
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        await guest_socket.until_pong()  # the interview ends and closes the socket
    await guest_socket.close()


async def bodies_case(
    pid: int, port: int, args: argparse.Namespace, *, chunked: bool
) -> CaseResult:
    size = int(args.body_mb * MB)
    framing = "chunked" if chunked else "Content-Length"
    with PeakRss(pid) as rss:
        answers = await asyncio.gather(
            *(
                hostile_post(port, "/api/v1/auth/login", size, chunked=chunked)
                for _ in range(args.bodies)
            )
        )
    name = f"{args.body_mb:g} MB bodies, {framing}"
    return CaseResult(name, args.bodies, list(answers), rss.start_mib, rss.peak_mib)


async def frames_case(
    pid: int, port: int, args: argparse.Namespace, account: Account
) -> CaseResult:
    sessions = [await account.new_session() for _ in range(sessions_needed(args.sockets))]
    targets = socket_targets(args.sockets, sessions)
    ready: dict[int, RawSocket] = {}
    # Guests first: a director's socket opens only on a session whose interview runs.
    for index, target in sorted(enumerate(targets), key=lambda item: item[1].kind != "interview"):
        if target.signed_in:
            ready[index] = await open_ready(port, target, account.token)
    size = int(args.frame_mb * MB)
    with PeakRss(pid) as rss:
        answers = await asyncio.gather(
            *(
                hostile_frame(port, target, account.token, size, ready.get(index))
                for index, target in enumerate(targets)
            )
        )
    signed_in = sum(target.signed_in for target in targets)
    name = f"{args.frame_mb:g} MB frames ({signed_in} signed in, {args.sockets - signed_in} not)"
    return CaseResult(name, args.sockets, list(answers), rss.start_mib, rss.peak_mib)


async def measure(
    case: str, variant: tuple[str, list[str]], args: argparse.Namespace, tmp: Path, cpu: int
) -> CaseResult:
    """One case against a fresh server (no allocator state left by another case): start
    it, warm it up, run the case, stop it."""
    label, server_args = variant
    name = f"{label}-{case}"
    async with children() as started:
        server = await Child.start(
            name,
            "bench.server",
            [
                *("--kind", "offline", "--cpu", str(cpu)),
                *("--data-dir", str(tmp / name), *server_args),
            ],
            tmp,
        )
        started.append(server)
        ready = await server.expect("ready", 120)
        port, pid = int(ready["port"]), int(ready["pid"])
        fresh = server_rss_mib(pid)
        async with httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=60) as http:
            account = await Account.register(http)
            await warm_up(port, account, await account.new_session())
            if case == "frames":
                result = await frames_case(pid, port, args, account)
            else:
                result = await bodies_case(pid, port, args, chunked=case == "chunked")
    result.fresh_mib = fresh
    result.log_tracebacks = server.log_path.read_text(errors="replace").count("Traceback")
    print(
        f"  {label}, {result.requests} x {result.name}: {result.answer_summary()}; RSS fresh "
        f"{fresh:.1f}, before the case {result.start_mib:.1f}, peak {result.peak_mib:.1f} MiB "
        f"({result.growth_mib:+.1f}); {result.log_tracebacks} tracebacks logged",
        flush=True,
    )
    return result


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    server_cpu, client_cpu = cpu_pair()
    pin_to_cpu(client_cpu)
    print(f"bench.hostile - {now_stamp()} - {machine()} - {code_state()}")
    print(f"a fresh server per case on CPU {server_cpu}, the hostile client on CPU {client_cpu}")
    began = time.perf_counter()
    variants = VARIANTS[:1] if args.no_baseline else VARIANTS
    results: dict[str, list[CaseResult]] = {label: [] for label, _ in variants}
    with tempfile.TemporaryDirectory(prefix="monumento-bench-") as tmp_name:
        for case in CASES:
            for variant in variants:
                result = await measure(case, variant, args, Path(tmp_name), server_cpu)
                results[variant[0]].append(result)
    return report(args, results, time.perf_counter() - began)


def report(
    args: argparse.Namespace, results: dict[str, list[CaseResult]], wall: float
) -> dict[str, Any]:
    protected, baseline = results["protected"], results.get("baseline")
    client_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nin {wall:.0f} s; the hostile client's peak RSS {client_mib:.0f} MiB\n")
    print(
        "| case | requests | protected: answers | sent MB at answer | peak growth MiB "
        "| baseline: answers | sent MB at answer | peak growth MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for index, case in enumerate(protected):
        other = baseline[index] if baseline else None
        print(
            f"| {case.name} | {case.requests} | {case.answer_summary()} | {case.sent_mb():.1f} "
            f"| **{case.growth_mib:+.1f}** | "
            + (
                f"{other.answer_summary()} | {other.sent_mb():.1f} | {other.growth_mib:+.1f} |"
                if other
                else "- | - | - |"
            )
        )
    worst = max(case.growth_mib for case in protected)
    verdict = "met" if worst < args.bound_mib else "NOT met"
    print(f"\nprotected growth under {args.bound_mib:g} MiB in every case: {verdict}")
    return {
        "cases": {label: [case.as_dict() for case in cases] for label, cases in results.items()},
        "client_peak_mib": client_mib,
        "bound_mib": args.bound_mib,
        "verdict": verdict,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hostile",
        description="Server RSS under oversized bodies and WebSocket frames, protected vs not.",
    )
    parser.add_argument("--bodies", type=int, default=4, help="parallel bodies (default 4)")
    parser.add_argument("--body-mb", type=float, default=100.0, help="each body's MB (100)")
    parser.add_argument("--sockets", type=int, default=10, help="sockets (default 10)")
    parser.add_argument("--frame-mb", type=float, default=10.0, help="each frame's MB (10)")
    parser.add_argument(
        "--bound-mib", type=float, default=30.0, help="the protected growth must stay under it"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline server")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if min(args.bodies, args.sockets) < 1 or min(args.body_mb, args.frame_mb) <= 0.1:
        parser.error("counts must be positive and sizes over 0.1 MB")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = run(amain(args))
    write_json(args.json, results)
    if results["verdict"] != "met":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
