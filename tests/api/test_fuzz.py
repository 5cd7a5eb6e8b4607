"""Every route of the app, fuzzed with Hypothesis on both databases: hostile bodies, path
parameters, query strings, methods, content types and tokens never get a 5xx, every 4xx has
the contract's error body, nothing is logged as an error, and afterwards the server is
healthy and the users' lists still read.

The routes come from the app itself, so a new route is fuzzed as soon as it exists; one the
fuzzer cannot fill in (a new path parameter, an API route missing from the OpenAPI document,
a request model without an example body) fails `test_the_fuzzer_covers_every_route`.
Run longer with `HYPOTHESIS_PROFILE=deep` (see README.md, Tests).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from api import schemas
from api.openapi import OPERATIONS, Operation
from auth.tokens import TokenSigner
from config import Settings
from monumento.app import API_PREFIX, create_app
from tests.api.test_media import OUTPUTS, context, prepare_recording
from tests.api.test_sessions import NEW_SESSION
from tests.conftest import PASSWORD, RecordingMailer, api_client, make_settings, register
from tests.hostile import (
    EDGE_INTEGERS,
    dumps,
    hostile_values,
    integers,
    logged_errors,
    object_with_hostile,
    objects_like,
    raw_bodies,
    run_examples,
    wire_text,
)

WEBSOCKET_ROUTES = {
    f"{API_PREFIX}/sessions/{{session_id}}/interview",  # tests/signaling/test_fuzz_socket.py
    f"{API_PREFIX}/sessions/{{session_id}}/director",  # tests/director/test_fuzz_socket.py
}
EXAMPLE_BODIES: dict[type[BaseModel], dict[str, Any]] = {
    schemas.RegisterRequest: {"email": "new@example.com", "password": PASSWORD, "fullName": "N"},
    schemas.LoginRequest: {"email": "victim@example.com", "password": "not the password"},
    schemas.RefreshRequest: {"refreshToken": "not-a-refresh-token"},
    schemas.LogoutRequest: {"refreshToken": "not-a-refresh-token"},
    schemas.SessionCreateRequest: {**NEW_SESSION, "videoUrl": "https://cdn.example/v.mp4"},
    schemas.SessionUpdateRequest: {
        **NEW_SESSION,
        "status": "ready",
        "videoUrl": "https://cdn.example/v.mp4",
        "transcriptUrl": "https://cdn.example/t.txt",
        "summary": "A summary",
    },
    schemas.MessageCreateRequest: {
        "role": "user",
        "text": "hello",
        "relativeOffset": 1200,
        "audioUrl": "https://cdn.example/a.ogg",
        "metadata": {"final": True},
    },
    schemas.MessageUpdateRequest: {"text": "edited", "relativeOffset": 5, "metadata": {}},
}
MESSAGE = {"role": "ai", "text": "Welcome"}
BARE_OBJECT = {"guestName": "Ada", "topics": ["one"]}  # PATCH .../metadata merges any object
STUDIO_ASSETS = "/studio/"
PATH_PARAMETERS = {"session_id", "message_id", "name", "path"}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]
CONTENT_TYPES = [
    None,
    "application/json; charset=utf-16",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "application/xml",
    "garbage/;;;",
]
TOKENS = ["other", "none", "expired", "foreign", "unsigned", "garbage", "refresh"]
QUERY_DEFAULTS = {"page": "0", "size": "10", "paged": "true", "token": "not-a-token"}
"""Valid values of the query parameters of OPERATIONS, one or two of which are made hostile
(`expires` and `signature` are the media route's: genuine ones are drawn there by `sign`)."""
QUERY_NAMES = [*QUERY_DEFAULTS, "expires", "signature", "q", "status", "format"]


@dataclass(frozen=True, slots=True)
class Target:
    """One method of one route, as the fuzzer sends it."""

    method: str
    template: str

    @property
    def operation(self) -> Operation | None:
        """Its entry in the OpenAPI document, if it is an API route."""
        path = self.template.removeprefix(API_PREFIX)
        path = path.replace("{session_id}", "{sessionId}").replace("{message_id}", "{messageId}")
        path = path.replace("{path:path}", "{path}")
        for operation in OPERATIONS:
            if (operation.method.upper(), operation.path) == (self.method, path):
                return operation
        return None


def app_targets(app: Starlette) -> list[Target]:
    """Every (method, route) the app serves, read from its routing table."""
    found: list[Target] = []

    def walk(routes: list[BaseRoute], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount) and route.routes:
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Mount):  # static files
                found.append(Target("GET", f"{prefix}{route.path}/{{path:path}}"))
            elif isinstance(route, Route):
                found.extend(
                    Target(m, prefix + route.path) for m in route.methods or () if m != "HEAD"
                )
            elif isinstance(route, WebSocketRoute):
                found.append(Target("WEBSOCKET", prefix + route.path))
            else:
                raise AssertionError(f"the fuzzer does not know routes like {route!r}")

    walk(app.routes, "")
    # Deletions last, so that what they delete was there for every other route.
    return sorted(set(found), key=lambda t: (t.method == "DELETE", t.template, t.method))


