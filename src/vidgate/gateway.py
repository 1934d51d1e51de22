"""The running gateway: settings, database, storage, limiter and jobs runner, wired once.

The API and the CLI both build a :class:`Gateway`; nothing else holds global state.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from vidgate.domain.limits import RateLimiter
from vidgate.settings import Settings
from vidgate.store import accounts as accounts_store
from vidgate.store import tasks as tasks_store
from vidgate.store.db import Database

log = logging.getLogger("vidgate")


@dataclass
class Bootstrap:
    admin_token: str
    account_id: str
    test_key: str


class Gateway:
    def __init__(self, settings: Settings) -> None:
        from vidgate.storage.local import LocalStorage

        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.results_dir.mkdir(parents=True, exist_ok=True)
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.resolved_database_url)
        self.limiter = RateLimiter()
        self.storage: LocalStorage | None = None
        self._storage_cls = LocalStorage
        self.runner = None  # set by start() when workers run in this process

    async def open(self) -> None:
        """Migrate and load server secrets. Safe to call on every start."""
        await self.db.migrate()
        async with self.db.write() as conn:
            secret = await tasks_store.get_or_create_secret(
                conn, "url_signing", lambda: secrets.token_hex(32)
            )
        self.storage = self._storage_cls(self.settings.results_dir, bytes.fromhex(secret))

    async def bootstrap(self) -> Bootstrap | None:
        """On an empty database: an admin token and a test-mode key with credits. Else None."""
        async with self.db.write() as conn:
            if await accounts_store.has_admin_token(conn):
                return None
            admin = await accounts_store.create_admin_token(conn)
            account_id = await accounts_store.create_account(
                conn, name="default", credits=self.settings.bootstrap_credits, note="bootstrap credits"
            )
            _, key = await accounts_store.create_key(conn, account_id, mode="test", title="bootstrap test key")
        return Bootstrap(admin_token=admin, account_id=account_id, test_key=key)

    async def start_workers(self) -> None:
        from vidgate.jobs.embedded import EmbeddedRunner

        self.runner = EmbeddedRunner(self)
        await self.runner.start()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None
        await self.db.dispose()
