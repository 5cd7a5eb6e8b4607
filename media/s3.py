"""Media in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), served by presigned URLs.

Finished files are uploaded under `{S3_PREFIX}/{session_id}/{relative path}` with their
content type, multipart above `part_size`. What was uploaded is noted in the session folder
(`.uploaded.json`: each file's size and mtime then), which makes uploads idempotent and lets
`url_for` fall back to the app's own signed URL for a file not uploaded yet (a track still
being recorded, outputs before the upload) or changed since. boto3 blocks, so every call
runs in a worker thread; its timeouts and retries bound each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from media.content_types import content_type
from media.storage import LocalMediaStorage, find_file, finished_files

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

UPLOADED = ".uploaded.json"
DEFAULT_PART_SIZE = 8 * 1024 * 1024  # S3's minimum part is 5 MiB
Stamps = dict[str, list[int]]  # relative path -> [size, mtime_ns] when uploaded


class MediaDeleteError(Exception):
    """The bucket kept some of a session's objects when asked to delete them."""


def s3_client(
    *,
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> S3Client:
    """A client for AWS (no endpoint) or any S3-compatible endpoint (path-style addressing).

    Without keys, boto3's usual chain applies (environment, profile, instance role).
    Checksums are sent only where S3 requires them, which R2 and older MinIO accept.
    """
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        connect_timeout=10,
        read_timeout=60,
        retries={"max_attempts": 4, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )


class S3MediaStorage:
    """The session folder mirrored to a bucket once finished; URLs are presigned GETs."""

    def __init__(
        self,
        local: LocalMediaStorage,
        client: S3Client,
        *,
        bucket: str,
        prefix: str,
        ttl_seconds: int,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        self._local = local
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._ttl = ttl_seconds
        self._transfer = TransferConfig(
            multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=4
        )

    def folder(self, session_id: uuid.UUID) -> Path:
        """The session's folder on this machine, where the recorder writes."""
        return self._local.folder(session_id)

    def key(self, session_id: uuid.UUID, relative_path: str) -> str:
        """The object key of a session file."""
        return "/".join(part for part in (self._prefix, str(session_id), relative_path) if part)

    async def upload_session(self, session_id: uuid.UUID, folder: Path) -> None:
        """Upload the finished files not uploaded yet (or changed since)."""
        await asyncio.to_thread(self._upload, session_id, folder)

    async def url_for(self, session_id: uuid.UUID, relative_path: str) -> str:
        """A presigned GET once the file is in the bucket; until then the app's signed URL."""
        presigned = await asyncio.to_thread(self._presigned, session_id, relative_path)
        if presigned is None:
            return await self._local.url_for(session_id, relative_path)
        return presigned

    async def delete_session(self, session_id: uuid.UUID) -> None:
        """Delete the session's objects, then its local folder."""
        await asyncio.to_thread(self._delete_objects, session_id)
        await self._local.delete_session(session_id)

    def _upload(self, session_id: uuid.UUID, folder: Path) -> None:
        uploaded = _read_stamps(folder)
        for relative_path in finished_files(folder):
            stamp = _stamp(folder, relative_path)
            if stamp is None or uploaded.get(relative_path) == stamp:
                continue
            self._client.upload_file(
                str(folder / relative_path),
                self._bucket,
                self.key(session_id, relative_path),
                ExtraArgs={"ContentType": content_type(relative_path)},
                Config=self._transfer,
            )
            uploaded[relative_path] = stamp
            _write_stamps(folder, uploaded)

    def _presigned(self, session_id: uuid.UUID, relative_path: str) -> str | None:
        folder = self.folder(session_id)
        stamp = _read_stamps(folder).get(relative_path)
        if stamp is None or stamp != _stamp(folder, relative_path):
            return None
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": self.key(session_id, relative_path)},
            ExpiresIn=self._ttl,
        )

    def _delete_objects(self, session_id: uuid.UUID) -> None:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=self.key(session_id, "") + "/"
        )
        for page in pages:  # at most 1000 keys a page, as many as one DeleteObjects takes
            objects: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            if not objects:
                continue
            answer = self._client.delete_objects(
                Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True}
            )
            if answer.get("Errors"):
                kept = ", ".join(error.get("Key", "?") for error in answer["Errors"])
                raise MediaDeleteError(f"bucket {self._bucket} kept {kept}")


def _stamp(folder: Path, relative_path: str) -> list[int] | None:
    found = find_file(folder, relative_path)
    if found is None:
        return None
    return [found[1].st_size, found[1].st_mtime_ns]


def _read_stamps(folder: Path) -> Stamps:
    try:
        document = json.loads((folder / UPLOADED).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # never uploaded, or a damaged note: upload again
        return {}
    return document if isinstance(document, dict) else {}


def _write_stamps(folder: Path, stamps: Stamps) -> None:
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".uploaded-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(stamps, file)
        os.replace(temporary, folder / UPLOADED)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
