"""Task rows: create, read (always scoped to an account), claim with a lease, and finish.

Finishing a task as failed refunds its credits in the same transaction, so a crash can never leave
a failed task charged, and the ledger's unique (task_id, kind) makes a second refund impossible.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vidgate.clock import utcnow
from vidgate.store import accounts as accounts_store
from vidgate.store.db import Database
from vidgate.store.tables import server_secrets, tasks
from vidgate.webhooks import outbox

ACTIVE = ("pending", "processing")
# what GET /api/v1/videos/{id} needs (the pipeline's scratch state and params stay unread)
PAYLOAD_COLUMNS = (
    "id", "model", "status", "progress", "result_keys", "result_info", "error_message", "credits_used",
    "credits_refunded", "created_at", "updated_at", "completed_at", "results_expired_at",
)
FINAL = ("completed", "failed")


async def insert_task(conn: AsyncConnection, **values: Any) -> None:
    now = utcnow()
    values.setdefault("status", "pending")
    values.setdefault("step", "start")
    values.setdefault("state", {})
    values.setdefault("progress", 0)
    values.setdefault("attempts", 0)
    values.setdefault("credits_refunded", 0)
    values.setdefault("result_keys", [])
    values.setdefault("created_at", now)
    values.setdefault("updated_at", now)
    await conn.execute(insert(tasks).values(**values))


async def get_task(conn: AsyncConnection, task_id: str, account_id: str | None = None) -> dict[str, Any] | None:
    cond = tasks.c.id == task_id
    if account_id is not None:
        cond = cond & (tasks.c.account_id == account_id)
    row = (await conn.execute(select(tasks).where(cond))).mappings().first()
    return dict(row) if row else None


async def read_task(db: Database, task_id: str, account_id: str) -> dict[str, Any] | None:
    """The API's read: one task, only if it belongs to ``account_id``."""
    return await db.read_row(tasks, PAYLOAD_COLUMNS, id=task_id, account_id=account_id)


async def count_active_for_key(conn: AsyncConnection, api_key_id: str) -> int:
    n = await conn.scalar(
        select(func.count())
        .select_from(tasks)
        .where((tasks.c.api_key_id == api_key_id) & tasks.c.status.in_(ACTIVE))
    )
    return int(n or 0)


async def claim_next(
    conn: AsyncConnection, owner: str, lease_seconds: float, *, exclude: set[str] | None = None
) -> dict[str, Any] | None:
    """Take one runnable task: pending and due, or processing with a lapsed lease (its worker died)."""
    now = utcnow()
    runnable = or_(
        and_(tasks.c.status == "pending", or_(tasks.c.run_after.is_(None), tasks.c.run_after <= now)),
        and_(tasks.c.status == "processing", tasks.c.lease_expires_at < now),
    )
    q = select(tasks.c.id).where(runnable).order_by(tasks.c.created_at).limit(5)
    if exclude:
        q = q.where(tasks.c.id.not_in(exclude))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    for (task_id,) in (await conn.execute(q)).all():
        res = await conn.execute(
            update(tasks)
            .where((tasks.c.id == task_id) & runnable)
            .values(
                status="processing",
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=tasks.c.attempts + 1,
                updated_at=now,
            )
        )
        if res.rowcount == 1:
            return await get_task(conn, task_id)
    return None


async def release_orphans(conn: AsyncConnection, owner: str) -> int:
    """Make every processing task not owned by ``owner`` claimable now (embedded single-owner start)."""
    res = await conn.execute(
        update(tasks)
        .where((tasks.c.status == "processing") & or_(tasks.c.lease_owner.is_(None), tasks.c.lease_owner != owner))
        .values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    return res.rowcount or 0


async def heartbeat(
    conn: AsyncConnection, task_id: str, owner: str, lease_seconds: float, **values: Any
) -> bool:
    """Extend our lease (and save progress/step/state). False if we lost the task."""
    now = utcnow()
    values["lease_expires_at"] = now + timedelta(seconds=lease_seconds)
    values["updated_at"] = now
    res = await conn.execute(
        update(tasks)
        .where((tasks.c.id == task_id) & (tasks.c.lease_owner == owner) & (tasks.c.status == "processing"))
        .values(**values)
    )
    return res.rowcount == 1


async def complete(
    conn: AsyncConnection, task_id: str, owner: str, *, result_keys: list[str], result_info: dict[str, Any]
) -> bool:
    now = utcnow()
    res = await conn.execute(
        update(tasks)
        .where((tasks.c.id == task_id) & (tasks.c.lease_owner == owner) & (tasks.c.status == "processing"))
        .values(
            status="completed",
            progress=100,
            result_keys=result_keys,
            result_info=result_info,
            step="done",
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
            completed_at=now,
        )
    )
    if res.rowcount != 1:
        return False
    # the callback/webhook outbox rows commit with the status change (a crash cannot lose them)
    await outbox.enqueue_task_event(conn, task_id, "job.completed")
    return True


async def fail(conn: AsyncConnection, task_id: str, message: str, *, owner: str | None = None) -> bool:
    """Mark a task failed and refund it, atomically. Only an active task can fail."""
    task = await get_task(conn, task_id)
    if task is None or task["status"] not in ACTIVE:
        return False
    if owner is not None and task["lease_owner"] != owner:
        return False
    refund = task["credits_used"] - task["credits_refunded"]
    refunded = await accounts_store.refund_task(
        conn, task["account_id"], task_id, refund, note=f"refund: {message}"
    )
    now = utcnow()
    await conn.execute(
        update(tasks)
        .where(tasks.c.id == task_id)
        .values(
            status="failed",
            error_message=message[:2000],
            credits_refunded=task["credits_refunded"] + (refund if refunded else 0),
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
            completed_at=now,
        )
    )
    await outbox.enqueue_task_event(conn, task_id, "job.failed", task=task)
    return True


async def requeue(conn: AsyncConnection, task_id: str, owner: str, run_after: datetime) -> None:
    """Give a claimed task back to the queue to run again later (after a transient failure)."""
    await conn.execute(
        update(tasks)
        .where((tasks.c.id == task_id) & (tasks.c.lease_owner == owner))
        .values(status="pending", lease_owner=None, lease_expires_at=None, run_after=run_after,
                updated_at=utcnow())
    )


async def get_or_create_secret(conn: AsyncConnection, name: str, factory: Any) -> str:
    value = await conn.scalar(select(server_secrets.c.value).where(server_secrets.c.name == name))
    if value is None:
        value = factory()
        await conn.execute(insert(server_secrets).values(name=name, value=value, created_at=utcnow()))
    return str(value)
