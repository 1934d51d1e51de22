"""The webhook outbox and its bookkeeping (endpoints, signing secrets, attempts).

:func:`enqueue_task_event` runs inside the transaction that moves a task to ``completed``/``failed``
(see :mod:`vidgate.store.tasks`), so the event and the status change commit together: a crash can delay
a callback but never lose one. The delivery loop (:mod:`vidgate.webhooks.delivery`) claims due rows
with a lease, exactly as workers claim tasks, so it works on SQLite and PostgreSQL and after restarts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vidgate.clock import utcnow
from vidgate.errors import NotFound
from vidgate.ids import new_id
from vidgate.store.tables import (
    accounts,
    tasks,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_secrets,
)
from vidgate.webhooks.signing import new_secret

EVENTS = ("job.completed", "job.failed")
EVENT_FOR_STATUS = {"completed": "job.completed", "failed": "job.failed"}
OPEN = ("pending", "delivering")


# --- enqueue (inside the status-change transaction) ---


async def enqueue_task_event(
    conn: AsyncConnection, task_id: str, event: str, *, task: dict[str, Any] | None = None
) -> int:
    """Write one outbox row per destination of this task's ``event``: its callBackUrl, and every
    enabled account endpoint subscribed to the event (and to the task's API key, when it names one)."""
    if task is None:
        row = (
            await conn.execute(
                select(tasks.c.account_id, tasks.c.api_key_id, tasks.c.callback_url).where(tasks.c.id == task_id)
            )
        ).mappings().first()
        if row is None:
            return 0
        task = dict(row)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    if task.get("callback_url"):
        rows.append({"endpoint_id": None, "url": task["callback_url"]})
    endpoints = (
        await conn.execute(
            select(webhook_endpoints.c.id, webhook_endpoints.c.url, webhook_endpoints.c.events,
                   webhook_endpoints.c.api_key_id).where(
                (webhook_endpoints.c.account_id == task["account_id"])
                & webhook_endpoints.c.disabled_at.is_(None)
                & webhook_endpoints.c.deleted_at.is_(None)
            )
        )
    ).mappings().all()
    for ep in endpoints:
        if event in (ep["events"] or []) and ep["api_key_id"] in (None, task["api_key_id"]):
            rows.append({"endpoint_id": ep["id"], "url": ep["url"]})
    for r in rows:
        await conn.execute(
            insert(webhook_deliveries).values(
                id=new_id("msg"),
                account_id=task["account_id"],
                task_id=task_id,
                event=event,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                **r,
            )
        )
    return len(rows)


# --- claiming and recording attempts (the delivery loop) ---


def _due(now: datetime) -> Any:
    d = webhook_deliveries.c
    return or_(
        and_(d.status == "pending", d.next_attempt_at <= now),
        and_(d.status == "delivering", d.lease_expires_at < now),
    )


async def claim_due(
    conn: AsyncConnection, owner: str, lease_seconds: float, limit: int, exclude: set[str]
) -> list[dict[str, Any]]:
    now = utcnow()
    d = webhook_deliveries.c
    q = select(d.id).where(_due(now)).order_by(d.next_attempt_at).limit(limit + len(exclude))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    claimed: list[dict[str, Any]] = []
    for (delivery_id,) in (await conn.execute(q)).all():
        if delivery_id in exclude or len(claimed) >= limit:
            continue
        res = await conn.execute(
            update(webhook_deliveries)
            .where((d.id == delivery_id) & _due(now))
            .values(status="delivering", lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        )
        if res.rowcount == 1:
            row = (await conn.execute(select(webhook_deliveries).where(d.id == delivery_id))).mappings().first()
            if row is not None:
                claimed.append(dict(row))
    return claimed


async def release_orphans(conn: AsyncConnection, owner: str) -> int:
    """Deliveries a dead process had in flight become due now (SQLite: one process owns the data dir)."""
    d = webhook_deliveries.c
    res = await conn.execute(
        update(webhook_deliveries)
        .where((d.status == "delivering") & or_(d.lease_owner.is_(None), d.lease_owner != owner))
        .values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    return res.rowcount or 0


async def record_attempt(
    conn: AsyncConnection,
    delivery: dict[str, Any],
    owner: str,
    *,
    started_at: datetime,
    duration_ms: int,
    status_code: int | None,
    error: str | None,
    outcome: str,
    next_attempt_at: datetime | None,
) -> bool:
    """Save one attempt and the delivery's new state. ``outcome``: delivered | failed | gone; a failed
    attempt with ``next_attempt_at`` None is the last one. False if our lease was lost meanwhile."""
    d = webhook_deliveries.c
    now = utcnow()
    attempt = int(delivery["attempts"]) + 1
    if outcome == "delivered":
        status = "delivered"
    elif outcome == "gone":
        status = "gone"
    else:
        status = "pending" if next_attempt_at is not None else "failed"
    res = await conn.execute(
        update(webhook_deliveries)
        .where((d.id == delivery["id"]) & (d.lease_owner == owner) & (d.status == "delivering"))
        .values(
            status=status,
            attempts=attempt,
            next_attempt_at=next_attempt_at,
            lease_owner=None,
            lease_expires_at=None,
            last_status_code=status_code,
            last_error=error[:2000] if error else None,
            updated_at=now,
            delivered_at=now if outcome == "delivered" else None,
        )
    )
    if res.rowcount != 1:
        return False
    await conn.execute(
        insert(webhook_attempts).values(
            delivery_id=delivery["id"],
            attempt=attempt,
            started_at=started_at,
            duration_ms=duration_ms,
            status_code=status_code,
            outcome=outcome,
            error=error[:2000] if error else None,
        )
    )
    if delivery.get("endpoint_id"):
        e = webhook_endpoints.c
        values: dict[str, Any]
        if outcome == "delivered":
            values = {"total_sent": e.total_sent + 1, "last_sent_at": now}
        else:
            values = {"total_failed": e.total_failed + 1, "last_error": (error or f"HTTP {status_code}")[:2000]}
        if outcome == "gone":
            values["disabled_at"] = now
        await conn.execute(update(webhook_endpoints).where(e.id == delivery["endpoint_id"]).values(**values))
        if outcome == "gone":  # 410: nothing more goes to this endpoint
            await conn.execute(
                update(webhook_deliveries)
                .where((d.endpoint_id == delivery["endpoint_id"]) & (d.status == "pending"))
                .values(status="gone", next_attempt_at=None, updated_at=now,
                        last_error="endpoint disabled after 410 Gone")
            )
    return True


# --- signing secrets ---


async def _lock_account(conn: AsyncConnection, account_id: str) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id).with_for_update())


async def account_secrets(conn: AsyncConnection, account_id: str, *, create: bool = True) -> list[dict[str, Any]]:
    """The account's valid signing secrets, current first (``expires_at`` None), then those rotated out
    but still inside their grace period. Creates the first secret when ``create``."""
    s = webhook_secrets.c
    now = utcnow()
    q = (
        select(s.id, s.secret, s.created_at, s.expires_at)
        .where((s.account_id == account_id) & or_(s.expires_at.is_(None), s.expires_at > now))
        .order_by(s.created_at.desc())
    )
    rows = [dict(r) for r in (await conn.execute(q)).mappings().all()]
    if not any(r["expires_at"] is None for r in rows) and create:
        await _lock_account(conn, account_id)
        rows = [dict(r) for r in (await conn.execute(q)).mappings().all()]
        if not any(r["expires_at"] is None for r in rows):
            row = {"id": new_id("whsec"), "secret": new_secret(), "created_at": now, "expires_at": None}
            await conn.execute(insert(webhook_secrets).values(account_id=account_id, **row))
            rows.insert(0, row)
    rows.sort(key=lambda r: (r["expires_at"] is not None, -r["created_at"].timestamp()))
    return rows


async def rotate_secret(conn: AsyncConnection, account_id: str, grace_hours: float) -> dict[str, Any]:
    """A new current secret; the previous one stays valid (and is signed with too) for ``grace_hours``."""
    await _lock_account(conn, account_id)
    s = webhook_secrets.c
    now = utcnow()
    until = now + timedelta(hours=grace_hours)
    await conn.execute(
        update(webhook_secrets)
        .where((s.account_id == account_id) & s.expires_at.is_(None))
        .values(expires_at=until)
    )
    row = {"id": new_id("whsec"), "secret": new_secret(), "created_at": now, "expires_at": None}
    await conn.execute(insert(webhook_secrets).values(account_id=account_id, **row))
    return {"secret": row["secret"], "previous_valid_until": until}


# --- endpoints ---


async def create_endpoint(
    conn: AsyncConnection,
    account_id: str,
    *,
    url: str,
    events: list[str],
    secret_key: str | None,
    api_key_id: str | None,
) -> dict[str, Any]:
    now = utcnow()
    row = {
        "id": new_id("wh"),
        "account_id": account_id,
        "api_key_id": api_key_id,
        "url": url,
        "events": events,
        "secret_key": secret_key,
        "total_sent": 0,
        "total_failed": 0,
        "created_at": now,
    }
    await conn.execute(insert(webhook_endpoints).values(**row))
    return await get_endpoint(conn, account_id, row["id"])


async def get_endpoint(conn: AsyncConnection, account_id: str, endpoint_id: str) -> dict[str, Any]:
    e = webhook_endpoints.c
    row = (
        await conn.execute(
            select(webhook_endpoints).where(
                (e.id == endpoint_id) & (e.account_id == account_id) & e.deleted_at.is_(None)
            )
        )
    ).mappings().first()
    if row is None:
        raise NotFound(f"Webhook {endpoint_id} not found", code="webhook_not_found")
    return dict(row)


async def list_endpoints(conn: AsyncConnection, account_id: str) -> list[dict[str, Any]]:
    e = webhook_endpoints.c
    rows = await conn.execute(
        select(webhook_endpoints)
        .where((e.account_id == account_id) & e.deleted_at.is_(None))
        .order_by(e.created_at)
    )
    return [dict(r) for r in rows.mappings()]


async def delete_endpoint(conn: AsyncConnection, account_id: str, endpoint_id: str) -> dict[str, Any]:
    row = await get_endpoint(conn, account_id, endpoint_id)
    now = utcnow()
    await conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(deleted_at=now))
    d = webhook_deliveries.c
    await conn.execute(
        update(webhook_deliveries)
        .where((d.endpoint_id == endpoint_id) & (d.status == "pending"))
        .values(status="cancelled", next_attempt_at=None, updated_at=now, last_error="webhook deleted")
    )
    return row


async def endpoint_for_delivery(conn: AsyncConnection, endpoint_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
    ).mappings().first()
    return dict(row) if row else None


# --- reads for the API ---


async def list_deliveries(
    conn: AsyncConnection,
    account_id: str,
    *,
    task_id: str | None = None,
    endpoint_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    d = webhook_deliveries.c
    cond = d.account_id == account_id
    if task_id is not None:
        cond = cond & (d.task_id == task_id)
    if endpoint_id is not None:
        cond = cond & (d.endpoint_id == endpoint_id)
    rows = [
        dict(r)
        for r in (
            await conn.execute(select(webhook_deliveries).where(cond).order_by(d.created_at.desc()).limit(limit))
        ).mappings()
    ]
    if not rows:
        return rows
    a = webhook_attempts.c
    attempts = (
        await conn.execute(
            select(webhook_attempts).where(a.delivery_id.in_([r["id"] for r in rows])).order_by(a.id)
        )
    ).mappings()
    by_delivery: dict[str, list[dict[str, Any]]] = {}
    for at in attempts:
        by_delivery.setdefault(at["delivery_id"], []).append(dict(at))
    for r in rows:
        r["attempt_log"] = by_delivery.get(r["id"], [])
    return rows
