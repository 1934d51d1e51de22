"""Fixtures for the media tests: a loopback HTTP server and settings."""

from __future__ import annotations

import subprocess
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


def joined_streams(folder: Path, sources: list[str]) -> Path:
    """MPEG-TS segments of FFmpeg ``lavfi`` ``sources`` (each its own size), joined end to end as
    streams cut together are: one file whose frame size changes midway."""
    parts = []
    for k, src in enumerate(sources):
        p = folder / f"part{k}.ts"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", src, "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", str(p)], check=True)
        parts.append(p.read_bytes())
    joined = folder / "joined.ts"
    joined.write_bytes(b"".join(parts))
    return joined
