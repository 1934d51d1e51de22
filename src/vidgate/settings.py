"""One settings object, read from ``VIDGATE_*`` environment variables (and CLI flags that set them)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_PRICES: dict[str, Any] = {"sora2": {"10": 30, "15": 30}, "sora-watermark-remover": 30}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDGATE_", extra="ignore")

    # --- where things live ---
    data_dir: Path = Field(default=Path("./vidgate-data"), description="SQLite DB, results and secrets")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite+aiosqlite in the data dir"
    )
    public_url: str | None = Field(
        default=None, description="Base URL clients reach us at (for video_url); default: the request's"
    )

    # --- serving ---
    host: str = "127.0.0.1"
    port: int = 8000
    gateway_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Allowed Host headers (comma separated); empty = any host"
    )

    # --- credits and pricing ---
    prices: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    bootstrap_credits: int = 1000

    # --- limits ---
    rate_limit_rpm: int = Field(default=600, ge=1, description="Requests per minute per API key")
    max_concurrent_tasks: int = Field(default=10, ge=1, description="Active tasks per API key")
    max_prompt_chars: int = 5000
    max_image_urls: int = 4
    max_url_chars: int = 2048
    max_body_bytes: int = 64 * 1024
    idempotency_ttl_seconds: int = 24 * 3600

    # --- SSRF guard and fetching ---
    allow_private_urls: bool = Field(default=False, description="Lift the SSRF guard (dev/tests only)")
    fetch_max_bytes: int = 512 * 1024 * 1024
    fetch_timeout_seconds: float = 120.0
    max_redirects: int = 5

    # --- media limits ---
    max_video_seconds: float = 600.0
    max_video_pixels: int = 4096 * 4096

    # --- providers ---
    providers_file: Path | None = Field(
        default=None, description="TOML file: sora2 upstream providers and routing (docs/providers.md)"
    )
    provider_timeout_seconds: float = Field(default=30.0, gt=0, description="Per upstream HTTP call")
    provider_failure_threshold: int = Field(default=3, ge=1, description="Consecutive failures that open a circuit")
    provider_cooldown_seconds: float = Field(default=30.0, ge=0, description="Open circuit → half-open after this")
    provider_poll_seconds: float = Field(default=3.0, gt=0, description="First wait between upstream polls")
    provider_poll_max_seconds: float = Field(default=30.0, gt=0, description="Longest wait between polls")
    provider_max_wait_seconds: float = Field(default=3 * 3600.0, gt=0, description="Give up on an upstream job")

    # --- jobs ---
    job_workers: int = Field(default=2, ge=1, description="Concurrent tasks per process")
    cpu_workers: int = Field(default=1, ge=1, description="Processes for CPU-heavy work")
    job_lease_seconds: float = 60.0
    job_max_attempts: int = 3
    job_poll_seconds: float = 1.0

    # --- results ---
    url_ttl_seconds: int = Field(default=24 * 3600, description="Lifetime of signed video_url links")

    # --- webhooks and storage targets ---
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [0, 5, 300, 1800, 7200, 18000, 36000, 86400],
        description="Delay in seconds before each delivery attempt (JSON list or comma separated)",
    )
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, description="A receiver slower than this fails")
    webhook_poll_seconds: float = Field(default=1.0, gt=0, description="How often the outbox is checked")
    webhook_concurrency: int = Field(default=8, ge=1, description="Deliveries in flight per process")
    webhook_secret_grace_hours: float = Field(default=24.0, ge=0, description="Old secret validity after rotation")
    webhook_max_retry_after_seconds: float = Field(default=86400.0, description="Cap on a receiver's Retry-After")
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_public_base_url: str | None = None
    s3_addressing_style: str = Field(default="auto", pattern="^(auto|path|virtual)$")
    s3_key_prefix: str = ""
    oss_bucket: str | None = None
    oss_endpoint_url: str | None = None
    oss_region: str | None = None
    oss_access_key_id: str | None = None
    oss_secret_access_key: str | None = None
    oss_public_base_url: str | None = None
    oss_addressing_style: str = Field(default="virtual", pattern="^(auto|path|virtual)$")
    oss_key_prefix: str = ""
    storage_multipart_threshold_bytes: int = Field(default=16 * 1024 * 1024, ge=5 * 1024 * 1024)
    storage_multipart_chunk_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)
    storage_upload_attempts: int = Field(default=3, ge=1)
    result_retention_days: float = Field(default=0, ge=0, description="Delete results after N days; 0 keeps")
    retention_sweep_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, v: Any) -> Any:
        if isinstance(v, str):
            import json

            v = v.strip()
            return json.loads(v) if v.startswith("[") else [float(x) for x in v.split(",") if x.strip()]
        return v

    def storage_target(self, name: str) -> dict[str, Any] | None:
        """The configuration of upload target ``name`` (``s3``/``oss``), or None when it has no bucket."""
        if name not in ("s3", "oss") or not getattr(self, f"{name}_bucket"):
            return None
        fields = ("bucket", "endpoint_url", "region", "access_key_id", "secret_access_key", "public_base_url",
                  "addressing_style", "key_prefix")
        return {f: getattr(self, f"{name}_{f}") for f in fields}

    @property
    def base_url(self) -> str:
        """Where clients reach us when no request is at hand (callbacks): public_url or host:port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @field_validator("gateway_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [h.strip().lower() for h in v.split(",") if h.strip()]
        return v

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://") :]
            if url.startswith("postgresql://"):
                url = "postgresql+asyncpg://" + url[len("postgresql://") :]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'vidgate.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    def price_for(self, model: str, params: dict[str, Any]) -> int:
        price = self.prices.get(model)
        if isinstance(price, dict):
            key = str(params.get("n_frames", "10"))
            price = price.get(key, price.get("default"))
        if price is None:
            raise KeyError(model)
        return int(price)


def get_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