def example_body(target: Target) -> tuple[dict[str, Any], list[str]] | None:
    """A valid body for `target` and the fields its model has, or None if it takes none."""
    operation = target.operation
    if operation is not None and operation.request is not None:
        model = operation.request
        return EXAMPLE_BODIES[model], [f.alias or name for name, f in model.model_fields.items()]
    if target.template.endswith("/metadata"):
        return BARE_OBJECT, list(BARE_OBJECT)
    return None


def parameters(template: str) -> list[str]:
    """The names of `template`'s path parameters (`{path:path}` is `path`)."""
    return [part.split("}")[0].split(":")[0] for part in template.split("{")[1:]]


async def test_the_fuzzer_covers_every_route(app: Starlette) -> None:
    targets = app_targets(app)
    assert len(targets) > 20
    for target in targets:
        unknown = set(parameters(target.template)) - PATH_PARAMETERS
        assert not unknown, f"{target}: teach the fuzzer path parameters {unknown}"
        if target.method == "WEBSOCKET":
            assert target.template in WEBSOCKET_ROUTES, f"{target}: add a socket fuzz test"
        elif target.template.startswith(API_PREFIX) and not target.template.endswith(
            "openapi.json"
        ):
            operation = target.operation
            assert operation is not None, f"{target}: document it in api/openapi.py"
            if operation.request is not None:
                assert operation.request in EXAMPLE_BODIES, f"{target}: add an example body"


# The world the fuzzer attacks: two users, their sessions and messages, a recording


@dataclass
class World:
    """Ids and tokens the fuzzer draws from; accounts are signed in again after a logout."""

    app: Starlette
    client: httpx.AsyncClient
    auth: dict[str, dict[str, Any]]
    ids: dict[str, str]
    forged: dict[str, str] = field(default_factory=dict)

    async def sign_in_again(self, who: str) -> None:
        email = self.auth[who]["user"]["email"]
        response = await self.client.post(
            "/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        self.auth[who] = response.json()

    def token(self, kind: str) -> str | None:
        if kind in self.auth:
            return str(self.auth[kind]["accessToken"])
        if kind == "refresh":
            return str(self.auth["owner"]["refreshToken"])
        return self.forged.get(kind)

    async def resolve(self, values: dict[str, str | Named]) -> dict[str, str]:
        """Drawn path values with the world's names replaced by ids; `fresh` names a session
        made for this example, with one message, so deleting it costs nothing."""
        ids = dict(self.ids)
        if any(isinstance(value, Named) and value.startswith("fresh") for value in values.values()):
            headers = {"Authorization": f"Bearer {self.token('owner')}"}
            session = await self.client.post("/sessions", json=NEW_SESSION, headers=headers)
            assert session.status_code == 201, session.text
            ids["fresh"] = session.json()["id"]
            message = await self.client.post(
                f"/sessions/{ids['fresh']}/messages", json=MESSAGE, headers=headers
            )
            assert message.status_code == 201, message.text
            ids["fresh_message"] = message.json()["id"]
        return {
            name: ids[value] if isinstance(value, Named) else value
            for name, value in values.items()
        }


async def build_world(app: Starlette, client: httpx.AsyncClient, settings: Settings) -> World:
    owner, other = await register(client), await register(client)
    await register(client, "victim@example.com")  # login attempts go here, not to the owner
    ids: dict[str, str] = {}
    for who, auth in (("owner", owner), ("other", other)):
        headers = {"Authorization": f"Bearer {auth['accessToken']}"}
        session = await client.post("/sessions", json=NEW_SESSION, headers=headers)
        message = await client.post(
            f"/sessions/{session.json()['id']}/messages", json=MESSAGE, headers=headers
        )
        ids[f"{who}_session"], ids[f"{who}_message"] = session.json()["id"], message.json()["id"]
    recorded = await client.post(
        "/sessions", json=NEW_SESSION, headers={"Authorization": f"Bearer {owner['accessToken']}"}
    )
    ids["recorded_session"] = recorded.json()["id"]
    prepare_recording(settings.data_dir, ids["recorded_session"])
    secret = settings.resolved_jwt_secret()
    owner_id, family = uuid.UUID(owner["user"]["id"]), uuid.uuid4()
    algorithm = settings.jwt_algorithm

    def signer(key: str, ttl_s: int) -> TokenSigner:
        return TokenSigner(key, algorithm=algorithm, access_ttl=timedelta(seconds=ttl_s))

    unsigned = b".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
        for part in ({"alg": "none", "typ": "JWT"}, {"sub": str(owner_id), "typ": "access"})
    )
    forged = {
        "expired": signer(secret, -60).issue_access(owner_id, "admin", family),
        "foreign": signer("another-secret-" * 4, 900).issue_access(owner_id, "admin", family),
        "unsigned": unsigned.decode() + ".",
        "garbage": "...",
    }
    return World(app, client, {"owner": owner, "other": other}, ids, forged)


