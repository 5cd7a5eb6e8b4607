"""The per-node socket caps, without a socket."""

from __future__ import annotations

import uuid

import pytest

from signaling.quota import SocketQuota, TooManySockets


def test_a_user_holds_at_most_per_user_sockets_of_both_kinds() -> None:
    quota = SocketQuota(per_user=3, directors_per_session=5)
    user, other, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    claims = [quota.claim(user), quota.claim(user, directing=session), quota.claim(user)]
    with pytest.raises(TooManySockets, match="3 sockets open"):
        quota.claim(user, directing=session)
    quota.claim(other)  # another user is not affected
    with claims[0]:
        pass
    with claims[0]:  # giving a place back twice frees it once
        pass
    quota.claim(user)
    with pytest.raises(TooManySockets):
        quota.claim(user)


def test_a_session_has_at_most_directors_per_session_consoles() -> None:
    quota = SocketQuota(per_user=10, directors_per_session=2)
    session = uuid.uuid4()
    first = quota.claim(uuid.uuid4(), directing=session)
    quota.claim(uuid.uuid4(), directing=session)
    with pytest.raises(TooManySockets, match="2 directors already"):
        quota.claim(uuid.uuid4(), directing=session)
    quota.claim(uuid.uuid4(), directing=uuid.uuid4())  # another session's console
    quota.claim(uuid.uuid4())  # a guest socket of the same session is no console
    with first:
        pass
    quota.claim(uuid.uuid4(), directing=session)


def test_a_refused_claim_takes_no_place() -> None:
    quota = SocketQuota(per_user=2, directors_per_session=1)
    user, session = uuid.uuid4(), uuid.uuid4()
    quota.claim(uuid.uuid4(), directing=session)
    with pytest.raises(TooManySockets):
        quota.claim(user, directing=session)  # the console is full: the user's count stays
    quota.claim(user)
    quota.claim(user)
