"""The server's settings, from environment variables (or `.env`), with embedded defaults.

Every default is chosen so that `monumento serve` runs on a fresh machine with no
services: SQLite under `DATA_DIR`, an in-process bus and rate limiter, local media.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]

JWT_SECRET_FILE = "jwt_secret"
SQLITE_FILE = "monumento.db"


class Settings(BaseSettings):
    """All settings; field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    redis_key_prefix: str = "monumento"
    node_id: str | None = None  # names this node in its interviews' leases (default: random)
    migrate_on_start: bool = True

    jwt_secret: SecretStr | None = Field(default=None, min_length=32)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_days: int = Field(default=30, ge=1)
    email_verification_ttl_hours: int = Field(default=48, ge=1)
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)

    public_base_url: str = "http://localhost:8080"
    email_sender: Literal["console", "sendgrid"] = "console"
    email_from: str = "Monumento <no-reply@monumento.local>"
    sendgrid_api_key: SecretStr | None = None
    sendgrid_base_url: str = "https://api.sendgrid.com"

    cors_origins: CommaList = ["http://localhost:3000", "http://localhost:3001"]
    rate_limit_per_minute: int = Field(default=100, ge=1)
    # Per-account sign-in back-off (auth/login_throttle.py): after this many failures each
    # further one locks the account for twice as long, from the base up to the cap; failures
    # are forgotten after a success, or this long after the last lockout ends.
    login_free_failures: int = Field(default=5, ge=1)
    login_lockout_base_seconds: float = Field(default=1.0, gt=0)
    login_lockout_max_seconds: float = Field(default=900.0, gt=0)
    login_failures_forget_seconds: float = Field(default=3600.0, gt=0)
    trust_forwarded_for: bool = False
    # Open WebSockets, counted per node in memory: per user (guest and director sockets
    # together), and director consoles per session.
    ws_sockets_per_user: int = Field(default=8, ge=1)
    ws_directors_per_session: int = Field(default=4, ge=1)

    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = None
    gemini_model: str | None = None
    gemini_ca_file: Path | None = None
    # Long interviews: the sliding context window's thresholds (unset: the service's
    # defaults) and cost control (the guest's silences are not streamed).
    gemini_compression_trigger_tokens: int | None = Field(default=None, ge=1000)
    gemini_compression_target_tokens: int | None = Field(default=None, ge=500)
    gemini_cost_control: bool = True
    gemini_silence_pause_seconds: float = Field(default=6.0, ge=0.5)
    # How a goAway rotates: make-before-break falls back to break-before-make at the first
    # refusal of a second socket (the Gemini API refuses one); break-before-make never tries.
    gemini_rotation: Literal["make-before-break", "break-before-make"] = "make-before-break"
    # The guest's camera to the host, a still a second (a session's `hostSeesVideo` decides).
    gemini_send_video: bool = False
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None

    rtc_host_addresses: str | None = None
    rtc_udp_ports: str | None = None
    ice_servers: str | None = None
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    vad_start_ms: int = Field(default=60, ge=20)
    vad_preroll_ms: int = Field(default=200, ge=20)
    vad_hangover_ms: int = Field(default=500, ge=100)
    interview_minute_seconds: float = Field(default=60.0, gt=0)
    rejoin_grace_seconds: float = Field(default=30.0, ge=0)
    # SIGTERM: how long live interviews may run on before the process exits (an hour's
    # interview and its finalisation); a deploy's grace period must be at least as long.
    drain_timeout_seconds: float = Field(default=3900.0, ge=0)
    intro_sting_path: Path | None = None

    # Recorded media (media/): local disk served by the app, or an S3-compatible bucket
    # (AWS S3, Cloudflare R2, MinIO). URLs expire after the TTL (SigV4 allows up to 7 days).
    media_storage: Literal["local", "s3"] = "local"
    media_url_ttl_seconds: int = Field(default=3600, ge=60, le=604_800)
    s3_endpoint_url: str | None = None  # unset: AWS; R2: https://<account>.r2.cloudflarestorage.com
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None  # unset (with the secret): boto3's credential chain
    s3_secret_access_key: SecretStr | None = None
    s3_prefix: str = "media"

    # Unset: `/metrics` is open (a private network); set: scrapers send it as a Bearer token.
    metrics_token: SecretStr | None = Field(default=None, min_length=16)
    # Error reports (monumento/sentry.py): off unless a DSN is set; traces only if sampled.
    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "production"
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL with its async driver, SQLite under `data_dir` by default."""
        url = self.database_url or f"sqlite:///{self.data_dir.resolve() / SQLITE_FILE}"
        for prefix, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(prefix):
                return driver + url[len(prefix) :]
        return url

    def resolved_jwt_secret(self) -> str:
        """`JWT_SECRET`, or a key generated once and kept in `DATA_DIR` across restarts."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / JWT_SECRET_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                with path.open("x", encoding="ascii") as handle:
                    path.chmod(0o600)
                    handle.write(secrets.token_urlsafe(48))
            except FileExistsError:
                pass  # another process created it first: use theirs
        return path.read_text(encoding="ascii").strip()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (tests, CLI flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
