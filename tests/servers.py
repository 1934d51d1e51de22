"""Real servers for tests: a throwaway PostgreSQL cluster and vidgate itself over loopback HTTP."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from vidgate.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_or_fail(reason: str) -> None:
    """Skip when a server binary is absent, but in CI (CI=true) that is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI requires this test to run: {reason}")
    pytest.skip(reason)


# --- PostgreSQL ---


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PostgresServer:
    """initdb + pg_ctl in a temp dir, on a free loopback port, trust auth, stopped at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.datadir = root / "pgdata"
        self.port = free_port()
        self.user = "vidgate"
        self._as: list[str] = []

    def start(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            skip_or_fail("PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql")
        self.pg_ctl = pg_ctl
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as the postgres system user
            shutil.chown(self.root, user="postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run([initdb, "-D", str(self.datadir), "-A", "trust", "-U", self.user, "-E", "UTF8", "--no-sync"])
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run([pg_ctl, "-D", str(self.datadir), "-o", opts, "-l", str(self.root / "log"), "-w", "start"])

    def _run(self, cmd: list[str]) -> None:
        proc = subprocess.run(self._as + cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {proc.stdout}\n{proc.stderr}")

    def stop(self) -> None:
        subprocess.run(
            [*self._as, self.pg_ctl, "-D", str(self.datadir), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )

    def new_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        import asyncpg

        name = "t_" + uuid.uuid4().hex[:12]

        async def create() -> None:
            conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user=self.user, database="postgres")
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{name}"


# --- vidgate over loopback ---


class _ThreadedUvicorn(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # pragma: no cover - not the main thread
        pass


@dataclass
class LiveServer:
    """vidgate served by uvicorn in a background thread, reached over real HTTP."""

    settings: Settings
    url: str = ""
    admin_token: str = ""
    test_key: str = ""
    account_id: str = ""
    _server: Any = None
    _thread: threading.Thread | None = None
    clients: list[httpx.Client] = field(default_factory=list)

    def start(self, workers: bool = True) -> LiveServer:
        from vidgate.api.app import create_app
        from vidgate.gateway import Gateway

        async def boot() -> Any:
            gw = Gateway(self.settings)
            try:
                await gw.open()
                return await gw.bootstrap()
            finally:
                await gw.close()

        b = asyncio.run(boot())
        self.admin_token, self.test_key, self.account_id = b.admin_token, b.test_key, b.account_id
        port = free_port()
        self.app = create_app(self.settings, workers=workers)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        self._server = _ThreadedUvicorn(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.time() + 30
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError("vidgate test server did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def client(self, key: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        c = httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)
        self.clients.append(c)
        return c

    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)

    def new_account(self, credits: int = 1000, *, mode: str = "test", status: str = "approved") -> dict[str, Any]:
        r = self.admin().post(
            "/api/v1/admin/accounts",
            json={"name": "t", "credits": credits, "key_mode": mode, "status": status},
        )
        r.raise_for_status()
        return r.json()["data"]

    def new_key(self, credits: int = 1000, *, mode: str = "test", status: str = "approved") -> str:
        return self.new_account(credits, mode=mode, status=status)["api_key"]

    def wait_task(self, key: str, task_id: str, timeout: float = 60) -> dict[str, Any]:
        c = self.client(key)
        deadline = time.time() + timeout
        while True:
            data = c.get(f"/api/v1/videos/{task_id}").json()["data"]
            if data["status"] in ("completed", "failed"):
                return data
            if time.time() > deadline:
                raise AssertionError(f"task {task_id} still {data['status']} after {timeout}s")
            time.sleep(0.2)
