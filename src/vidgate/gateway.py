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
        self.router = None  # sora2 upstreams (providers/routing.py), from VIDGATE_PROVIDERS_FILE by open()
        self.targets: dict = {}  # upload_method -> S3Target (storage/s3.py), built by open()
        self.dispatcher = None  # webhook delivery loop (webhooks/delivery.py), started with the workers
        self.sweeper = None  # retention sweep (storage/retention.py), started with the workers

    async def open(self) -> None:
        """Migrate and load server secrets. Safe to call on every start."""
        await self.db.migrate()
        async with self.db.write() as conn:
            secret = await tasks_store.get_or_create_secret(
                conn, "url_signing", lambda: secrets.token_hex(32)
            )
        self.storage = self._storage_cls(self.settings.results_dir, bytes.fromhex(secret))
        if self.router is None:
            from vidgate.providers.routing import load_router

            self.router = load_router(self.settings)
        from vidgate.storage.s3 import build_targets

        self.targets = build_targets(self.settings)

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
        from vidgate.storage.retention import RetentionSweeper
        from vidgate.webhooks.delivery import WebhookDispatcher

        self.dispatcher = WebhookDispatcher(self)
        await self.dispatcher.start()
        self.sweeper = RetentionSweeper(self)
        await self.sweeper.start()

    def notify_webhooks(self) -> None:
        """A task just finished: look at the outbox now rather than at the next poll."""
        if self.dispatcher is not None:
            self.dispatcher.notify()

    async def close(self) -> None:
        for bg in ("sweeper", "dispatcher"):
            if getattr(self, bg) is not None:
                await getattr(self, bg).stop()
                setattr(self, bg, None)
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None
        if self.router is not None:
            await self.router.aclose()
            self.router = None
        await self.db.dispose()
