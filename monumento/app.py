"""Builds the ASGI app: settings → stores → services → routes and middleware."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Mount, WebSocketRoute

from api import (
    auth_routes,
    health_routes,
    media_routes,
    message_routes,
    metrics_routes,
    openapi,
    session_routes,
    studio_routes,
)
from api.context import ApiContext, ReadinessCheck
from api.errors import EXCEPTION_HANDLERS
from api.identity import IdentityMiddleware
from api.ratelimit import MemoryRateLimiter, RateLimiter, RateLimitMiddleware, RedisRateLimiter
from api.request_id import REQUEST_ID_HEADER, RequestIdMiddleware
from auth.accounts import Accounts
from auth.login_attempts import MemoryAttemptStore, RedisAttemptStore
from auth.login_throttle import AttemptStore, LoginBackoff, LoginThrottle
from auth.mail import EmailSender, build_email_sender
from auth.passwords import Passwords
from auth.revocation_cache import MemoryRevocationCache, RedisRevocationCache
from auth.revocations import RevocationCache, Revocations
from auth.tokens import TokenSigner
from cluster.leases import Leases
from cluster.stores import LeaseStore, MemoryLeaseStore, RedisLeaseStore
from config import Settings
from director.bus import InterviewBus, LocalBus, RedisBus
from director.socket import DirectorContext, director_socket
from media.build import build_media_storage
from media.catalog import RecordingCatalog
from monumento.drain import NodeDrain
from monumento.finalisation import StoreJobHooks
from monumento.interviews import SharedTranscriber, build_registry
from monumento.sentry import ErrorTags
from recorder.jobs import FinalisationQueue, pending_recordings
from recorder.recovery import recover_recordings
from rtc.bridge.offline.speech import SpeechSynthesizer
from rtc.peers.ice import parse_ice_servers
from rtc.registry import BridgeFactory
from signaling.context import SignalingContext
from signaling.handshake import SocketPolicy
from signaling.interview_socket import interview_socket
from signaling.origins import OriginPolicy
from signaling.quota import SocketQuota
from store.database import Database
from store.director_notes import DirectorNoteStore
from store.messages import MessageStore
from store.recordings import RecordingStore
from store.refresh_tokens import RefreshTokenStore
from store.sessions import SessionStore
from store.users import UserStore

API_PREFIX = "/api/v1"
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", f"{API_PREFIX}/openapi.json"})
# Credentials are guessed here, whoever is signed in: these count per client address.
ADDRESS_LIMITED_PATHS = frozenset(
    f"{API_PREFIX}/auth/{name}" for name in ("register", "login", "refresh", "verify-email")
)


def open_database(settings: Settings) -> Database:
    """The configured database; `DATA_DIR` is created first, since SQLite lives in it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Database(settings.resolved_database_url)


def build_revocations(settings: Settings, database: Database, redis: Redis | None) -> Revocations:
    """Revocations checked against a cache in Redis when it is set, else in this process."""
    ttl = settings.access_token_ttl_seconds
    cache: RevocationCache = MemoryRevocationCache(ttl)
    if redis is not None:
        cache = RedisRevocationCache(redis, prefix=settings.redis_key_prefix, access_ttl_s=ttl)
    return Revocations(RefreshTokenStore(database), UserStore(database), cache)


def build_login_throttle(
    settings: Settings, redis: Redis | None, clock: Callable[[], float] | None
) -> LoginThrottle:
    """The per-account back-off, its failures shared through Redis when it is set."""
    backoff = LoginBackoff(
        free_failures=settings.login_free_failures,
        base_s=settings.login_lockout_base_seconds,
        max_s=settings.login_lockout_max_seconds,
        forget_s=settings.login_failures_forget_seconds,
    )
    store: AttemptStore = MemoryAttemptStore(clock or time.monotonic)
    if redis is not None:
        store = RedisAttemptStore(redis, prefix=settings.redis_key_prefix, clock=clock)
    return LoginThrottle(backoff, store)


