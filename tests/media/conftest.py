"""Fixtures for the media tests: a loopback HTTP server and settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vidgate.settings import Settings

from .loopback import MP4_BYTES, LoopbackServer


@pytest.fixture
def mp4() -> bytes:
    return MP4_BYTES


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for tests that talk to the loopback server: the address check is lifted."""
    return Settings(
        data_dir=tmp_path / "data",
        allow_private_urls=True,
        fetch_max_bytes=1024 * 1024,
        fetch_timeout_seconds=5.0,
        max_redirects=3,
    )


@pytest.fixture
def strict_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", allow_private_urls=False, fetch_timeout_seconds=5.0, max_redirects=3)
