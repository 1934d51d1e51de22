"""Operator endpoints behind the admin token: accounts, approval, credits."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from vidgate.api.deps import admin, gateway
from vidgate.api.errors import request_id_of
from vidgate.clock import iso
from vidgate.contract import ok
from vidgate.gateway import Gateway
from vidgate.store import accounts as accounts_store

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(admin)])


class AccountCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    status: str = Field(default="approved", pattern="^(approved|pending|suspended)$")
    credits: int = Field(default=0, ge=0)
    create_key: bool = True
    key_mode: str = Field(default="live", pattern="^(test|live)$")


class CreditGrant(BaseModel):
    amount: int
    note: str = Field(default="", max_length=300)


class StatusChange(BaseModel):
    status: str = Field(pattern="^(approved|pending|suspended)$")


async def _account_view(gw: Gateway, account_id: str) -> dict:
    async with gw.db.read() as conn:
        acct = await accounts_store.get_account(conn, account_id)
        derived = await accounts_store.ledger_sum(conn, account_id)
    return {
        "id": acct["id"],
        "name": acct["name"],
        "status": acct["status"],
        "credits": acct["balance"],
        "ledger_credits": derived,
        "created_at": iso(acct["created_at"]),
    }


@router.post("/accounts")
async def create_account(body: AccountCreate, request: Request, gw: Gateway = Depends(gateway)) -> JSONResponse:
    async with gw.db.write() as conn:
        account_id = await accounts_store.create_account(
            conn, name=body.name, status=body.status, credits=body.credits, note="admin grant"
        )
        key = None
        if body.create_key:
            _, key = await accounts_store.create_key(conn, account_id, mode=body.key_mode, title="admin-created")
    data = await _account_view(gw, account_id)
    if key:
        data["api_key"] = key
    return JSONResponse(ok(data, request_id_of(request) or ""))


@router.get("/accounts/{account_id}")
async def get_account(account_id: str, request: Request, gw: Gateway = Depends(gateway)) -> JSONResponse:
    return JSONResponse(ok(await _account_view(gw, account_id), request_id_of(request) or ""))


@router.post("/accounts/{account_id}/credits")
async def grant(account_id: str, body: CreditGrant, request: Request, gw: Gateway = Depends(gateway)) -> JSONResponse:
    async with gw.db.write() as conn:
        await accounts_store.add_credits(conn, account_id, body.amount, note=body.note or "admin grant")
    return JSONResponse(ok(await _account_view(gw, account_id), request_id_of(request) or ""))


@router.post("/accounts/{account_id}/status")
async def set_status(
    account_id: str, body: StatusChange, request: Request, gw: Gateway = Depends(gateway)
) -> JSONResponse:
    async with gw.db.write() as conn:
        await accounts_store.set_account_status(conn, account_id, body.status)
    request.app.state.auth_cache.clear()
    return JSONResponse(ok(await _account_view(gw, account_id), request_id_of(request) or ""))