def create_app(
    settings: Settings,
    *,
    mailer: EmailSender | None = None,
    bridge_factory: BridgeFactory | None = None,
    rate_limit_clock: Callable[[], float] | None = None,
) -> Starlette:
    """The whole server as one ASGI app; resources open and close with its lifespan.

    `mailer` and `bridge_factory` replace the ones the settings choose (tests, benchmarks);
    `rate_limit_clock` replaces the clock of the rate limiter and of the login throttle
    (monotonic, or Redis's own) and of the guest socket's offer and candidate budgets, so a
    test's budget refills and a lockout ends when the test says and not when a slow machine
    lets time pass.
    """
    database = open_database(settings)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    http = httpx.AsyncClient(base_url=settings.sendgrid_base_url, timeout=10.0)
    signer = TokenSigner(
        settings.resolved_jwt_secret(),
        algorithm=settings.jwt_algorithm,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
    )
    revocations = build_revocations(settings, database, redis)
    accounts = Accounts(
        users=UserStore(database),
        refresh_tokens=RefreshTokenStore(database),
        revocations=revocations,
        throttle=build_login_throttle(settings, redis, rate_limit_clock),
        passwords=Passwords(
            time_cost=settings.password_hash_time_cost,
            memory_kib=settings.password_hash_memory_kib,
        ),
        signer=signer,
        mailer=mailer or build_email_sender(settings, http),
        refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
        verification_ttl=timedelta(hours=settings.email_verification_ttl_hours),
        public_base_url=settings.public_base_url,
    )
    sessions, messages = SessionStore(database), MessageStore(database)
    # Recorded media: local disk or S3, and the signer of the media URLs the app serves.
    media, media_signer = build_media_storage(
        settings, f"{settings.public_base_url.rstrip('/')}{API_PREFIX}/media"
    )
    node_id = settings.node_id or uuid.uuid4().hex
    # Every node reads any node's recording through the catalog (the manifest in the database).
    catalog = RecordingCatalog(RecordingStore(database), media, node_id)
    synthesizer = SpeechSynthesizer()
    transcriber = SharedTranscriber(settings)
    # One thread writes every track file of the process (cheap appends, once a second each).
    recorder_io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder-io")
    notes = DirectorNoteStore(database)
    finalisation = FinalisationQueue(
        settings.data_dir,
        StoreJobHooks(sessions, messages, notes, media, catalog, settings.public_base_url),
    )
    bus: InterviewBus = LocalBus()
    lease_store: LeaseStore = MemoryLeaseStore()
    if redis is not None:
        bus = RedisBus(redis, settings.redis_key_prefix)
        lease_store = RedisLeaseStore(redis, settings.redis_key_prefix)
    leases = Leases(lease_store, node_id)
    registry = build_registry(
        settings,
        sessions,
        messages,
        synthesizer,
        transcriber,
        recorder_io,
        leases,
        bus,
        notes,
        finalisation.enqueue,
        bridge_factory,
        on_manifest=catalog.publish,
    )
    readiness: dict[str, ReadinessCheck] = {"database": database.ping}
    limiter: RateLimiter = MemoryRateLimiter(
        settings.rate_limit_per_minute, clock=rate_limit_clock or time.monotonic
    )
    if redis is not None:
        readiness["redis"] = _pinger(redis)
        limiter = RedisRateLimiter(
            redis,
            settings.rate_limit_per_minute,
            prefix=settings.redis_key_prefix,
            clock=rate_limit_clock,
        )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await database.migrate()
        media_dir = settings.data_dir / "media"
        for recovered in await asyncio.to_thread(recover_recordings, media_dir):
            await catalog.publish(uuid.UUID(recovered))
        await catalog.backfill(media_dir)  # recordings made before the catalog existed
        for session_id in await asyncio.to_thread(pending_recordings, media_dir):
            await sessions.set_status(session_id, "processing")
            finalisation.enqueue(session_id)
        finaliser = asyncio.create_task(finalisation.run(), name="finalisation")
        try:
            yield
        finally:
            await registry.close()
            finaliser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await finaliser
            await asyncio.to_thread(recorder_io.shutdown)
            await asyncio.to_thread(synthesizer.close)
            await transcriber.close()
            await http.aclose()
            if redis is not None:
                await redis.aclose()
            await database.close()

    api_routes: list[BaseRoute] = [
        *auth_routes.routes,
        *session_routes.routes,
        *media_routes.routes,
        *message_routes.routes,
        *openapi.routes,
        WebSocketRoute("/sessions/{session_id}/interview", interview_socket),
        WebSocketRoute("/sessions/{session_id}/director", director_socket),
    ]
    app = Starlette(
        routes=[
            *health_routes.routes,
            *metrics_routes.build_routes(
                settings.metrics_token.get_secret_value() if settings.metrics_token else None
            ),
            Mount(API_PREFIX, routes=api_routes),
            *studio_routes.routes,
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(ErrorTags),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
                expose_headers=["Retry-After", REQUEST_ID_HEADER],
                max_age=600,
            ),
            Middleware(IdentityMiddleware, signer=signer, revocations=revocations),
            Middleware(
                RateLimitMiddleware,
                limiter=limiter,
                exempt=UNLIMITED_PATHS | studio_routes.EXEMPT_PATHS,
                by_address=ADDRESS_LIMITED_PATHS,
                # Signed media URLs: a seeking <video> makes many requests; the HMAC guards them.
                # The studio's pages and assets: no token, nothing to guess (api/studio_routes).
                exempt_prefixes=(f"{API_PREFIX}/media/", *studio_routes.EXEMPT_PREFIXES),
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.api = ApiContext(
        database=database,
        accounts=accounts,
        sessions=sessions,
        messages=messages,
        readiness_checks=readiness,
        draining=lambda: registry.draining,
        media=media,
        media_signer=media_signer,
        recordings=catalog,
    )
    app.state.finalisation = finalisation
    app.state.drain = NodeDrain(registry, finalisation, settings.drain_timeout_seconds)
    # Shared by both sockets: the per-user cap counts guest and director sockets together.
    socket_policy = SocketPolicy(
        origins=OriginPolicy(settings.cors_origins),
        quota=SocketQuota(
            per_user=settings.ws_sockets_per_user,
            directors_per_session=settings.ws_directors_per_session,
        ),
    )
    app.state.director = DirectorContext(
        sessions=sessions, messages=messages, bus=bus, leases=leases, policy=socket_policy
    )
    app.state.signaling = SignalingContext(
        registry=registry,
        sessions=sessions,
        ice_servers=parse_ice_servers(settings.ice_servers),
        policy=socket_policy,
        clock=rate_limit_clock or time.monotonic,
    )
    return app


def _pinger(redis: Redis) -> ReadinessCheck:
    async def ping() -> None:
        await redis.ping()

    return ping
