"""Recordings across nodes: two app instances on one PostgreSQL, each with its own `DATA_DIR`.

With S3 a real interview is recorded and finalised on node a, and node b answers for it
exactly as a does: the manifest, URLs that download the bytes, the `videoUrl` redirect.
With local storage node b lists the recording too, and a file on a's disk that reaches b
is a 503 `media_on_other_node` (unless the nodes share `DATA_DIR`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from config import Settings
from monumento.app import create_app
from recorder.manifest import read_manifest, session_media_dir
from tests.api.test_media import PUBLIC, VIDEO, context, in_app, prepare_recording, recording
from tests.api.test_sessions import create
from tests.conftest import api_client, bearer, make_settings, register
from tests.live_server import serve
from tests.media.test_storage import client_for, running_s3_server
from tests.rtc.guest_client import GuestClient
from tests.signaling.test_interview_socket import finished_session, new_session, socket_url


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with running_s3_server() as endpoint:
        yield endpoint


def node_settings(data_dir: Path, database_url: str, node_id: str, **storage: Any) -> Settings:
    """One node's settings: its own `DATA_DIR` (unless shared), the deployment's database."""
    settings = make_settings(
        data_dir, database_url, node_id=node_id, rtc_host_addresses="127.0.0.1", **storage
    )
    return settings.model_copy(update={"data_dir": data_dir})


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """A node in-process: its app (lifespan entered) and a client for it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), api_client(app) as client:
        yield app, client


def without_queries(body: dict[str, Any]) -> dict[str, Any]:
    """The recording with each URL cut before its query (the signature's time differs)."""

    def cut(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: cut(item) for key, item in value.items()}
        if isinstance(value, list):
            return [cut(item) for item in value]
        return value.split("?", 1)[0] if isinstance(value, str) and "?" in value else value

    return {key: cut(value) for key, value in body.items()}


def urls(body: dict[str, Any]) -> list[str]:
    """Every URL in a recording."""
    outputs = body["outputs"]  # an output not made yet is left out
    transcript = outputs.get("transcript") or {}
    listed = [track.get("url") for track in body["tracks"]] + [
        outputs.get(key) for key in ("video", "audio", "thumbnail")
    ]
    return [url for url in [*listed, *transcript.values()] if url is not None]


async def listed_on(client: httpx.AsyncClient, headers: dict[str, str], session_id: str) -> Any:
    """The recording once the node lists it (its first track is opened a second in)."""
    async with asyncio.timeout(60):
        while True:
            response = await client.get(f"/sessions/{session_id}/recording", headers=headers)
            if response.status_code == 200:
                return response.json()
            assert response.json()["code"] == "no_recording"
            await asyncio.sleep(0.1)


async def test_an_interview_recorded_on_one_node_is_read_from_another(
    tmp_path: Path, empty_postgres: str, s3_endpoint: str
) -> None:
    bucket = f"media-{uuid.uuid4().hex[:12]}"
    client_for(s3_endpoint).create_bucket(Bucket=bucket)
    s3 = {
        "media_storage": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_bucket": bucket,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }
    a_settings = node_settings(tmp_path / "a", empty_postgres, "a", **s3)
    b_settings = node_settings(tmp_path / "b", empty_postgres, "b", **s3)
    async with serve(create_app(a_settings)) as a, running(b_settings) as (_, b):
        token, headers, session_id = await new_session(a)
        guest = GuestClient(socket_url(a, session_id, token))
        try:
            await guest.join()
            await guest.wait_for(lambda e: e["type"] == "host" and e["state"] == "listening")
            # While it is recorded, node b lists it already; growing tracks have no URL.
            live = await listed_on(b, headers, session_id)
            assert live["state"] == "recording"
            assert live["tracks"] and urls(live) == []
            await guest.send({"type": "end"})
            await guest.wait_for(lambda e: e["type"] == "state" and e["state"] == "ended")
        finally:
            await guest.close()
        session = await finished_session(a, headers, session_id)
        assert session["status"] == "ready"

        async with httpx.AsyncClient(base_url=f"{a.http}/api/v1") as on_a:
            at_a = await recording(on_a, headers, session_id)
        at_b = await recording(b, headers, session_id)
        assert at_b["state"] == "finalised"
        assert without_queries(at_b) == without_queries(at_a)
        folder = session_media_dir(a_settings.data_dir, session_id)
        manifest = read_manifest(folder)
        assert manifest is not None
        assert [track["name"] for track in at_b["tracks"]] == [t.name for t in manifest.tracks]
        assert not session_media_dir(b_settings.data_dir, session_id).exists()

        bucket_prefix = f"{s3_endpoint}/{bucket}/media/{session_id}/"
        assert len(urls(at_b)) == len(manifest.tracks) + 7  # every track, every output
        assert all(url.startswith(bucket_prefix) for url in urls(at_b))
        video_file = (folder / manifest.outputs["video"]).read_bytes()
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(at_b["outputs"]["video"])).content == video_file
            # The session's stable videoUrl, followed on node b.
            assert session["videoUrl"].startswith(PUBLIC)
            redirect = await b.get(session["videoUrl"].removeprefix(PUBLIC), headers=headers)
            assert redirect.status_code == 307
            assert redirect.headers["location"].startswith(f"{bucket_prefix}final/interview.mp4?")
            followed = await http.get(redirect.headers["location"])
            assert (followed.status_code, followed.content) == (200, video_file)


