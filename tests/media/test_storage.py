"""Media storage: the local folder and its safety checks, and S3 against a real S3 server.

The S3 tests run the real boto3 client over HTTP against moto's S3 server, started here
on 127.0.0.1 (a free port) in a thread of the test process. If it cannot start, the tests
fail: they are never skipped.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
from moto.server import ThreadedMotoServer

from media.build import build_media_storage
from media.content_types import content_type
from media.s3 import UPLOADED, S3MediaStorage, s3_client
from media.signing import MediaSigner
from media.storage import LocalMediaStorage, find_file, finished_files
from recorder.manifest import Manifest, TrackEntry, session_media_dir, write_manifest
from tests.conftest import make_settings

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

SECRET = "test-secret-that-is-long-enough-for-every-hmac-size-0123456789abc"
BASE_URL = "http://media.test/api/v1/media"
MIB = 1024 * 1024
S3_START_TIMEOUT_S = 20.0


@contextmanager
def running_s3_server() -> Iterator[str]:
    """An S3-compatible server (moto) on 127.0.0.1; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # `start` waits for a ready event that a failed bind never sets: bound the wait.
    starter = threading.Thread(target=server.start, name="s3-server-start", daemon=True)
    starter.start()
    starter.join(S3_START_TIMEOUT_S)
    if starter.is_alive():
        pytest.fail(f"the S3 server did not start within {S3_START_TIMEOUT_S} s")
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client_for(endpoint: str) -> S3Client:
    """The production client, pointed at the test server."""
    return s3_client(
        endpoint_url=endpoint, region="us-east-1", access_key_id="test", secret_access_key="test"
    )


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with running_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the test server."""
    name = f"media-{uuid.uuid4().hex[:12]}"
    client_for(s3_endpoint).create_bucket(Bucket=name)
    return name


def make_recording(data_dir: Path, session_id: uuid.UUID, *, big: int = 0) -> Path:
    """A session folder with a manifest, three tracks and finalisation's outputs."""
    folder = session_media_dir(data_dir, session_id)
    (folder / "final").mkdir(parents=True)
    files = {
        "guest-audio.ogg": b"OggS" + bytes(range(256)) * 8,
        "host-audio.wav": b"RIFF" + bytes(4000),
        "guest-video.ivf": b"DKIF" + bytes(3000),
        "final/interview.mp4": os.urandom(big or 70_000),
        "final/mix.m4a": os.urandom(20_000),
        "final/thumbnail.jpg": b"\xff\xd8\xff" + bytes(500),
        "final/transcript.vtt": b"WEBVTT\n",
        "final/.mix.flac.partial": b"half-written",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    write_manifest(
        folder,
        Manifest(
            session_id=str(session_id),
            state="finalised",
            tracks=[
                TrackEntry(
                    "guest-audio", "audio", "guest", "opus", "guest-audio.ogg", 0, 9000, "complete"
                ),
                TrackEntry(
                    "host-audio",
                    "audio",
                    "host",
                    "pcm_s16le",
                    "host-audio.wav",
                    120,
                    8800,
                    "repaired",
                ),
                TrackEntry(
                    "guest-video", "video", "guest", "vp8", "guest-video.ivf", 40, None, "recording"
                ),
            ],
            outputs={"video": "final/interview.mp4", "mix": "final/mix.m4a"},
            progress=1.0,
        ),
    )
    return folder


def local_storage(data_dir: Path) -> LocalMediaStorage:
    return LocalMediaStorage(data_dir, MediaSigner(SECRET, 3600), BASE_URL)


def s3_storage(data_dir: Path, endpoint: str, bucket: str, *, part_size: int) -> S3MediaStorage:
    return S3MediaStorage(
        local_storage(data_dir),
        client_for(endpoint),
        bucket=bucket,
        prefix="/recordings/",
        ttl_seconds=600,
        part_size=part_size,
    )


def keys(endpoint: str, bucket: str) -> set[str]:
    listing = client_for(endpoint).list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


# Content types


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("final/interview.mp4", "video/mp4"),
        ("final/mix.m4a", "audio/mp4"),
        ("guest-audio.ogg", "audio/ogg"),
        ("camera.webm", "video/webm"),
        ("guest-video.ivf", "video/x-ivf"),
        ("host-audio.wav", "audio/wav"),
        ("final/mix.flac", "audio/flac"),
        ("final/thumbnail.jpg", "image/jpeg"),
        ("final/transcript.json", "application/json"),
        ("final/transcript.srt", "application/x-subrip; charset=utf-8"),
        ("final/transcript.vtt", "text/vtt; charset=utf-8"),
        ("final/transcript.txt", "text/plain; charset=utf-8"),
        ("FINAL/INTERVIEW.MP4", "video/mp4"),
        ("manifest", "application/octet-stream"),
    ],
)
def test_content_types(name: str, expected: str) -> None:
    assert content_type(name) == expected


