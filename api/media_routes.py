"""A session's recording: its manifest with time-limited URLs, and the signed media files.

`GET /sessions/{id}/recording` is for the owner (bearer token). The URLs it returns are the
credential themselves, so `<video src>` works: locally `GET /media/{id}/{path}?expires=…
&signature=…` (served here, byte ranges included), with S3 presigned GETs on the bucket.
`GET /sessions/{id}/recording/files/{name}` is the stable address stored in a session's
`videoUrl` and `transcriptUrl`: it redirects the owner to a fresh URL of that file.

Every node answers the same: the recording comes from the catalog (`media/catalog.py`), so
from this node's disk when it holds the session folder and from the database otherwise. A
signed local URL that reaches a node without the file, which the catalog places on another
node's disk, is a 503 `media_on_other_node` saying what to set up, not a bare 404.

Signed media URLs are exempt from the request rate limiter (see `monumento/app.py`): they
carry no token, so they would count per client address, and one `<video>` makes a request
per seek and buffered range; a few viewers behind one address would exhaust the budget and
see playback fail. Limiting them protects no credential (the signature is a 256-bit MAC,
checked before the disk is touched); bandwidth is a job for a proxy or the S3 backend.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import PurePosixPath

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
from media.catalog import Recording, RecordingCatalog
from media.content_types import content_type
from media.signing import MediaUrlError
from media.storage import find_file


async def get_recording(request: Request) -> JSONResponse:
    """The owner's view of the recording, every existing file with a time-limited URL."""
    session = await owned_session(request)
    context = api_context(request)
    recording = await _recorded(context.recordings, session.id)
    manifest = recording.manifest

    async def url(relative_path: str | None) -> str | None:
        if relative_path is None or relative_path not in recording.files:
            return None
        mirrored = relative_path in recording.mirrored
        return await context.media.link(session.id, relative_path, mirrored=mirrored)

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
    context = api_context(request)
    recording = await _recorded(context.recordings, session.id)
    manifest = recording.manifest
    name = request.path_params["name"]
    files = {track.name: track.file for track in manifest.tracks} | manifest.outputs
    relative_path = files.get(name)
    if relative_path is None or relative_path not in recording.files:
        raise not_found("Recording file")
    mirrored = relative_path in recording.mirrored
    location = await context.media.link(session.id, relative_path, mirrored=mirrored)
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
        session_uuid = uuid.UUID(session_id)
    except ValueError as error:
        raise not_found("Media file") from error
    found = await asyncio.to_thread(find_file, context.media.folder(session_uuid), relative_path)
    if found is None:
        await _refuse_if_elsewhere(context.recordings, session_uuid, relative_path)
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


async def _recorded(catalog: RecordingCatalog, session_id: uuid.UUID) -> Recording:
    """The session's recording, whichever node made it, or 404 `no_recording`."""
    found = await catalog.find(session_id)
    if found is None:
        raise ApiError(404, "no_recording", "Nothing was recorded for this session")
    return found


async def _refuse_if_elsewhere(
    catalog: RecordingCatalog, session_id: uuid.UUID, relative_path: str
) -> None:
    """503 `media_on_other_node` for a file this node lacks and another node's disk holds."""
    found = await catalog.find(session_id)
    if found is None or found.node_id is None or relative_path not in found.files:
        return
    raise ApiError(
        503,
        "media_on_other_node",
        f"This file is on the disk of node {found.node_id}, not of this node: with "
        "MEDIA_STORAGE=local every node must mount the same DATA_DIR/media (one shared "
        "volume); with MEDIA_STORAGE=s3 any node serves it once it is uploaded",
    )


routes = [
    Route("/sessions/{session_id}/recording", get_recording, methods=["GET"]),
    Route("/sessions/{session_id}/recording/files/{name}", get_recording_file, methods=["GET"]),
    Route("/media/{session_id}/{path:path}", get_media_file, methods=["GET"]),
]
