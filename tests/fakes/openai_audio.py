"""A fake OpenAI audio-transcription API on 127.0.0.1, for the real `openai` SDK to talk to.

It serves `POST /v1/audio/transcriptions` as the real API does: a multipart form with `file`
and `model`, a bearer token, `{"text": ..., "usage": ...}` on success and OpenAI's error
envelope otherwise. It records what it received (model, the WAV's rate and duration) and can
be told to fail with a status code or to answer late. uvicorn runs it on its own thread and
event loop, so the server behaves like a remote one whatever the test's loop is doing.
"""

from __future__ import annotations

import asyncio
import io
import math
import socket
import threading
import time
import wave
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MIN_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class ReceivedAudio:
    """One transcription request as the server saw it."""

    model: str
    filename: str
    content_type: str
    authorization: str
    wav: bytes
    sample_rate: int
    channels: int
    sample_width: int
    duration: float


class FakeOpenAIAudio:
    """The fake server; use it as a context manager and point `base_url` at `base_url`."""

    def __init__(self, text: str = "hello from the fake whisper") -> None:
        self.text = text
        self.status = 200  # any other value is answered as an OpenAI error with that status
        self.delay = 0.0  # seconds to wait before answering
        self.attempts = 0  # requests that arrived, including ones answered late or with errors
        self.received: list[ReceivedAudio] = []
        self._stopping = threading.Event()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        app = Starlette(
            routes=[Route("/v1/audio/transcriptions", self._transcribe, methods=["POST"])]
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="fake-openai", daemon=True)

    def __enter__(self) -> FakeOpenAIAudio:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    async def _transcribe(self, request: Request) -> JSONResponse:
        self.attempts += 1
        body = await request.body()
        if self.delay:
            await asyncio.to_thread(self._stopping.wait, self.delay)
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, "You didn't provide an API key.", "invalid_request_error")
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return _error(400, "Invalid Content-Type header.", "invalid_request_error")
        fields = _form_fields(content_type, body)
        if "model" not in fields:
            return _error(400, "you must provide a model parameter", "invalid_request_error")
        if "file" not in fields:
            return _error(400, "you must provide a file parameter", "invalid_request_error")
        part = fields["file"]
        wav = part.get_payload(decode=True)
        assert isinstance(wav, bytes)
        try:
            with wave.open(io.BytesIO(wav), "rb") as reader:
                rate, frames = reader.getframerate(), reader.getnframes()
                channels, width = reader.getnchannels(), reader.getsampwidth()
        except (wave.Error, EOFError):
            return _error(400, "Invalid file format.", "invalid_request_error")
        duration = frames / rate
        self.received.append(
            ReceivedAudio(
                model=_text(fields["model"]),
                filename=part.get_filename() or "",
                content_type=part.get_content_type(),
                authorization=request.headers["authorization"],
                wav=wav,
                sample_rate=rate,
                channels=channels,
                sample_width=width,
                duration=duration,
            )
        )
        if duration < MIN_SECONDS:
            message = "Audio file is too short. Minimum audio length is 0.1 seconds."
            return _error(400, message, "invalid_request_error")
        if self.status != 200:
            return _error(self.status, "The server had an error processing your request.")
        usage = {"type": "duration", "seconds": math.ceil(duration)}
        return JSONResponse({"text": self.text, "usage": usage})


def _form_fields(content_type: str, body: bytes) -> dict[str, EmailMessage]:
    """The parts of a multipart/form-data body by field name (a MIME parser does the work)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    assert isinstance(message, EmailMessage)
    fields: dict[str, EmailMessage] = {}
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            fields[name] = part
    return fields


def _text(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def _error(status: int, message: str, kind: str = "server_error") -> JSONResponse:
    """OpenAI's error envelope."""
    error = {"message": message, "type": kind, "param": None, "code": None}
    return JSONResponse({"error": error}, status_code=status)
