"""The retention sweep: results older than ``result_retention_days`` are deleted (local files and bucket
objects) and their task is marked ``results_expired_at``; GET then answers ``video_url: null``,
``output.resultUrls: []``, ``expired: true``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from vidgate.clock import utcnow
from vidgate.storage import split_key
from vidgate.store.tables import tasks

if TYPE_CHECKING:
    from vidgate.gateway import Gateway

log = logging.getLogger("vidgate.storage")


async def sweep_once(gw: Gateway, batch: int = 200) -> int:
    """Expire one batch of due tasks; returns how many were expired."""
    days = gw.settings.result_retention_days
    if days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    t = tasks.c
    async with gw.db.read() as conn:
        rows = (
            await conn.execute(
                select(t.id, t.result_keys)
                .where((t.status == "completed") & t.results_expired_at.is_(None) & (t.completed_at < cutoff))
                .order_by(t.completed_at)
                .limit(batch)
            )
        ).all()
    expired = 0
    for task_id, keys in rows:
        try:
            await asyncio.to_thread(_delete_results, gw, task_id, list(keys or []))
        except Exception:
            log.exception("could not delete the results of %s; will retry on the next sweep", task_id)
            continue
        async with gw.db.write() as conn:
            await conn.execute(
                update(tasks)
                .where((t.id == task_id) & t.results_expired_at.is_(None))
                .values(results_expired_at=utcnow())
            )
        expired += 1
    return expired


def _delete_results(gw: Gateway, task_id: str, keys: list[str]) -> None:
    for key in keys:
        target_name, obj = split_key(key)
        if target_name is None:
            if gw.storage is not None:
                gw.storage.delete(obj)
            continue
        target = gw.targets.get(target_name)
        if target is None:
            raise RuntimeError(f"storage target {target_name!r} is no longer configured")
        target.delete(obj)
    if gw.storage is not None:
        gw.storage.delete_prefix(task_id)


class RetentionSweeper:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.gw.settings.result_retention_days > 0:
            self._task = asyncio.create_task(self._loop(), name="vidgate-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                while await sweep_once(self.gw) > 0:
                    pass
            except Exception:
                log.exception("retention sweep failed")
            await asyncio.sleep(self.gw.settings.retention_sweep_seconds)
