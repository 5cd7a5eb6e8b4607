"""Which pages may open a socket, without a socket."""

from __future__ import annotations

from signaling.origins import OriginPolicy

POLICY = OriginPolicy(["http://localhost:3000", "https://app.example.com/"])


def test_clients_without_an_origin_are_native_apps_and_allowed() -> None:
    assert POLICY.allows(None, scheme="ws", host="api.example.com")


def test_cors_origins_are_allowed_in_any_case_and_others_refused() -> None:
    assert POLICY.allows("http://localhost:3000", scheme="ws", host="127.0.0.1:8080")
    assert POLICY.allows("HTTPS://App.Example.com", scheme="wss", host="api.example.com")
    assert not POLICY.allows("https://evil.example", scheme="wss", host="api.example.com")
    assert not POLICY.allows("null", scheme="ws", host="127.0.0.1:8080")
    assert not POLICY.allows("http://localhost:3001", scheme="ws", host="127.0.0.1:8080")


def test_the_servers_own_pages_are_allowed_on_the_same_scheme_and_host() -> None:
    assert POLICY.allows("http://127.0.0.1:8080", scheme="ws", host="127.0.0.1:8080")
    assert POLICY.allows("https://studio.example.com", scheme="wss", host="Studio.example.com")
    assert not POLICY.allows("http://studio.example.com", scheme="wss", host="studio.example.com")
    assert not POLICY.allows("http://127.0.0.1:8081", scheme="ws", host="127.0.0.1:8080")
    assert not POLICY.allows("http://127.0.0.1:8080", scheme="ws", host=None)


def test_a_star_allows_every_origin() -> None:
    assert OriginPolicy(["*"]).allows("https://anywhere.example", scheme="wss", host="a.b")
