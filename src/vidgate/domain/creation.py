"""Creating a task: admission checks, then one transaction for task row + debit + idempotency record.

Order matters and is part of the contract:
1. what can be refused without touching money (451 moderation, 503 no upstream, 400 upload target);
2. Idempotency-Key replay or 409;
3. in one transaction: concurrent-task limit (429), debit (402), task insert, idempotency record.
Nothing is stored for a refused request, so a corrected retry with the same key works.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from vidgate.clock import utcnow
from vidgate.contract import CreateRequest
from vidgate.errors import (
    ContentBlocked,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    RateLimited,
    UpstreamUnavailable,
)
from vidgate.ids import task_id as new_task_id
from vidgate.store import accounts as accounts_store
from vidgate.store import tasks as tasks_store
from vidgate.store.accounts import KeyIdentity
from vidgate.store.tables import api_keys, idempotency_keys

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from vidgate.gateway import Gateway

MAX_IDEMPOTENCY_KEY = 255
log = logging.getLogger("vidgate")


@dataclass
class Created:
    data: dict[str, Any]
    replayed: bool


def admit(gw: Gateway, identity: KeyIdentity, req: CreateRequest) -> None:
    """Refusals that depend only on the request and configuration (no charge, nothing stored)."""
    upload = req.params.get("upload_method")
    if upload and gw.settings.storage_target(upload) is None:
        raise InvalidRequest(
            f"upload_method {upload!r} is not configured on this gateway; omit it to use hosted results",
            field="upload_method",
        )
    if req.model == "sora2":
        if identity.mode == "test":
            from vidgate.providers.simulator import magic_flags

            flags = magic_flags(req.params.get("prompt"))
            if "blocked" in flags:
                raise ContentBlocked("Prompt blocked by content moderation (simulated: [sim:blocked])")
            if "busy" in flags:
                raise UpstreamUnavailable("Upstream provider is busy (simulated: [sim:busy]); retry later")
        elif gw.router is None:
            raise UpstreamUnavailable(
                "No upstream provider is configured for sora2 on this gateway "
                "(test-mode keys use the simulator)",
                code="no_upstream_configured",
            )
        else:
            gw.router.candidates(req.model, req.params)  # 503 no route / 400 nobody can express it


async def create_task(
    gw: Gateway,
    identity: KeyIdentity,
    req: CreateRequest,
    *,
    request_id: str,
    idempotency_key: str | None,
) -> Created:
    if idempotency_key is not None and not (0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
    fingerprint = req.fingerprint()
    if idempotency_key is not None:
        async with gw.db.read() as conn:
            prior = await _find_idempotent(conn, identity.key_id, idempotency_key)
        if prior is not None:
            return _replay(prior, fingerprint)

    admit(gw, identity, req)
    try:
        price = gw.settings.price_for(req.model, req.params)
    except KeyError:
        raise InvalidRequest(f"No price is configured for model {req.model}", field="model") from None

    # live sora2: the upstream takes the job BEFORE we charge (its 451/503 is our create's answer);
    # the upstream job id is stored in the same transaction as the task row and the debit
    upstream = await _submit_upstream(gw, identity, req, price) if _routed(identity, req) else None
    try:
        created = await _commit(gw, identity, req, price, request_id, idempotency_key, fingerprint, upstream)
    except BaseException:
        if upstream is not None:
            await _abandon(gw, upstream, "the create did not commit")
        raise
    if upstream is not None and created.replayed:
        await _abandon(gw, upstream, "a concurrent create with the same Idempotency-Key won")
    return created


@dataclass
class Upstream:
    task_id: str
    provider: str
    job_id: str
    extra: dict[str, Any]


def _routed(identity: KeyIdentity, req: CreateRequest) -> bool:
    return req.model == "sora2" and identity.mode != "test"


async def _submit_upstream(gw: Gateway, identity: KeyIdentity, req: CreateRequest, price: int) -> Upstream:
    # what the transaction would refuse (402, 429) is checked first, so that we rarely submit a job
    # we then cannot record; the transaction checks again
    async with gw.db.read() as conn:
        limit = identity.max_concurrent_tasks or gw.settings.max_concurrent_tasks
        active = await tasks_store.count_active_for_key(conn, identity.key_id)
        if active >= limit:
            raise RateLimited(
                f"Too many concurrent tasks: {active} active, the limit is {limit} for this API key",
                retry_after=5,
                code="too_many_concurrent_tasks",
            )
        have = await accounts_store.balance(conn, identity.account_id)
        if have < price:
            raise InsufficientCredits(f"Insufficient credits: this task costs {price}, balance is {have}")
    assert gw.router is not None
    tid = new_task_id()
    provider, submitted = await gw.router.submit(req.model, req.params, idempotency_key=f"vidgate-{tid}")
    return Upstream(task_id=tid, provider=provider.name, job_id=submitted.job_id, extra=dict(submitted.extra))


async def _abandon(gw: Gateway, upstream: Upstream, why: str) -> None:
    """An upstream job we submitted but will not track: cancel it where the upstream can."""
    provider = gw.router.get(upstream.provider) if gw.router is not None else None
    cancel = getattr(provider, "cancel", None)
    log.warning("abandoning upstream job %s at %s (%s)", upstream.job_id, upstream.provider, why)
    if cancel is not None:
        try:
            await cancel(upstream.job_id)
        except Exception:
            log.exception("cancelling upstream job %s failed", upstream.job_id)


async def _commit(
    gw: Gateway,
    identity: KeyIdentity,
    req: CreateRequest,
    price: int,
    request_id: str,
    idempotency_key: str | None,
    fingerprint: str,
    upstream: Upstream | None,
) -> Created:
    try:
        async with gw.db.write() as conn:
            if not gw.db.is_sqlite:
                # serialise creates per key (PostgreSQL): the idempotency lookup and the concurrent-task
                # count below then see every earlier create of this key, committed
                await conn.execute(
                    select(api_keys.c.id).where(api_keys.c.id == identity.key_id).with_for_update()
                )
            if idempotency_key is not None:
                prior = await _find_idempotent(conn, identity.key_id, idempotency_key)
                if prior is not None:
                    return _replay(prior, fingerprint)
            data = await _insert(gw, conn, identity, req, price, request_id, upstream)
            if idempotency_key is not None:
                now = utcnow()
                await conn.execute(  # an expired record of this key may still be there
                    delete(idempotency_keys).where(
                        (idempotency_keys.c.api_key_id == identity.key_id)
                        & (idempotency_keys.c.key == idempotency_key)
                        & (idempotency_keys.c.expires_at <= now)
                    )
                )
                await conn.execute(
                    idempotency_keys.insert().values(
                        api_key_id=identity.key_id,
                        key=idempotency_key,
                        request_hash=fingerprint,
                        task_id=data["task_id"],
                        response_status=200,
                        response_body=data,
                        created_at=now,
                        expires_at=now + timedelta(seconds=gw.settings.idempotency_ttl_seconds),
                    )
                )
    except IntegrityError:
        # a concurrent request with the same key committed first (PostgreSQL): ours rolled back whole
        if idempotency_key is None:
            raise
        async with gw.db.read() as conn:
            prior = await _find_idempotent(conn, identity.key_id, idempotency_key)
        if prior is None:
            raise
        return _replay(prior, fingerprint)
    if gw.runner is not None:
        gw.runner.notify()
    return Created(data=data, replayed=False)


async def _insert(
    gw: Gateway,
    conn: AsyncConnection,
    identity: KeyIdentity,
    req: CreateRequest,
    price: int,
    request_id: str,
    upstream: Upstream | None = None,
) -> dict[str, Any]:
    limit = identity.max_concurrent_tasks or gw.settings.max_concurrent_tasks
    active = await tasks_store.count_active_for_key(conn, identity.key_id)
    if active >= limit:
        raise RateLimited(
            f"Too many concurrent tasks: {active} active, the limit is {limit} for this API key",
            retry_after=5,
            code="too_many_concurrent_tasks",
        )
    tid = upstream.task_id if upstream is not None else new_task_id()
    remaining = await accounts_store.debit_for_task(conn, identity.account_id, tid, price)
    extra: dict[str, Any] = {"provider": "simulator" if (req.model == "sora2" and identity.mode == "test") else None}
    if upstream is not None:  # the upstream job id is committed with the task row: polled, never resubmitted
        extra = {
            "provider": upstream.provider,
            "upstream_job_id": upstream.job_id,
            "step": "submitted",
            "state": {"upstream": {"provider": upstream.provider, "job_id": upstream.job_id, **upstream.extra}},
        }
    await tasks_store.insert_task(
        conn,
        id=tid,
        account_id=identity.account_id,
        api_key_id=identity.key_id,
        model=req.model,
        mode=identity.mode,
        params=req.params,
        callback_url=req.callback_url,
        request_id=request_id,
        credits_used=price,
        **extra,
    )
    if gw.runner is not None:
        await gw.runner.enqueue(conn, tid)
    return {
        "task_id": tid,
        "request_id": request_id,
        "credits_used": price,
        "remaining_credits": remaining,
        "model": req.model,
    }


async def _find_idempotent(conn: AsyncConnection, key_id: str, key: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(idempotency_keys).where(
                (idempotency_keys.c.api_key_id == key_id) & (idempotency_keys.c.key == key)
            )
        )
    ).mappings().first()
    if row is None or row["expires_at"] <= utcnow():
        return None
    return dict(row)


def _replay(prior: dict[str, Any], fingerprint: str) -> Created:
    if prior["request_hash"] != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body; use a new key"
        )
    return Created(data=dict(prior["response_body"]), replayed=True)


async def purge_expired_idempotency(conn: AsyncConnection) -> int:
    res = await conn.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at <= utcnow()))
    return res.rowcount or 0


__all__ = ["Created", "admit", "create_task", "purge_expired_idempotency"]