# Strategies: what one hostile request is made of


class Named(str):
    """A path value that names something in the world (resolved to its id when sent)."""


def path_values(name: str, target: Target, hostile: bool) -> st.SearchStrategy[str | Named]:
    """Values for one path parameter: the world's names, ours first (`hostile`: any of them,
    another user's too, or junk: text, escapes, UUIDs spelled the ways `uuid.UUID` reads).
    The recording is never deleted: it must still list at the end."""
    template = target.template
    junk = st.one_of(
        wire_text,
        st.sampled_from(["0", "-1", "null", "%2e%2e", "%ff%fe", "%00", "a" * 3000, "😀"]),
        st.uuids().map(str),
        st.uuids().map(lambda u: "{" + str(u).upper() + "}"),
        st.uuids().map(lambda u: f"urn:uuid:{u}"),
        st.uuids().map(lambda u: u.hex),
    )
    sessions = [Named(n) for n in ("fresh", "owner_session", "recorded_session", "other_session")]
    if "recording" in template or "/media/" in template:
        sessions.insert(0, sessions.pop(2))
    elif target.method == "DELETE":
        sessions.remove(Named("recorded_session"))
    files = [*OUTPUTS.values(), "guest-audio.ogg", "manifest.json", "../../etc/passwd"]
    if template.startswith(STUDIO_ASSETS):
        files = ["studio.css", "js/api.js", "favicon.svg", "../index.html", "js/../../../x"]
    messages = [Named(n) for n in ("fresh_message", "owner_message", "other_message")]
    known: list[str | Named] = {
        "session_id": [*sessions],
        "message_id": [*messages],
        "name": ["video", "guest-audio", "host-audio", "mix", "transcript_json", "nothing"],
        "path": [*files],
    }[name]
    return st.one_of(st.sampled_from(known), junk) if hostile else st.just(known[0])


def segment(value: str) -> str:
    """`value` as it travels in a path: `..` and `/` survive the client (encoded)."""
    if value.startswith("%"):
        return value  # already an escape, sent as it is
    return "/".join("%2e%2e" if part == ".." else quote(part, safe="") for part in value.split("/"))


edge_numbers = st.sampled_from(EDGE_INTEGERS).map(str)
query_values = st.one_of(
    edge_numbers,
    edge_numbers,
    integers.map(str),
    st.sampled_from(["", "1e3", "0x10", " 5", "5 ", "+1", "١٢", "true", "TRUE", "%ff", "NaN"]),
    wire_text,
)