async def test_local_files_on_another_nodes_disk_are_a_clear_503(
    tmp_path: Path, empty_postgres: str
) -> None:
    """Made before the catalog (only on a's disk), listed by a's next start, then read on b."""
    a_settings = node_settings(tmp_path / "a", empty_postgres, "a")
    b_settings = node_settings(tmp_path / "b", empty_postgres, "b")
    async with running(a_settings) as (_, a), running(b_settings) as (_, b):
        headers = bearer(await register(a))
        session_id = (await create(a, headers))["id"]
        prepare_recording(a_settings.data_dir, session_id)  # on disk, never published
        at_a = await recording(a, headers, session_id)  # the recording node reads its disk
        missing = await b.get(f"/sessions/{session_id}/recording", headers=headers)
        assert (missing.status_code, missing.json()["code"]) == (404, "no_recording")
    async with running(a_settings) as (_, a), running(b_settings) as (b_app, b):  # a restarts
        at_b = await recording(b, headers, session_id)
        assert without_queries(at_b) == without_queries(at_a)
        video = in_app(at_b["outputs"]["video"])
        assert (await a.get(video)).content == VIDEO  # a has the file
        refused = await b.get(video)
        assert refused.status_code == 503
        assert refused.json()["code"] == "media_on_other_node"
        assert "node a" in refused.json()["error"] and "DATA_DIR" in refused.json()["error"]
        redirect = await b.get(f"/sessions/{session_id}/recording/files/video", headers=headers)
        assert redirect.status_code == 307
        assert in_app(redirect.headers["location"]).split("?")[0] == video.split("?")[0]
        # A file the recording does not list is missing, on any node.
        other = f"{session_id}/final/other.mp4"
        unlisted = await b.get(f"/media/{other}?{context(b_app).media_signer.query(other)}")
        assert (unlisted.status_code, unlisted.json()["code"]) == (404, "not_found")
        document = (await b.get("/openapi.json")).json()
        assert "503" in document["paths"]["/media/{sessionId}/{path}"]["get"]["responses"]


async def test_nodes_that_share_data_dir_serve_each_others_files(
    tmp_path: Path, empty_postgres: str
) -> None:
    shared = tmp_path / "shared"
    a_settings = node_settings(shared, empty_postgres, "a")
    b_settings = node_settings(shared, empty_postgres, "b")
    async with running(a_settings) as (a_app, a), running(b_settings) as (_, b):
        headers = bearer(await register(a))
        session_id = (await create(a, headers))["id"]
        prepare_recording(shared, session_id)
        await context(a_app).recordings.publish(uuid.UUID(session_id))
        at_b = await recording(b, headers, session_id)
        served = await b.get(in_app(at_b["outputs"]["video"]))
        assert (served.status_code, served.content) == (200, VIDEO)
