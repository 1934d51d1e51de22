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

    # --- jobs ---
    job_workers: int = Field(default=2, ge=1, description="Concurrent tasks per process")
    cpu_workers: int = Field(default=1, ge=1, description="Processes for CPU-heavy work")
    job_lease_seconds: float = 60.0
    job_max_attempts: int = 3
    job_poll_seconds: float = 1.0

    # --- results ---
    url_ttl_seconds: int = Field(default=24 * 3600, description="Lifetime of signed video_url links")

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