@dataclass(frozen=True, slots=True)
class FuzzRequest:
    """A request before the world's names in it are resolved."""

    target: Target
    method: str
    values: dict[str, str | Named]
    query: list[tuple[str, str]]
    sign: bool
    token: str
    headers: dict[str, str]
    body: bytes | None

    def __repr__(self) -> str:
        body = self.body if self.body is None or len(self.body) < 300 else self.body[:300] + b"..."
        return (
            f"FuzzRequest({self.method} {self.target.template} {self.values} ?{self.query} "
            f"sign={self.sign} token={self.token} {self.headers} body={body!r})"
        )


def aspects(target: Target) -> dict[str, int]:
    """What the runs on `target` attack, with their examples: one run per body field, query
    parameter and path parameter, and one for each other part of the request. The rest of
    each request stays valid, so that the hostile part reaches the code behind the checks it
    passes; `all` attacks every part at once."""
    example = example_body(target)
    runs = {f"body.{name}": 3 for name in example[1]} if example else {}
    runs |= {f"query.{name}": 3 for name in known_query(target)}
    runs |= {f"path.{name}": 3 for name in parameters(target.template)}
    return runs | {"body": 6, "query": 2, "headers": 4, "token": 3, "method": 2, "all": 4}


def known_query(target: Target) -> list[str]:
    operation = target.operation
    return [name for name in operation.query if name in QUERY_DEFAULTS] if operation else []


@st.composite
def fuzz_requests(draw: st.DrawFn, target: Target, aspect: str) -> FuzzRequest:
    part, _, name = aspect.partition(".")

    def attacks(what: str, field: str = "") -> bool:
        """Whether this run attacks `what` (the `field` of it, when it names one)."""
        return aspect == "all" or (part == what and name in ("", field))

    method = target.method if target.method != "WEBSOCKET" else "GET"
    if attacks("method"):
        method = draw(st.sampled_from(METHODS))
    values = {
        param: draw(path_values(param, target, attacks("path", param)))
        for param in parameters(target.template)
    }
    query = [
        (param, draw(query_values) if attacks("query", param) else QUERY_DEFAULTS[param])
        for param in known_query(target)
    ]
    if attacks("query") and not name:
        junk = st.tuples(st.sampled_from(QUERY_NAMES) | wire_text, query_values)
        query += draw(st.lists(junk, min_size=1, max_size=3))
    token = "owner"
    if attacks("token"):
        token = draw(st.sampled_from(TOKENS))
    headers = {"Content-Type": "application/json"}
    if attacks("headers"):
        headers = draw(hostile_headers())
    sign = draw(st.booleans())
    return FuzzRequest(
        target, method, values, query, sign, token, headers, draw(bodies(target, aspect))
    )


@st.composite
def hostile_headers(draw: st.DrawFn) -> dict[str, str]:
    headers: dict[str, str] = {}
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        headers["Content-Type"] = content_type
    if draw(st.booleans()):
        headers["Range"] = draw(
            st.sampled_from(["bytes=0-10", "bytes=-5", "bytes=99999999-", "bytes=5-1", "bytes=x"])
            | st.builds("bytes={}-{}".format, integers, integers)
        )
    if draw(st.booleans()):
        headers["Origin"] = draw(st.sampled_from(["http://localhost:3000", "https://evil.example"]))
        headers["Access-Control-Request-Method"] = draw(st.sampled_from(METHODS))
    if draw(st.booleans()):
        headers["X-Request-ID"] = draw(st.text(st.characters(codec="ascii", min_codepoint=32)))
    return headers


def bodies(target: Target, aspect: str) -> st.SearchStrategy[bytes | None]:
    """The route's example body; for `body.<field>` the example with that field hostile; for
    `body` or `all` one almost like it, hostile JSON, or something that is not JSON."""
    example = example_body(target)
    encoded = st.builds(lambda d: dumps(d).encode(), hostile_values)
    anything = st.one_of(raw_bodies, encoded, st.none())
    if aspect in ("body", "all"):
        if example is None:
            return anything
        return st.one_of(st.builds(dumps, objects_like(*example)).map(str.encode), anything)
    if example is None:
        return st.none()
    document, _ = example
    if aspect.startswith("body."):
        field = aspect.removeprefix("body.")
        return st.builds(dumps, object_with_hostile(document, field)).map(str.encode)
    return st.just(dumps(document).encode())


