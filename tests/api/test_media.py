"""The recording API and signed media files, on both databases, locally and with S3.

Recordings are prepared as the recorder and finalisation leave them: a manifest and small
files in `{DATA_DIR}/media/{session_id}/`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette

from api.context import ApiContext
from config import Settings
from media.signing import MediaSigner
from monumento.app import create_app
from recorder.manifest import Manifest, TrackEntry, session_media_dir, write_manifest
from tests.api.test_sessions import create
from tests.conftest import (
    FakeClock,
    RecordingMailer,
    api_client,
    bearer,
    make_settings,
    register,
)
from tests.live_server import serve
from tests.media.test_storage import client_for, running_s3_server

PUBLIC = "http://localhost:8080/api/v1"  # the default PUBLIC_BASE_URL, as clients see it
VIDEO = bytes(range(256)) * 400  # 102,400 bytes, each offset recognisable
OUTPUTS = {
    "mix": "final/mix.m4a",
    "mix_lossless": "final/mix.flac",
    "video": "final/interview.mp4",
    "thumbnail": "final/thumbnail.jpg",
    "transcript_json": "final/transcript.json",
    "transcript_text": "final/transcript.txt",
    "transcript_srt": "final/transcript.srt",
    "transcript_vtt": "final/transcript.vtt",
}
TRACK_KEYS = {"name", "kind", "role", "codec", "startOffsetMs", "durationMs", "state", "url"}


def context(app: Starlette) -> ApiContext:
    api = app.state.api
    assert isinstance(api, ApiContext)
    return api


def prepare_recording(
    data_dir: Path,
    session_id: str,
    *,
    state: str = "finalised",
    outputs: dict[str, str] | None = None,
    tracks: tuple[str, ...] = ("guest-audio", "guest-video", "host-audio"),
) -> Path:
    """A session folder as the recorder and finalisation leave it, with small dummy files."""
    folder = session_media_dir(data_dir, session_id)
    (folder / "final").mkdir(parents=True)
    entries = {
        "guest-audio": TrackEntry(
            "guest-audio", "audio", "guest", "opus", "guest-audio.ogg", 0, 61_000, "complete"
        ),
        "guest-video": TrackEntry(
            "guest-video", "video", "guest", "vp8", "guest-video.ivf", 35, 60_900, "repaired"
        ),
        "host-audio": TrackEntry(
            "host-audio", "audio", "host", "pcm_s16le", "host-audio.wav", 0, None, "recording"
        ),
    }
    chosen = outputs if outputs is not None else OUTPUTS
    for name in tracks:
        (folder / entries[name].file).write_bytes(name.encode() * 100)
    for key, relative_path in chosen.items():
        (folder / relative_path).write_bytes(VIDEO if key == "video" else key.encode() * 50)
    write_manifest(
        folder,
        Manifest(
            session_id=session_id,
            state=state,  # type: ignore[arg-type]
            tracks=[entries[name] for name in tracks],
            outputs=dict(chosen),
            progress=1.0 if state == "finalised" else 0.25,
        ),
    )
    return folder


def in_app(url: str) -> str:
    """A URL the API handed out, as a path for the in-process client."""
    assert url.startswith(PUBLIC + "/media/"), url
    return url.removeprefix(PUBLIC)


async def new_recording(
    client: httpx.AsyncClient, headers: dict[str, str], settings: Settings, **options: Any
) -> tuple[str, Path]:
    session_id = (await create(client, headers))["id"]
    return session_id, prepare_recording(settings.data_dir, session_id, **options)


async def recording(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: str
) -> dict[str, Any]:
    response = await client.get(f"/sessions/{session_id}/recording", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def video_url(client: httpx.AsyncClient, headers: dict[str, str], session_id: str) -> str:
    return in_app((await recording(client, headers, session_id))["outputs"]["video"])


def signed_path(app: Starlette, path: str) -> str:
    """`/media/{path}` with a genuine signature over `path`, whatever it holds.

    `..` segments are sent encoded (`%2e%2e`), as an attacker would send them: literal ones
    would be removed by the HTTP client before they left it.
    """
    segments = ["%2e%2e" if part == ".." else quote(part) for part in path.split("/")]
    return f"/media/{'/'.join(segments)}?{context(app).media_signer.query(path)}"


# The recording


async def test_the_recording_lists_tracks_and_outputs_with_signed_urls(
    client: httpx.AsyncClient, guest_headers: dict[str, str], settings: Settings
) -> None:
    session_id, folder = await new_recording(client, guest_headers, settings)
    response = await client.get(f"/sessions/{session_id}/recording", headers=guest_headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"sessionId", "state", "progress", "tracks", "outputs"}
    assert (body["sessionId"], body["state"], body["progress"]) == (session_id, "finalised", 1.0)
    assert [set(track) for track in body["tracks"]] == [TRACK_KEYS] * 3
    guest_audio, guest_video, host_audio = body["tracks"]
    assert {k: v for k, v in guest_video.items() if k != "url"} == {
        "name": "guest-video",
        "kind": "video",
        "role": "guest",
        "codec": "vp8",
        "startOffsetMs": 35,
        "durationMs": 60_900,
        "state": "repaired",
    }
    assert (host_audio["durationMs"], host_audio["state"]) == (None, "recording")
    assert host_audio["url"] is None  # still growing: no URL until it is complete
    outputs = body["outputs"]
    assert set(outputs) == {"video", "audio", "thumbnail", "transcript"}
    assert set(outputs["transcript"]) == {"json", "txt", "srt", "vtt"}
    expected = {
        guest_audio["url"]: ("guest-audio.ogg", "audio/ogg"),
        guest_video["url"]: ("guest-video.ivf", "video/x-ivf"),
        outputs["video"]: ("final/interview.mp4", "video/mp4"),
        outputs["audio"]: ("final/mix.m4a", "audio/mp4"),
        outputs["thumbnail"]: ("final/thumbnail.jpg", "image/jpeg"),
        outputs["transcript"]["json"]: ("final/transcript.json", "application/json"),
        outputs["transcript"]["txt"]: ("final/transcript.txt", "text/plain; charset=utf-8"),
        outputs["transcript"]["srt"]: (
            "final/transcript.srt",
            "application/x-subrip; charset=utf-8",
        ),
        outputs["transcript"]["vtt"]: ("final/transcript.vtt", "text/vtt; charset=utf-8"),
    }
    for url, (relative_path, media_type) in expected.items():
        assert url.startswith(f"{PUBLIC}/media/{session_id}/{relative_path}?expires=")
        assert "&signature=" in url
        served = await client.get(in_app(url))  # no token: the signature is the credential
        assert served.status_code == 200, (relative_path, served.text)
        assert served.content == (folder / relative_path).read_bytes()
        assert served.headers["content-type"] == media_type
        assert served.headers["content-disposition"].startswith("inline")
        assert served.headers["x-content-type-options"] == "nosniff"


async def test_only_what_exists_is_listed(
    client: httpx.AsyncClient, guest_headers: dict[str, str], settings: Settings
) -> None:
    live, _ = await new_recording(
        client, guest_headers, settings, state="recording", outputs={}, tracks=("guest-audio",)
    )
    body = await recording(client, guest_headers, live)
    assert (body["state"], body["progress"]) == ("recording", 0.25)
    assert [track["name"] for track in body["tracks"]] == ["guest-audio"]
    assert body["outputs"] == {}

    partial = {"video": OUTPUTS["video"], "transcript_vtt": OUTPUTS["transcript_vtt"]}
    finished, folder = await new_recording(client, guest_headers, settings, outputs=partial)
    (folder / OUTPUTS["video"]).unlink()  # listed, but gone from the disk
    body = await recording(client, guest_headers, finished)
    assert set(body["outputs"]) == {"transcript"}
    assert set(body["outputs"]["transcript"]) == {"vtt"}
    (folder / "guest-audio.ogg").unlink()
    body = await recording(client, guest_headers, finished)
    assert body["tracks"][0]["name"] == "guest-audio" and body["tracks"][0]["url"] is None


async def test_no_recording_is_404_no_recording(
    client: httpx.AsyncClient, guest_headers: dict[str, str], settings: Settings
) -> None:
    session_id = (await create(client, guest_headers))["id"]
    response = await client.get(f"/sessions/{session_id}/recording", headers=guest_headers)
    assert response.status_code == 404
    assert response.json()["code"] == "no_recording"
    assert isinstance(response.json()["error"], str)
    write_manifest(
        session_media_dir(settings.data_dir, session_id), Manifest(session_id=session_id)
    )
    again = await client.get(f"/sessions/{session_id}/recording", headers=guest_headers)
    assert again.json()["code"] == "no_recording"  # a manifest without any track yet


async def test_another_users_recording_is_missing(
    client: httpx.AsyncClient, guest_headers: dict[str, str], settings: Settings
) -> None:
    session_id, _ = await new_recording(client, guest_headers, settings)
    intruder = bearer(await register(client))
    for path in ("recording", "recording/files/video"):
        response = await client.get(f"/sessions/{session_id}/{path}", headers=intruder)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    unknown = await client.get(f"/sessions/{uuid.uuid4()}/recording", headers=guest_headers)
    assert unknown.json()["code"] == "not_found"
    assert (await client.get(f"/sessions/{session_id}/recording")).status_code == 401


async def test_a_stable_file_address_redirects_the_owner_to_a_fresh_url(
    client: httpx.AsyncClient, guest_headers: dict[str, str], settings: Settings
) -> None:
    session_id, _ = await new_recording(client, guest_headers, settings)
    base = f"/sessions/{session_id}/recording/files"
    for name in ("video", "transcript_json", "guest-audio"):
        response = await client.get(f"{base}/{name}", headers=guest_headers)
        assert response.status_code == 307
        assert response.headers["cache-control"] == "no-store"
        served = await client.get(in_app(response.headers["location"]))
        assert served.status_code == 200
    assert (
        (await client.get(f"{base}/video", headers=guest_headers))
        .headers["location"]
        .startswith(f"{PUBLIC}/media/{session_id}/final/interview.mp4?")
    )
    missing = await client.get(f"{base}/nothing", headers=guest_headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


# Serving files: ranges


async def test_byte_ranges(
    client: httpx.AsyncClient, guest_headers: dict[str, str], settings: Settings
) -> None:
    session_id, _ = await new_recording(client, guest_headers, settings)
    url, size = await video_url(client, guest_headers, session_id), len(VIDEO)

    whole = await client.get(url)
    assert (whole.status_code, whole.content) == (200, VIDEO)
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-length"] == str(size)

    cases = [
        ("bytes=0-99", 0, 100),  # the first bytes
        ("bytes=50000-50999", 50_000, 51_000),  # the middle
        ("bytes=-500", size - 500, size),  # the last 500
        ("bytes=100000-", 100_000, size),  # from an offset to the end
        ("bytes=102000-999999", 102_000, size),  # an end past the file is clamped
    ]
    for header, start, end in cases:
        part = await client.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == VIDEO[start:end], header
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
        assert part.headers["content-length"] == str(end - start)
        assert part.headers["content-type"] == "video/mp4"

    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}"):
        refused = await client.get(url, headers={"Range": header})
        assert refused.status_code == 416, header
        assert refused.headers["content-range"] == f"bytes */{size}"

    head = await client.head(url)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(size)


@pytest.mark.parametrize(
    ("extension", "media_type"),
    [
        ("mp4", "video/mp4"),
        ("m4a", "audio/mp4"),
        ("ogg", "audio/ogg"),
        ("webm", "video/webm"),
        ("ivf", "video/x-ivf"),
        ("wav", "audio/wav"),
        ("flac", "audio/flac"),
        ("jpg", "image/jpeg"),
        ("json", "application/json"),
        ("srt", "application/x-subrip; charset=utf-8"),
        ("vtt", "text/vtt; charset=utf-8"),
        ("txt", "text/plain; charset=utf-8"),
    ],
)
async def test_content_types(
    app: Starlette,
    client: httpx.AsyncClient,
    guest_headers: dict[str, str],
    settings: Settings,
    extension: str,
    media_type: str,
) -> None:
    session_id, folder = await new_recording(client, guest_headers, settings)
    (folder / "final" / f"sample.{extension}").write_bytes(b"sample")
    url = await context(app).media.url_for(uuid.UUID(session_id), f"final/sample.{extension}")
    served = await client.get(in_app(url))
    assert served.status_code == 200
    assert served.headers["content-type"] == media_type


# Serving files: what is refused


async def test_altered_or_expired_urls_are_403(
    app: Starlette, client: httpx.AsyncClient, guest_headers: dict[str, str], settings: Settings
) -> None:
    session_id, _ = await new_recording(client, guest_headers, settings)
    other_id, _ = await new_recording(client, guest_headers, settings)
    url = await video_url(client, guest_headers, session_id)
    path, query = url.split("?")
    params = dict(part.split("=", 1) for part in query.split("&"))
    expires, signature = params["expires"], params["signature"]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    altered = [
        path.replace("interview.mp4", "mix.m4a") + f"?{query}",  # another file
        path.replace(session_id, other_id) + f"?{query}",  # another session
        f"{path}?expires={int(expires) + 3600}&signature={signature}",
        f"{path}?expires={expires}&signature={flipped}",
        f"{path}?expires={expires}",
        f"{path}?signature={signature}",
        path,
    ]
    for attempt in altered:
        response = await client.get(attempt)
        assert response.status_code == 403, attempt
        assert response.json()["code"] == "invalid_signature"
        assert response.json()["error"]

    an_hour_ago = time.time() - 3600 - 1
    stale = MediaSigner(settings.resolved_jwt_secret(), 3600, clock=lambda: an_hour_ago)
    media_path = f"{session_id}/final/interview.mp4"
    expired = await client.get(f"/media/{media_path}?{stale.query(media_path)}")
    assert expired.status_code == 403
    assert expired.json()["code"] == "url_expired"
    assert (await client.get(url)).status_code == 200  # the genuine one still works


async def test_traversal_is_refused_even_with_a_genuine_signature(
    app: Starlette, client: httpx.AsyncClient, guest_headers: dict[str, str], settings: Settings
) -> None:
    session_id, folder = await new_recording(client, guest_headers, settings)
    other_id, _ = await new_recording(client, guest_headers, settings)
    (settings.data_dir / "secret.txt").write_text("not media")
    (folder / "final" / "escape.txt").symlink_to(settings.data_dir / "secret.txt")
    attempts = [
        f"{session_id}/../../secret.txt",
        f"{session_id}/../{other_id}/final/interview.mp4",
        f"{session_id}/final/../../{other_id}/final/interview.mp4",
        f"{session_id}//etc/passwd",
        f"{session_id}/{settings.data_dir / 'secret.txt'}",
        f"{session_id}/..\\..\\secret.txt",
        f"{session_id}/final/escape.txt",
        f"{session_id}/final",
        "../secret.txt",
        f"{session_id}/manifest.json/../../secret.txt",
    ]
    for attempt in attempts:
        response = await client.get(signed_path(app, attempt))
        assert response.status_code == 404, attempt
        assert response.json()["code"] == "not_found"
    unsigned = await client.get(f"/media/{session_id}/%2e%2e/%2e%2e/secret.txt")
    assert unsigned.status_code == 403
    encoded_slash = await client.get(
        f"/media/{session_id}/%2Fetc%2Fpasswd?"
        + context(app).media_signer.query(f"{session_id}//etc/passwd")
    )
    assert encoded_slash.status_code == 404


async def test_literal_dot_segments_over_a_real_socket(
    settings: Settings, mailer: RecordingMailer
) -> None:
    application = create_app(settings, mailer=mailer)
    async with serve(application) as server:
        async with httpx.AsyncClient(base_url=f"{server.http}/api/v1") as http:
            headers = bearer(await register(http))
            session_id, folder = await new_recording(http, headers, settings)
            url = await video_url(http, headers, session_id)
            ranged = await http.get(url, headers={"Range": "bytes=10-19"})
            assert (ranged.status_code, ranged.content) == (206, VIDEO[10:20])
        (settings.data_dir / "secret.txt").write_text("not media")
        attempt = f"{session_id}/../../secret.txt"
        genuine = context(application).media_signer.query(attempt)
        for target, status in (
            (f"/media/{attempt}?{genuine}", b"404"),
            (f"/media/{attempt}", b"403"),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                f"GET /api/v1{target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            await writer.wait_closed()
            assert b"not media" not in answer
            assert answer.split(b" ", 2)[1] == status, answer[:200]
        assert folder.is_dir()


async def test_media_urls_do_not_spend_the_rate_limit(
    tmp_path: Path, database_url: str, mailer: RecordingMailer
) -> None:
    settings = make_settings(tmp_path, database_url, rate_limit_per_minute=3)
    application = create_app(settings, mailer=mailer, rate_limit_clock=FakeClock())
    async with application.router.lifespan_context(application), api_client(application) as http:
        headers = bearer(await register(http))  # the address's first request of three
        session_id = (await create(http, headers))["id"]
        prepare_recording(settings.data_dir, session_id)
        url = await context(application).media.url_for(uuid.UUID(session_id), "final/interview.mp4")
        for _ in range(10):
            assert (await http.get(in_app(url), headers={"Range": "bytes=0-9"})).status_code == 206
        statuses = [(await http.get("/sessions")).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]  # the address still had its two other requests


# Deleting a session deletes its media


async def test_deleting_a_session_deletes_its_media(
    client: httpx.AsyncClient, guest_headers: dict[str, str], settings: Settings
) -> None:
    session_id, folder = await new_recording(client, guest_headers, settings)
    kept_id, kept = await new_recording(client, guest_headers, settings)
    url = await video_url(client, guest_headers, session_id)
    deleted = await client.delete(f"/sessions/{session_id}", headers=guest_headers)
    assert deleted.status_code == 200
    assert not folder.exists()
    assert kept.is_dir()
    assert (await client.get(url)).status_code == 404
    assert (await recording(client, guest_headers, kept_id))["state"] == "finalised"
    never_recorded = (await create(client, guest_headers))["id"]
    assert (
        await client.delete(f"/sessions/{never_recorded}", headers=guest_headers)
    ).status_code == 200


async def test_openapi_documents_the_media_endpoints(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    recording_op = paths["/sessions/{sessionId}/recording"]["get"]
    assert recording_op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RecordingOut"
    }
    assert {"sessionId", "tracks", "outputs"} <= set(
        document["components"]["schemas"]["RecordingOut"]["properties"]
    )
    file_op = paths["/media/{sessionId}/{path}"]["get"]
    assert "security" not in file_op
    assert {p["name"] for p in file_op["parameters"]} == {
        "sessionId",
        "path",
        "expires",
        "signature",
    }
    assert "application/octet-stream" in file_op["responses"]["200"]["content"]
    redirect = paths["/sessions/{sessionId}/recording/files/{name}"]["get"]
    assert "307" in redirect["responses"]


# S3


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with running_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
async def s3_settings(tmp_path: Path, database_url: str, s3_endpoint: str) -> Settings:
    bucket = f"media-{uuid.uuid4().hex[:12]}"
    client_for(s3_endpoint).create_bucket(Bucket=bucket)
    return make_settings(
        tmp_path,
        database_url,
        media_storage="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=bucket,
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )


@pytest.fixture
async def s3_app(s3_settings: Settings, mailer: RecordingMailer) -> AsyncIterator[Starlette]:
    application = create_app(s3_settings, mailer=mailer)
    async with application.router.lifespan_context(application):
        yield application


async def test_with_s3_urls_are_presigned_once_uploaded_and_delete_empties_the_bucket(
    s3_app: Starlette, s3_settings: Settings, s3_endpoint: str
) -> None:
    bucket = s3_settings.s3_bucket
    assert bucket is not None
    async with api_client(s3_app) as client:
        headers = bearer(await register(client))
        session_id, folder = await new_recording(client, headers, s3_settings)
        before = await recording(client, headers, session_id)
        assert before["outputs"]["video"].startswith(f"{PUBLIC}/media/")  # not uploaded yet

        await context(s3_app).media.upload_session(uuid.UUID(session_id), folder)
        body = await recording(client, headers, session_id)
        video = body["outputs"]["video"]
        assert video.startswith(f"{s3_endpoint}/{bucket}/media/{session_id}/final/interview.mp4?")
        assert "X-Amz-Expires=3600" in video
        guest_audio, _, host_audio = body["tracks"]
        assert guest_audio["url"].startswith(f"{s3_endpoint}/{bucket}/")
        assert (host_audio["state"], host_audio["url"]) == ("recording", None)
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(video)).content == VIDEO
            part = await http.get(video, headers={"Range": "bytes=256-511"})
            assert (part.status_code, part.content) == (206, VIDEO[256:512])
            vtt = await http.get(body["outputs"]["transcript"]["vtt"])
            assert vtt.headers["content-type"] == "text/vtt; charset=utf-8"
        redirect = await client.get(
            f"/sessions/{session_id}/recording/files/video", headers=headers
        )
        assert redirect.headers["location"].startswith(f"{s3_endpoint}/{bucket}/")

        s3 = client_for(s3_endpoint)
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == len(OUTPUTS) + 2
        deleted = await client.delete(f"/sessions/{session_id}", headers=headers)
        assert deleted.status_code == 200
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
        assert not folder.exists()


async def test_a_file_link_takes_the_token_in_its_query_for_video_tags(
    client: httpx.AsyncClient, guest: dict[str, Any], settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {guest['accessToken']}"}
    session_id, _ = await new_recording(client, headers, settings)
    base = f"/sessions/{session_id}/recording/files/video"
    linked = await client.get(base, params={"token": guest["accessToken"]})
    assert linked.status_code == 307
    assert (await client.get(base)).status_code == 401
    # Other endpoints do not take tokens from the query string.
    listed = await client.get("/sessions", params={"token": guest["accessToken"]})
    assert listed.status_code == 401
