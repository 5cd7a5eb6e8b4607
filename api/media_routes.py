"""A session's recording: its manifest with time-limited URLs, and the signed media files.

`GET /sessions/{id}/recording` is for the owner (bearer token). The URLs it returns are the
credential themselves, so `<video src>` works: locally `GET /media/{id}/{path}?expires=…
&signature=…` (served here, byte ranges included), with S3 presigned GETs on the bucket.
`GET /sessions/{id}/recording/files/{name}` is the stable address stored in a session's
`videoUrl` and `transcriptUrl`: it redirects the owner to a fresh URL of that file.

Signed media URLs are exempt from the request rate limiter (see `monumento/app.py`): they
carry no token, so they would count per client address, and one `<video>` makes a request
per seek and buffered range; a few viewers behind one address would exhaust the budget and
see playback fail. Limiting them protects no credential (the signature is a 256-bit MAC,
checked before the disk is touched); bandwidth is a job for a proxy or the S3 backend.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from api.context import api_context
from api.errors import ApiError, not_found
from api.media_schemas import (
    RecordingOut,
    RecordingOutputsOut,
    RecordingTrackOut,
    TranscriptFilesOut,
)
from api.schemas import dump
from api.session_routes import owned_session
from media.content_types import content_type
from media.signing import MediaUrlError
from media.storage import MediaStorage, find_file
from recorder.manifest import Manifest, read_manifest


async def get_recording(request: Request) -> JSONResponse:
    """The owner's view of the recording, every existing file with a time-limited URL."""
    session = await owned_session(request)
    media = api_context(request).media
    manifest, present = await _recorded(media, session.id)

    async def url(relative_path: str | None) -> str | None:
        if relative_path is None or relative_path not in present:
            return None
        return await media.url_for(session.id, relative_path)

    tracks = [
        RecordingTrackOut(
            name=track.name,
            kind=track.kind,
            role=track.role,
            codec=track.codec,
            start_offset_ms=track.start_offset_ms,
            duration_ms=track.duration_ms,
            state=track.state,
            url=await url(track.file),
        )
        for track in manifest.tracks
    ]
    made = manifest.outputs  # keys as recorder/finalise.py names them
    transcript = TranscriptFilesOut(
        json_file=await url(made.get("transcript_json")),
        txt=await url(made.get("transcript_text")),
        srt=await url(made.get("transcript_srt")),
        vtt=await url(made.get("transcript_vtt")),
    )
    body = RecordingOut(
        session_id=session.id,
        state=manifest.state,
        progress=manifest.progress,
        tracks=tracks,
        outputs=RecordingOutputsOut(
            video=await url(made.get("video")),
            audio=await url(made.get("mix")),
            thumbnail=await url(made.get("thumbnail")),
            transcript=transcript if transcript.model_dump(exclude_none=True) else None,
        ),
    )
    return JSONResponse(dump(body), headers={"Cache-Control": "no-store"})


async def get_recording_file(request: Request) -> RedirectResponse:
    """A stable address (a session's `videoUrl`) that redirects to a fresh URL of the file."""
    session = await owned_session(request)
    media = api_context(request).media
    manifest, present = await _recorded(media, session.id)
    name = request.path_params["name"]
    files = {track.name: track.file for track in manifest.tracks} | manifest.outputs
    relative_path = files.get(name)
    if relative_path is None or relative_path not in present:
        raise not_found("Recording file")
    location = await media.url_for(session.id, relative_path)
    return RedirectResponse(location, status_code=307, headers={"Cache-Control": "no-store"})


async def get_media_file(request: Request) -> Response:
    """A file of a signed URL, with byte ranges; no token, since `<video src>` sends none."""
    context = api_context(request)
    session_id, relative_path = request.path_params["session_id"], request.path_params["path"]
    try:
        context.media_signer.verify(
            f"{session_id}/{relative_path}",
            request.query_params.get("expires"),
            request.query_params.get("signature"),
        )
    except MediaUrlError as error:
        raise ApiError(403, error.code, str(error)) from error
    try:
        folder = context.media.folder(uuid.UUID(session_id))
    except ValueError as error:
        raise not_found("Media file") from error
    found = await asyncio.to_thread(find_file, folder, relative_path)
    if found is None:
        raise not_found("Media file")
    path, status = found
    name = PurePosixPath(relative_path).name
    return FileResponse(
        path,
        stat_result=status,
        media_type=content_type(name),
        filename=name,
        content_disposition_type="inline",
        # The type comes from the file's name: a browser must not guess another from its bytes.
        headers={"Cache-Control": "private", "X-Content-Type-Options": "nosniff"},
    )


async def _recorded(media: MediaStorage, session_id: uuid.UUID) -> tuple[Manifest, set[str]]:
    """The session's manifest and which of its files exist, or 404 `no_recording`."""
    found = await asyncio.to_thread(_read_recording, media.folder(session_id))
    if found is None:
        raise ApiError(404, "no_recording", "Nothing was recorded for this session")
    return found


def _read_recording(folder: Path) -> tuple[Manifest, set[str]] | None:
    manifest = read_manifest(folder)
    if manifest is None or not manifest.tracks:
        return None
    # A track still being recorded grows while it would be sent: it gets no URL until done.
    finished = [track.file for track in manifest.tracks if track.state != "recording"]
    listed = finished + list(manifest.outputs.values())
    return manifest, {name for name in listed if find_file(folder, name) is not None}


routes = [
    Route("/sessions/{session_id}/recording", get_recording, methods=["GET"]),
    Route("/sessions/{session_id}/recording/files/{name}", get_recording_file, methods=["GET"]),
    Route("/media/{session_id}/{path:path}", get_media_file, methods=["GET"]),
]