async def send(world: World, request: FuzzRequest) -> httpx.Response:
    values = await world.resolve(request.values)
    path = request.target.template.replace("{path:path}", "{path}")
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", segment(value))
    query = urlencode(request.query)
    if request.sign and "session_id" in values and "path" in values:  # genuine, whatever the path
        signed = context(world.app).media_signer.query(f"{values['session_id']}/{values['path']}")
        query = f"{query}&{signed}" if query else signed
    headers = dict(request.headers)
    if (token := world.token(request.token)) is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"http://testserver{path}" + (f"?{query}" if query else "")
    return await world.client.request(request.method, url, content=request.body, headers=headers)


def check(request: FuzzRequest, response: httpx.Response) -> None:
    """No 5xx, and a 4xx with a body says what went wrong in the contract's shape."""
    described = f"{request.method} {response.request.url} -> {response.status_code}"
    assert response.status_code < 500, f"{described}: {response.text[:500]}"
    if (
        response.status_code >= 400
        and request.method != "HEAD"
        and not byte_level(request, response)
    ):
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(f"{described}: not a JSON error body: {response.text!r}") from None
        assert isinstance(body, dict), described
        assert isinstance(body.get("error"), str) and body["error"], f"{described}: {body}"
        assert isinstance(body.get("code"), str) and body["code"], f"{described}: {body}"


def byte_level(request: FuzzRequest, response: httpx.Response) -> bool:
    """Refusals that Starlette answers in plain text and no page script ever reads: a CORS
    preflight the browser fails on its own, and a `Range` a file cannot serve (400, or 416
    with `Content-Range: bytes */size`, for the media player)."""
    plain = response.headers.get("content-type", "").startswith("text/plain")
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    ranged = "Range" in request.headers and response.status_code in (400, 416)
    return plain and (preflight or ranged)


@pytest.fixture
async def unlimited(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Starlette, Settings]]:
    """The app without the per-user request limit, which would answer most examples 429."""
    settings = make_settings(tmp_path, database_url, rate_limit_per_minute=10**9)
    app = create_app(settings, mailer=RecordingMailer())
    async with app.router.lifespan_context(app):
        yield app, settings


async def test_no_hostile_request_gets_a_5xx_and_the_lists_still_read_afterwards(
    unlimited: tuple[Starlette, Settings],
) -> None:
    app, settings = unlimited
    async with api_client(app) as client:
        world = await build_world(app, client, settings)
        await fuzz_every_route(world)


async def fuzz_every_route(world: World) -> None:
    targets = app_targets(world.app)

    async def attack(request: FuzzRequest) -> None:
        response = await send(world, request)
        check(request, response)
        if request.target.template.endswith("/auth/logout") and response.status_code == 200:
            await world.sign_in_again(request.token if request.token in world.auth else "owner")

    with logged_errors() as errors:
        for target in targets:
            for aspect, count in aspects(target).items():
                await run_examples(fuzz_requests(target, aspect), attack, count)
    assert not errors.records, errors
    await assert_healthy_and_readable(world)


async def assert_healthy_and_readable(world: World) -> None:
    """The probes answer, and each user's sessions, messages and recording still list."""
    for probe in ("/healthz", "/readyz"):
        assert (await world.client.get(f"http://testserver{probe}")).status_code == 200
    for who in world.auth:
        await world.sign_in_again(who)  # whatever the fuzzer did to the account's tokens
        headers = {"Authorization": f"Bearer {world.token(who)}"}
        listed = await world.client.get("/sessions", params={"size": 100}, headers=headers)
        assert listed.status_code == 200, listed.text
        for session in listed.json()["content"]:
            messages = await world.client.get(
                f"/sessions/{session['id']}/messages", headers=headers
            )
            assert messages.status_code == 200, messages.text
    headers = {"Authorization": f"Bearer {world.token('owner')}"}
    recording = await world.client.get(
        f"/sessions/{world.ids['recorded_session']}/recording", headers=headers
    )
    assert recording.status_code == 200, recording.text