# The local folder


def test_find_file_stays_inside_the_folder(tmp_path: Path) -> None:
    folder = make_recording(tmp_path, uuid.uuid4())
    (tmp_path / "secret.txt").write_text("not media")
    (folder / "final" / "escape.mp4").symlink_to(tmp_path / "secret.txt")
    (folder / "final" / "inside.mp4").symlink_to(folder / "final" / "interview.mp4")
    found = find_file(folder, "final/interview.mp4")
    assert found is not None and found[0] == (folder / "final/interview.mp4").resolve()
    assert found[1].st_size == 70_000
    assert find_file(folder, "final/inside.mp4") is not None
    for attempt in (
        "../../secret.txt",
        "final/../../../secret.txt",
        "final/../guest-audio.ogg",  # inside, but `..` is refused outright
        str(tmp_path / "secret.txt"),
        "/etc/passwd",
        "..\\..\\secret.txt",
        "final/escape.mp4",  # a symlink out of the folder
        "final",  # a folder, not a file
        ".",
        "",
        "missing.mp4",
        "final/interview.mp4\x00.txt",
    ):
        assert find_file(folder, attempt) is None, attempt


def test_finished_files_skip_tracks_still_recording_and_partial_outputs(tmp_path: Path) -> None:
    folder = make_recording(tmp_path, uuid.uuid4())
    assert finished_files(folder) == [
        "guest-audio.ogg",
        "host-audio.wav",
        "final/interview.mp4",
        "final/mix.m4a",
        "final/thumbnail.jpg",
        "final/transcript.vtt",
    ]


