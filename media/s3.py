"""Media in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), served by presigned URLs.

Finished files are uploaded under `{S3_PREFIX}/{session_id}/{relative path}` with their
content type, multipart above `part_size`, as conditional writes (`If-None-Match: *` on
PutObject and CompleteMultipartUpload): a recording's object is never replaced. boto3's
`upload_file` cannot send that condition (boto/boto3#4366), so the parts are sent here.
What was uploaded is noted in the session folder (`.uploaded.json`: each file's size and
mtime then), which makes uploads idempotent and lets `url_for` fall back to the app's own
signed URL for a file not uploaded yet (a track still being recorded, outputs before the
upload) or changed since. boto3 blocks, so every call runs in a worker thread; its timeouts
and retries bound each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from media.content_types import content_type
from media.storage import LocalMediaStorage, find_file, finished_files

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

UPLOADED = ".uploaded.json"
DEFAULT_PART_SIZE = 8 * 1024 * 1024  # S3's minimum part is 5 MiB
PARALLEL_PARTS = 4
Stamps = dict[str, list[int]]  # relative path -> [size, mtime_ns] when uploaded


class MediaDeleteError(Exception):
    """The bucket kept some of a session's objects when asked to delete them."""


class MediaConflictError(Exception):
    """The bucket already holds a different object under a recorded file's key; recorded
    files are never replaced, so the upload stops here for someone to look."""


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
        self._part_size = part_size

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

    def mirrored(self, folder: Path) -> list[str]:
        """The files uploaded and unchanged since, as the folder's upload note says."""
        return sorted(
            relative_path
            for relative_path, stamp in _read_stamps(folder).items()
            if stamp == _stamp(folder, relative_path)
        )

    async def link(self, session_id: uuid.UUID, relative_path: str, *, mirrored: bool) -> str:
        """A presigned GET of an object known to be in the bucket (no local note needed, so
        any node can sign it); else the app's signed URL."""
        if not mirrored:
            return await self._local.url_for(session_id, relative_path)
        return await asyncio.to_thread(self._presign, session_id, relative_path)

    def _upload(self, session_id: uuid.UUID, folder: Path) -> None:
        uploaded = _read_stamps(folder)
        for relative_path in finished_files(folder):
            stamp = _stamp(folder, relative_path)
            if stamp is None or uploaded.get(relative_path) == stamp:
                continue
            self._upload_new(folder / relative_path, self.key(session_id, relative_path))
            uploaded[relative_path] = stamp
            _write_stamps(folder, uploaded)

    def _upload_new(self, path: Path, key: str) -> None:
        """Upload a file to a key that must be free. A 412 means the object is there: the
        same file, if its size matches (an earlier upload whose note was lost), else a
        `MediaConflictError`."""
        size = path.stat().st_size
        try:
            if size <= self._part_size:
                with path.open("rb") as body:
                    self._client.put_object(
                        Bucket=self._bucket,
                        Key=key,
                        Body=body,
                        ContentType=content_type(path.name),
                        IfNoneMatch="*",
                    )
            else:
                self._upload_parts(path, key, size)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise
            stored = self._client.head_object(Bucket=self._bucket, Key=key)["ContentLength"]
            if stored != size:
                raise MediaConflictError(
                    f"{self._bucket}/{key} already holds {stored} bytes, not this {size}-byte "
                    "file: recorded files are never replaced; remove the object if it is stale"
                ) from error

    def _upload_parts(self, path: Path, key: str, size: int) -> None:
        upload_id = self._client.create_multipart_upload(
            Bucket=self._bucket, Key=key, ContentType=content_type(path.name)
        )["UploadId"]

        def send(number: int) -> CompletedPartTypeDef:
            with path.open("rb") as file:
                file.seek((number - 1) * self._part_size)
                chunk = file.read(self._part_size)
            answer = self._client.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
            )
            return {"ETag": answer["ETag"], "PartNumber": number}

        try:
            with ThreadPoolExecutor(PARALLEL_PARTS, thread_name_prefix="s3-part") as pool:
                parts = list(pool.map(send, range(1, -(-size // self._part_size) + 1)))
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            with contextlib.suppress(ClientError):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                )
            raise

    def _presigned(self, session_id: uuid.UUID, relative_path: str) -> str | None:
        folder = self.folder(session_id)
        stamp = _read_stamps(folder).get(relative_path)
        if stamp is None or stamp != _stamp(folder, relative_path):
            return None
        return self._presign(session_id, relative_path)

    def _presign(self, session_id: uuid.UUID, relative_path: str) -> str:
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
