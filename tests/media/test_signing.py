"""Signed media URLs: a round trip passes; expiry, tampering and foreign keys are refused."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import pytest

from config import Settings
from media.signing import InvalidSignatureError, MediaSigner, UrlExpiredError

SECRET = "test-secret-that-is-long-enough-for-every-hmac-size-0123456789abc"
PATH = "0b4f6c1e-8d0a-4f57-9d3e-2f3d1c0a9b88/final/interview.mp4"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signed(signer: MediaSigner, path: str = PATH) -> tuple[str, str]:
    """The `expires` and `signature` of a fresh URL for `path`."""
    query = parse_qs(signer.query(path), strict_parsing=True)
    return query["expires"][0], query["signature"][0]


def test_a_signed_url_verifies_until_it_expires() -> None:
    clock = Clock()
    signer = MediaSigner(SECRET, 3600, clock=clock)
    expires, signature = signed(signer)
    assert int(expires) == 1_800_000_000 + 3600
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32  # SHA-256, no padding sent
    signer.verify(PATH, expires, signature)
    clock.now += 3599
    signer.verify(PATH, expires, signature)
    clock.now += 1
    with pytest.raises(UrlExpiredError) as expired:
        signer.verify(PATH, expires, signature)
    assert expired.value.code == "url_expired"


def test_the_default_lifetime_is_one_hour() -> None:
    settings = Settings(_env_file=None)
    assert settings.media_url_ttl_seconds == 3600


@pytest.mark.parametrize(
    "other_path",
    [
        "0b4f6c1e-8d0a-4f57-9d3e-2f3d1c0a9b88/final/mix.m4a",
        "0b4f6c1e-8d0a-4f57-9d3e-2f3d1c0a9b89/final/interview.mp4",
        PATH + "\n1",
        "../" + PATH,
    ],
)
def test_a_signature_covers_its_path_only(other_path: str) -> None:
    signer = MediaSigner(SECRET, 3600)
    expires, signature = signed(signer)
    with pytest.raises(InvalidSignatureError) as invalid:
        signer.verify(other_path, expires, signature)
    assert invalid.value.code == "invalid_signature"


def test_a_later_expiry_is_refused_even_though_it_is_still_valid() -> None:
    signer = MediaSigner(SECRET, 3600)
    expires, signature = signed(signer)
    with pytest.raises(InvalidSignatureError):
        signer.verify(PATH, str(int(expires) + 86_400), signature)
    with pytest.raises(InvalidSignatureError):
        signer.verify(PATH, "0" + expires, signature)  # same number, different text


def test_an_expired_url_with_a_forged_expiry_is_invalid_not_expired() -> None:
    clock = Clock()
    signer = MediaSigner(SECRET, 60, clock=clock)
    expires, signature = signed(signer)
    clock.now += 3600
    with pytest.raises(UrlExpiredError):
        signer.verify(PATH, expires, signature)
    with pytest.raises(InvalidSignatureError):
        signer.verify(PATH, str(int(clock.now) + 60), signature)


def test_an_altered_signature_is_refused() -> None:
    signer = MediaSigner(SECRET, 3600)
    expires, signature = signed(signer)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in (flipped, signature[:-1], signature + "A", signature.upper(), "é" * 43):
        with pytest.raises(InvalidSignatureError):
            signer.verify(PATH, expires, forged)


@pytest.mark.parametrize(
    ("expires", "signature"),
    [(None, "x"), ("", "x"), ("1800003600", None), ("1800003600", ""), ("soon", "x")],
)
def test_missing_or_malformed_parameters_are_invalid(
    expires: str | None, signature: str | None
) -> None:
    with pytest.raises(InvalidSignatureError):
        MediaSigner(SECRET, 3600).verify(PATH, expires, signature)


def test_non_ascii_digits_and_absurd_expiries_are_invalid() -> None:
    signer = MediaSigner(SECRET, 3600)
    _, signature = signed(signer)
    for expires in ("١٨٠٠٠٠٣٦٠٠", "²", "9" * 13, "-1", "+1800003600", " 1800003600"):
        with pytest.raises(InvalidSignatureError):
            signer.verify(PATH, expires, signature)


def test_another_secret_signs_differently() -> None:
    clock = Clock()
    ours = MediaSigner(SECRET, 3600, clock=clock)
    theirs = MediaSigner(SECRET + "x", 3600, clock=clock)
    expires, signature = signed(theirs)
    with pytest.raises(InvalidSignatureError):
        ours.verify(PATH, expires, signature)
    assert signed(ours) != signed(theirs)
