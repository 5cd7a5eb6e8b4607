"""An offer's DTLS parameters, checked before aiortc sees them (no I/O).

aiortc takes a missing or unusable fingerprint as it is and fails later, in a task nobody
awaits (an `AssertionError` in the log once ICE connects). Checked here, such an offer is
refused at once with a message that says what is wrong.
"""

from __future__ import annotations

import re

# The algorithms aiortc verifies the guest's certificate with, and their digest sizes.
DIGEST_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
SETUP_VALUES = frozenset({"actpass", "active", "passive"})
_HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")
_ALGORITHM = re.compile(r"[A-Za-z0-9-]+")


def dtls_problem(sdp: str) -> str | None:
    """What is wrong with the offer's fingerprints or setup roles, or None if nothing is."""
    session: list[str] = []
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)
    for lines in (session, *sections):
        problem = _fingerprint_problem(lines)
        if problem is not None:
            return problem
    for number, lines in enumerate(sections, start=1):
        kind = lines[0][2:].split(" ", 1)[0]
        where = f"media section {number} ({kind})"
        fingerprints = _values(session, "fingerprint") + _values(lines, "fingerprint")
        if not any(_usable(fingerprint) for fingerprint in fingerprints):
            return (
                f"The offer has no DTLS fingerprint in {where}: "
                "send a=fingerprint:sha-256 <the certificate's digest>"
            )
        setups = _values(lines, "setup") or _values(session, "setup")
        if not setups or setups[-1] not in SETUP_VALUES:
            return f"The offer's DTLS role in {where} must be a=setup:actpass, active or passive"
    return None


def _values(lines: list[str], attribute: str) -> list[str]:
    prefix = f"a={attribute}:"
    return [line[len(prefix) :].strip() for line in lines if line.startswith(prefix)]


def _fingerprint_problem(lines: list[str]) -> str | None:
    for value in _values(lines, "fingerprint"):
        parts = value.split()
        if (
            len(parts) != 2
            or not _ALGORITHM.fullmatch(parts[0])
            or not _HEX_PAIRS.fullmatch(parts[1])
            or (parts[0].lower() in DIGEST_BYTES and not _usable(value))
        ):
            return (
                f"The offer's DTLS fingerprint {value[:80]!r} is malformed: "
                "send a=fingerprint:<sha-256|sha-384|sha-512> <hex bytes separated by colons>"
            )
    return None


def _usable(value: str) -> bool:
    """A fingerprint aiortc can check: a known algorithm and a digest of its size."""
    parts = value.split()
    if len(parts) != 2 or not _HEX_PAIRS.fullmatch(parts[1]):
        return False
    size = DIGEST_BYTES.get(parts[0].lower())
    return size is not None and len(parts[1].split(":")) == size
