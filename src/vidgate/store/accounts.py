"""Accounts, API keys, admin tokens and the credit ledger."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vidgate.clock import utcnow
from vidgate.errors import InsufficientCredits, InvalidRequest, NotFound
from vidgate.ids import new_id, new_secret
from vidgate.store.db import Database
from vidgate.store.tables import accounts, admin_tokens, api_keys, ledger

KEY_PREFIX = {"test": "vg_test_", "live": "vg_live_"}
ADMIN_PREFIX = "vg_admin_"
PREVIEW_CHARS = 12


def hash_secret(secret: str) -> str:
    # Keys are 192-bit random strings: a fast digest is enough (no dictionary to attack),
    # and it lets us look a key up by its hash on every request.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class KeyIdentity:
    """What authentication yields: the key and its account, as of the lookup."""

    key_id: str
    account_id: str
    mode: str
    state: str
    account_status: str
    rate_limit_rpm: int | None
    max_concurrent_tasks: int | None


async def create_account(
    conn: AsyncConnection, *, name: str, status: str = "approved", credits: int = 0, note: str = ""
) -> str:
    account_id = new_id("acct")
    await conn.execute(
        insert(accounts).values(id=account_id, name=name, status=status, balance=0, created_at=utcnow())
    )
    if credits:
        await add_credits(conn, account_id, credits, note=note or "initial credits")
    return account_id


async def get_account(conn: AsyncConnection, account_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).mappings().first()
    if row is None:
        raise NotFound(f"Account {account_id} not found")
    return dict(row)


async def set_account_status(conn: AsyncConnection, account_id: str, status: str) -> None:
    if status not in ("approved", "pending", "suspended"):
        raise InvalidRequest("status must be approved, pending or suspended", field="status")
    res = await conn.execute(update(accounts).where(accounts.c.id == account_id).values(status=status))
    if res.rowcount == 0:
        raise NotFound(f"Account {account_id} not found")


async def add_credits(conn: AsyncConnection, account_id: str, amount: int, *, note: str = "") -> int:
    """Grant (or, with a negative amount, remove) credits. Returns the new balance."""
    if amount == 0:
        raise InvalidRequest("amount must not be zero", field="amount")
    cond = accounts.c.id == account_id
    if amount < 0:
        cond = cond & (accounts.c.balance >= -amount)
    res = await conn.execute(update(accounts).where(cond).values(balance=accounts.c.balance + amount))
    if res.rowcount == 0:
        await get_account(conn, account_id)  # raises NotFound if missing
        raise InsufficientCredits("Cannot remove more credits than the balance holds")
    await conn.execute(
        insert(ledger).values(
            account_id=account_id, delta=amount, kind="grant", note=note[:300], created_at=utcnow()
        )
    )
    return await balance(conn, account_id)


async def debit_for_task(conn: AsyncConnection, account_id: str, task_id: str, amount: int) -> int:
    """Take ``amount`` for a task, or raise 402. Returns the remaining balance."""
    if amount > 0:
        res = await conn.execute(
            update(accounts)
            .where((accounts.c.id == account_id) & (accounts.c.balance >= amount))
            .values(balance=accounts.c.balance - amount)
        )
        if res.rowcount == 0:
            have = await balance(conn, account_id)
            raise InsufficientCredits(f"Insufficient credits: this task costs {amount}, balance is {have}")
    await conn.execute(
        insert(ledger).values(
            account_id=account_id, delta=-amount, kind="debit", task_id=task_id, created_at=utcnow()
        )
    )
    return await balance(conn, account_id)


async def refund_task(conn: AsyncConnection, account_id: str, task_id: str, amount: int, note: str) -> bool:
    """Refund a task once. Returns False when it was already refunded (the ledger forbids a second)."""
    exists = await conn.scalar(
        select(ledger.c.id).where((ledger.c.task_id == task_id) & (ledger.c.kind == "refund"))
    )
    if exists is not None or amount <= 0:
        return False
    await conn.execute(
        insert(ledger).values(
            account_id=account_id,
            delta=amount,
            kind="refund",
            task_id=task_id,
            note=note[:300],
            created_at=utcnow(),
        )
    )
    await conn.execute(
        update(accounts).where(accounts.c.id == account_id).values(balance=accounts.c.balance + amount)
    )
    return True


async def balance(conn: AsyncConnection, account_id: str) -> int:
    value = await conn.scalar(select(accounts.c.balance).where(accounts.c.id == account_id))
    if value is None:
        raise NotFound(f"Account {account_id} not found")
    return int(value)


async def ledger_sum(conn: AsyncConnection, account_id: str) -> int:
    """The balance re-derived from the append-only ledger (must equal ``balance``)."""
    value = await conn.scalar(select(func.coalesce(func.sum(ledger.c.delta), 0)).where(
        ledger.c.account_id == account_id))
    return int(value or 0)


async def ledger_entries(conn: AsyncConnection, account_id: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(ledger).where(ledger.c.account_id == account_id).order_by(ledger.c.id.desc()).limit(limit)
    )
    return [dict(r) for r in rows.mappings()]


# --- API keys ---


async def create_key(
    conn: AsyncConnection, account_id: str, *, mode: str = "live", title: str = ""
) -> tuple[str, str]:
    """Create a key; returns (key_id, plaintext). The plaintext is never stored."""
    if mode not in KEY_PREFIX:
        raise InvalidRequest("mode must be test or live", field="mode")
    await get_account(conn, account_id)
    plaintext = new_secret(KEY_PREFIX[mode])
    key_id = new_id("key")
    await conn.execute(
        insert(api_keys).values(
            id=key_id,
            account_id=account_id,
            title=title[:200],
            prefix=plaintext[:PREVIEW_CHARS],
            key_hash=hash_secret(plaintext),
            mode=mode,
            state="created",
            created_at=utcnow(),
        )
    )
    return key_id, plaintext


async def lookup_key(db: Database, plaintext: str) -> KeyIdentity | None:
    key = await db.read_row(api_keys, key_hash=hash_secret(plaintext))
    if key is None:
        return None
    account = await db.read_row(accounts, id=key["account_id"])
    return KeyIdentity(
        key_id=key["id"],
        account_id=key["account_id"],
        mode=key["mode"],
        state=key["state"],
        rate_limit_rpm=key["rate_limit_rpm"],
        max_concurrent_tasks=key["max_concurrent_tasks"],
        account_status=account["status"] if account else "missing",
    )


async def mark_key_used(conn: AsyncConnection, key_id: str, when: datetime) -> None:
    # a key is "created" until first use, then "active"; revoked keys stay revoked
    await conn.execute(
        update(api_keys)
        .where((api_keys.c.id == key_id) & (api_keys.c.state != "revoked"))
        .values(last_used_at=when, state="active")
    )


async def list_keys(conn: AsyncConnection, account_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.created_at)
    )
    return [dict(r) for r in rows.mappings()]


async def revoke_key(conn: AsyncConnection, account_id: str, key_id: str) -> dict[str, Any]:
    res = await conn.execute(
        update(api_keys)
        .where((api_keys.c.id == key_id) & (api_keys.c.account_id == account_id))
        .values(state="revoked", revoked_at=utcnow())
    )
    if res.rowcount == 0:
        raise NotFound(f"API key {key_id} not found")
    row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).mappings().one()
    return dict(row)


# --- admin tokens ---


async def create_admin_token(conn: AsyncConnection) -> str:
    plaintext = new_secret(ADMIN_PREFIX)
    await conn.execute(
        insert(admin_tokens).values(
            id=new_id("adm"),
            prefix=plaintext[:PREVIEW_CHARS],
            token_hash=hash_secret(plaintext),
            created_at=utcnow(),
        )
    )
    return plaintext


async def admin_token_valid(conn: AsyncConnection, plaintext: str) -> bool:
    found = await conn.scalar(
        select(admin_tokens.c.id).where(admin_tokens.c.token_hash == hash_secret(plaintext))
    )
    return found is not None


async def has_admin_token(conn: AsyncConnection) -> bool:
    return (await conn.scalar(select(func.count()).select_from(admin_tokens))) > 0