async def test_local_urls_are_signed_for_the_session_path(tmp_path: Path) -> None:
    session_id = uuid.uuid4()
    signer = MediaSigner(SECRET, 3600)
    storage = LocalMediaStorage(tmp_path, signer, BASE_URL + "/")
    url = urlsplit(await storage.url_for(session_id, "final/my interview.mp4"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == (
        f"{BASE_URL}/{session_id}/final/my%20interview.mp4"
    )
    query = dict(part.split("=", 1) for part in url.query.split("&"))
    signer.verify(f"{session_id}/final/my interview.mp4", query["expires"], query["signature"])
    assert storage.folder(session_id) == tmp_path / "media" / str(session_id)


async def test_local_delete_removes_the_folder_and_tolerates_a_missing_one(tmp_path: Path) -> None:
    session_id, other = uuid.uuid4(), uuid.uuid4()
    storage = local_storage(tmp_path)
    folder = make_recording(tmp_path, session_id)
    kept = make_recording(tmp_path, other)
    await storage.upload_session(session_id, folder)  # nothing to do locally
    await storage.delete_session(session_id)
    assert not folder.exists()
    assert kept.is_dir()
    await storage.delete_session(session_id)


# S3


async def test_s3_upload_presigned_get_range_and_delete(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    session_id = uuid.uuid4()
    folder = make_recording(tmp_path, session_id, big=12 * MIB)
    storage = s3_storage(tmp_path, s3_endpoint, bucket, part_size=5 * MIB)
    assert storage.key(session_id, "final/mix.m4a") == f"recordings/{session_id}/final/mix.m4a"

    before = await storage.url_for(session_id, "final/interview.mp4")
    assert before.startswith(f"{BASE_URL}/{session_id}/final/interview.mp4?expires=")

    await storage.upload_session(session_id, folder)
    assert keys(s3_endpoint, bucket) == {
        storage.key(session_id, name) for name in finished_files(folder)
    }
    client = client_for(s3_endpoint)
    video = client.head_object(Bucket=bucket, Key=storage.key(session_id, "final/interview.mp4"))
    assert video["ContentLength"] == 12 * MIB
    assert video["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 2 MiB
    assert video["ContentType"] == "video/mp4"
    vtt = client.head_object(Bucket=bucket, Key=storage.key(session_id, "final/transcript.vtt"))
    assert vtt["ContentType"] == "text/vtt; charset=utf-8"

    url = await storage.url_for(session_id, "final/interview.mp4")
    assert url.startswith(f"{s3_endpoint}/{bucket}/recordings/{session_id}/final/interview.mp4?")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url
    original = (folder / "final/interview.mp4").read_bytes()
    async with httpx.AsyncClient(timeout=30) as http:
        whole = await http.get(url)
        assert whole.status_code == 200
        assert whole.content == original
        part = await http.get(url, headers={"Range": "bytes=5242870-5242889"})
        assert part.status_code == 206
        assert part.content == original[5_242_870:5_242_890]
        assert part.headers["content-range"] == f"bytes 5242870-5242889/{12 * MIB}"
        track = await http.get(await storage.url_for(session_id, "guest-audio.ogg"))
        assert track.content == (folder / "guest-audio.ogg").read_bytes()
    # Still recording, so not uploaded: served by the app instead.
    assert (await storage.url_for(session_id, "guest-video.ivf")).startswith(BASE_URL)

    await storage.delete_session(session_id)
    assert keys(s3_endpoint, bucket) == set()
    assert not folder.exists()


async def test_s3_upload_is_idempotent_and_picks_up_changes(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    session_id = uuid.uuid4()
    folder = make_recording(tmp_path, session_id)
    storage = s3_storage(tmp_path, s3_endpoint, bucket, part_size=5 * MIB)
    await storage.upload_session(session_id, folder)
    assert (folder / UPLOADED).is_file()
    client = client_for(s3_endpoint)
    mix_key = storage.key(session_id, "final/mix.m4a")
    client.delete_object(Bucket=bucket, Key=mix_key)  # behind the storage's back

    await storage.upload_session(session_id, folder)
    assert mix_key not in keys(s3_endpoint, bucket), "an unchanged file was uploaded again"

    (folder / "final/mix.m4a").write_bytes(b"a new mix")
    stale = await storage.url_for(session_id, "final/mix.m4a")
    assert stale.startswith(BASE_URL), "a changed file must not point at the old object"
    await storage.upload_session(session_id, folder)
    assert client.get_object(Bucket=bucket, Key=mix_key)["Body"].read() == b"a new mix"
    assert (await storage.url_for(session_id, "final/mix.m4a")).startswith(s3_endpoint)


async def test_s3_delete_keeps_other_sessions(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    storage = s3_storage(tmp_path, s3_endpoint, bucket, part_size=5 * MIB)
    gone, kept = uuid.uuid4(), uuid.uuid4()
    for session_id in (gone, kept):
        await storage.upload_session(session_id, make_recording(tmp_path, session_id))
    await storage.delete_session(gone)
    remaining = keys(s3_endpoint, bucket)
    assert remaining and all(key.startswith(f"recordings/{kept}/") for key in remaining)
    await storage.delete_session(gone)  # nothing left: not an error


async def test_settings_choose_the_backend(tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    database = "sqlite:///unused.db"
    ttl = {"media_url_ttl_seconds": 120}
    local, signer = build_media_storage(make_settings(tmp_path, database, **ttl), BASE_URL)
    assert isinstance(local, LocalMediaStorage) and signer.ttl_seconds == 120
    with pytest.raises(ValueError, match="S3_BUCKET"):
        build_media_storage(make_settings(tmp_path, database, media_storage="s3"), BASE_URL)

    settings = make_settings(
        tmp_path,
        database,
        media_storage="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=bucket,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_prefix="",
        **ttl,
    )
    storage, _ = build_media_storage(settings, BASE_URL)
    session_id = uuid.uuid4()
    folder = make_recording(settings.data_dir, session_id)
    await storage.upload_session(session_id, folder)
    assert f"{session_id}/final/mix.m4a" in keys(s3_endpoint, bucket)
    url = await storage.url_for(session_id, "final/mix.m4a")
    assert "X-Amz-Expires=120" in url
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(url)).content == (folder / "final/mix.m4a").read_bytes()
