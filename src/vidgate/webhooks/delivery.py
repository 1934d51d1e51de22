"""The delivery loop: claims due outbox rows with a lease, POSTs them signed, records every attempt.

Rules (Standard Webhooks): only 2xx is success; a 3xx is a failure and is never followed; 410 Gone stops
retries for that URL (and disables an account endpoint); a ``Retry-After`` on a failure pushes the next
attempt back (capped by ``webhook_max_retry_after_seconds``); a receiver slower than
``webhook_timeout_seconds`` fails the attempt. Attempt *n* (n ≥ 2) waits ``webhook_retry_schedule[n-1]``
seconds after attempt n-1; after ``len(webhook_retry_schedule)`` attempts the delivery is ``failed``.

The body is built when it is sent: the same ``{"success": true, "data": ..., "request_id": ...}`` that
``GET /api/v1/videos/{task_id}`` returns (fresh signed URLs), the ``webhook-id`` is the outbox row's id,
stable across retries and restarts, so a receiver that de-duplicates on it processes each event once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from vidgate import __version__
from vidgate.clock import utcnow
from vidgate.contract import ok, task_payload
from vidgate.errors import VidgateError
from vidgate.http_headers import parse_retry_after
from vidgate.ids import new_id
from vidgate.media.ssrf import check_url, guarded_async_client
from vidgate.storage import result_urls
from vidgate.store import tasks as tasks_store
from vidgate.webhooks import outbox
from vidgate.webhooks.signing import signature_headers

if TYPE_CHECKING:
    from vidgate.gateway import Gateway

log = logging.getLogger("vidgate.webhooks")


async def build_body(gw: Gateway, task_id: str) -> bytes | None:
    async with gw.db.read() as conn:
        task = await tasks_store.get_task(conn, task_id)
    if task is None:
        return None
    urls = result_urls(gw, task, gw.settings.base_url)
    envelope = ok(task_payload(task, urls), task["request_id"])
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookDispatcher:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.settings = gw.settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id('d')[-8:]}"
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def lease_seconds(self) -> float:
        return self.settings.webhook_timeout_seconds + 10.0

    async def start(self) -> None:
        if self.gw.db.is_sqlite:
            async with self.gw.db.write() as conn:
                n = await outbox.release_orphans(conn, self.owner)
            if n:
                log.warning("re-sending %d webhook(s) left in flight by a previous process", n)
        self._client = guarded_async_client(
            self.settings,
            timeout=self.settings.webhook_timeout_seconds,
            headers={"user-agent": f"vidgate-webhooks/{__version__}"},
        )
        self._loop_task = asyncio.create_task(self._loop(), name="vidgate-webhooks")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
            self._loop_task = None
        for t in list(self._inflight.values()):
            t.cancel()
        for t in list(self._inflight.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._inflight.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def notify(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            free = self.settings.webhook_concurrency - len(self._inflight)
            claimed: list[dict[str, Any]] = []
            if free > 0:
                try:
                    async with self.gw.db.write() as conn:
                        claimed = await outbox.claim_due(
                            conn, self.owner, self.lease_seconds, free, set(self._inflight)
                        )
                except Exception:
                    log.exception("claiming webhook deliveries failed")
            for row in claimed:
                task = asyncio.create_task(self._deliver(row), name=f"webhook-{row['id']}")
                self._inflight[row["id"]] = task
                task.add_done_callback(lambda _t, i=row["id"]: self._done(i))
            if claimed and len(claimed) == free:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.webhook_poll_seconds)

    def _done(self, delivery_id: str) -> None:
        self._inflight.pop(delivery_id, None)
        self._wake.set()

    def _next_delay(self, attempts_done: int, retry_after: float | None) -> float | None:
        schedule = self.settings.webhook_retry_schedule
        if attempts_done >= len(schedule):
            return None
        delay = float(schedule[attempts_done])
        if delay >= 60:
            delay += random.uniform(0, delay * 0.1)  # jitter: spread retries of many receivers
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.settings.webhook_max_retry_after_seconds))
        return delay

    async def _secrets(self, row: dict[str, Any]) -> list[str]:
        if row.get("endpoint_id"):
            async with self.gw.db.read() as conn:
                ep = await outbox.endpoint_for_delivery(conn, row["endpoint_id"])
            if ep is not None and ep.get("secret_key"):
                return [ep["secret_key"]]
        async with self.gw.db.read() as conn:
            rows = await outbox.account_secrets(conn, row["account_id"], create=False)
        if not rows or rows[0]["expires_at"] is not None:  # no current secret yet: create it (a write)
            async with self.gw.db.write() as conn:
                rows = await outbox.account_secrets(conn, row["account_id"], create=True)
        return [r["secret"] for r in rows]

    async def _deliver(self, row: dict[str, Any]) -> None:
        assert self._client is not None
        started_at = utcnow()
        t0 = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        retry_after: float | None = None
        outcome = "failed"
        try:
            body = await build_body(self.gw, row["task_id"])
            if body is None:
                error = "task no longer exists"
            else:
                headers = signature_headers(await self._secrets(row), row["id"], body)
                headers.update({"content-type": "application/json", "webhook-event": row["event"]})
                url = check_url(row["url"], allow_private=self.settings.allow_private_urls,
                                max_chars=self.settings.max_url_chars)
                request = self._client.build_request("POST", url, content=body, headers=headers)
                async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                    response = await self._client.send(request, stream=True, follow_redirects=False)
                    await response.aclose()
                status_code = response.status_code
                if 200 <= status_code < 300:
                    outcome = "delivered"
                elif status_code == 410:
                    outcome, error = "gone", "410 Gone: no more retries for this URL"
                else:
                    error = f"HTTP {status_code}"
                    if 300 <= status_code < 400:
                        error += " (redirects are not followed)"
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
        except TimeoutError:
            error = f"timed out after {self.settings.webhook_timeout_seconds:g} s"
        except VidgateError as exc:  # the SSRF guard refused the URL
            error = exc.message
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let one delivery kill the loop
            log.exception("webhook delivery %s crashed", row["id"])
            error = f"internal error: {type(exc).__name__}"
        duration_ms = int((time.monotonic() - t0) * 1000)
        next_at: datetime | None = None
        if outcome == "failed":
            delay = self._next_delay(int(row["attempts"]) + 1, retry_after)
            if delay is not None:
                next_at = utcnow() + timedelta(seconds=delay)
        try:
            async with self.gw.db.write() as conn:
                kept = await outbox.record_attempt(
                    conn, row, self.owner, started_at=started_at, duration_ms=duration_ms,
                    status_code=status_code, error=error, outcome=outcome, next_attempt_at=next_at,
                )
            if not kept:
                log.warning("lost the lease on webhook delivery %s", row["id"])
        except Exception:
            log.exception("recording webhook attempt %s failed", row["id"])
        if next_at is not None:
            asyncio.get_running_loop().call_later(max(0.0, (next_at - utcnow()).total_seconds()), self._wake.set)
