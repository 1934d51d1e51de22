"""Shared fixtures: a real PostgreSQL for the session, and vidgate on SQLite or PostgreSQL."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import LiveServer, PostgresServer
from vidgate.settings import Settings


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    # not under pytest's tmp dir: that is private to root, and PostgreSQL runs as its own user
    pg = PostgresServer(Path(tempfile.mkdtemp(prefix="vidgate-pg-")))
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(pg.root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None selects the embedded SQLite default; "postgresql" a fresh database on the test cluster."""
    if request.param == "sqlite":
        return None
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.new_database()


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "job_poll_seconds": 0.2,
        "job_lease_seconds": 4.0,
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
def server_factory(tmp_path: Path, database_url: str | None) -> Iterator[Any]:
    started: list[LiveServer] = []

    def start(workers: bool = True, **overrides: Any) -> LiveServer:
        srv = LiveServer(make_settings(tmp_path, database_url, **overrides)).start(workers=workers)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def server(server_factory: Any) -> LiveServer:
    return server_factory()
