"""Chooses the media backend the settings name and builds it with its URL signer."""

from __future__ import annotations

from config import Settings
from media.s3 import S3MediaStorage, s3_client
from media.signing import MediaSigner
from media.storage import LocalMediaStorage, MediaStorage


def build_media_storage(settings: Settings, base_url: str) -> tuple[MediaStorage, MediaSigner]:
    """The storage `MEDIA_STORAGE` names, and the signer of the URLs the app serves.

    `base_url` is where the app's media route is reached from outside, e.g.
    `https://api.example.com/api/v1/media`. Both backends keep the local signer: the S3 one
    falls back to it for files not uploaded yet.
    """
    signer = MediaSigner(settings.resolved_jwt_secret(), settings.media_url_ttl_seconds)
    local = LocalMediaStorage(settings.data_dir, signer, base_url)
    if settings.media_storage == "local":
        return local, signer
    if not settings.s3_bucket:
        raise ValueError("MEDIA_STORAGE=s3 needs S3_BUCKET: the bucket to keep recordings in")
    secret = settings.s3_secret_access_key
    client = s3_client(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
    )
    storage = S3MediaStorage(
        local,
        client,
        bucket=settings.s3_bucket,
        prefix=settings.s3_prefix,
        ttl_seconds=settings.media_url_ttl_seconds,
    )
    return storage, signer
