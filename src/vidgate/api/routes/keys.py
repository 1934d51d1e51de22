"""API keys and balances, mirroring API Mall's management endpoints (scoped to the caller's account)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from vidgate.api.deps import api_key, gateway
from vidgate.api.errors import request_id_of
from vidgate.clock import iso
from vidgate.contract import ok
from vidgate.errors import Forbidden
from vidgate.gateway import Gateway
from vidgate.store import accounts as accounts_store
from vidgate.store.accounts import KeyIdentity

router = APIRouter(prefix="/api/v1", tags=["keys"])


class KeyCreate(BaseModel):
    title: str = Field(default="", max_length=200)
    mode: str | None = Field(default=None, pattern="^(test|live)$")


def key_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "key_preview": row["prefix"] + "…",
        "mode": row["mode"],
        "status": row["state"],
        "created_at": iso(row["created_at"]),
        "last_used_at": iso(row["last_used_at"]),
        "revoked_at": iso(row["revoked_at"]),
    }


@router.post("/keys")
async def create_key(
    request: Request,
    body: KeyCreate | None = None,
    identity: KeyIdentity = Depends(api_key),
    gw: Gateway = Depends(gateway),
) -> JSONResponse:
    body = body or KeyCreate()
    mode = body.mode or identity.mode
    if identity.mode == "test" and mode == "live":
        raise Forbidden("A test-mode key cannot create live keys", code="test_key_cannot_create_live")
    async with gw.db.write() as conn:
        key_id, plaintext = await accounts_store.create_key(conn, identity.account_id, mode=mode, title=body.title)
        rows = await accounts_store.list_keys(conn, identity.account_id)
    row = next(r for r in rows if r["id"] == key_id)
    # the plaintext key is shown once, here, and never again
    return JSONResponse(ok({**key_view(row), "key": plaintext}, request_id_of(request) or ""))


@router.get("/keys")
async def list_keys(
    request: Request, identity: KeyIdentity = Depends(api_key), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    async with gw.db.read() as conn:
        rows = await accounts_store.list_keys(conn, identity.account_id)
    return JSONResponse(ok({"keys": [key_view(r) for r in rows], "total": len(rows)}, request_id_of(request) or ""))


@router.post("/keys/{key_id}/revoke")
@router.delete("/keys/{key_id}")
async def revoke_key(
    key_id: str, request: Request, identity: KeyIdentity = Depends(api_key), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    async with gw.db.write() as conn:
        row = await accounts_store.revoke_key(conn, identity.account_id, key_id)
    request.app.state.auth_cache.clear()
    return JSONResponse(ok(key_view(row), request_id_of(request) or ""))


@router.get("/account/balances")
async def balances(
    request: Request, identity: KeyIdentity = Depends(api_key), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    async with gw.db.read() as conn:
        credits = await accounts_store.balance(conn, identity.account_id)
    return JSONResponse(
        ok({"credits": credits, "api_credits": credits, "account_id": identity.account_id},
           request_id_of(request) or "")
    )
