"""Webhook endpoints (API Mall's ``/api/v1/webhooks``), the account signing secret, and delivery logs.

* ``POST /api/v1/webhooks`` ``{url, events?, secret_key?, api_key_id?}``, ``GET /api/v1/webhooks``,
  ``DELETE /api/v1/webhooks/{id}``: account-level endpoints that receive every matching task event
  (in addition to a task's own ``callBackUrl``).
* ``GET /api/v1/webhooks/secret``, ``POST /api/v1/webhooks/secret/rotate`` ``{grace_hours?}``: the
  account's ``whsec_`` signing secret; after a rotation the old one stays valid (and is signed with too)
  for ``grace_hours`` (default ``webhook_secret_grace_hours``).
* ``GET /api/v1/videos/{task_id}/callbacks`` and ``GET /api/v1/webhooks/deliveries?task_id=&webhook_id=``:
  every delivery and each of its attempts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from vidgate.api.deps import api_key, gateway
from vidgate.api.errors import request_id_of
from vidgate.clock import iso
from vidgate.contract import _http_url, ok
from vidgate.errors import InvalidRequest, NotFound
from vidgate.gateway import Gateway
from vidgate.store import tasks as tasks_store
from vidgate.store.accounts import KeyIdentity, list_keys
from vidgate.webhooks import outbox

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


class WebhookCreate(BaseModel):
    url: str = Field(max_length=2048)
    events: list[str] = Field(default_factory=lambda: list(outbox.EVENTS))
    secret_key: str | None = Field(default=None, min_length=16, max_length=200)
    api_key_id: str | None = Field(default=None, max_length=40)


class Rotate(BaseModel):
    grace_hours: float | None = Field(default=None, ge=0, le=24 * 30)


def endpoint_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "events": row["events"],
        "api_key_id": row["api_key_id"],
        "has_secret_key": bool(row["secret_key"]),
        "status": "disabled" if row["disabled_at"] else "active",
        "total_sent": row["total_sent"],
        "total_failed": row["total_failed"],
        "last_sent_at": iso(row["last_sent_at"]),
        "last_error": row["last_error"],
        "disabled_at": iso(row["disabled_at"]),
        "created_at": iso(row["created_at"]),
    }


def delivery_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "task_id": row["task_id"],
        "event": row["event"],
        "url": row["url"],
        "webhook_id": row["endpoint_id"],
        "source": "webhook" if row["endpoint_id"] else "callBackUrl",
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "created_at": iso(row["created_at"]),
        "delivered_at": iso(row["delivered_at"]),
        "attempt_log": [
            {
                "attempt": a["attempt"],
                "at": iso(a["started_at"]),
                "duration_ms": a["duration_ms"],
                "status_code": a["status_code"],
                "outcome": a["outcome"],
                "error": a["error"],
            }
            for a in row.get("attempt_log", [])
        ],
    }


def _rid(request: Request) -> str:
    return request_id_of(request) or ""


@router.post("/webhooks")
async def create_webhook(
    request: Request, body: WebhookCreate, identity: KeyIdentity = Depends(api_key), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    url = _http_url(body.url, "url", gw.settings)
    events = list(dict.fromkeys(body.events))
    if not events or any(e not in outbox.EVENTS for e in events):
        raise InvalidRequest(f"events must be a non-empty subset of: {', '.join(outbox.EVENTS)}", field="events")
    async with gw.db.write() as conn:
        if body.api_key_id is not None:
            keys = await list_keys(conn, identity.account_id)
            if body.api_key_id not in {k["id"] for k in keys}:
                raise InvalidRequest("api_key_id is not a key of this account", field="api_key_id")
        row = await outbox.create_endpoint(
            conn, identity.account_id, url=url, events=events, secret_key=body.secret_key, api_key_id=body.api_key_id
        )
    return JSONResponse(ok(endpoint_view(row), _rid(request)))


@router.get("/webhooks")
async def list_webhooks(
    request: Request, identity: KeyIdentity = Depends(api_key), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    async with gw.db.read() as conn:
        rows = await outbox.list_endpoints(conn, identity.account_id)
    return JSONResponse(ok({"webhooks": [endpoint_view(r) for r in rows], "total": len(rows)}, _rid(request)))


@router.get("/webhooks/secret")
async def get_secret(
    request: Request, identity: KeyIdentity = Depends(api_key), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    async with gw.db.write() as conn:
        rows = await outbox.account_secrets(conn, identity.account_id, create=True)
    return JSONResponse(ok(_secret_view(rows), _rid(request)))


def _secret_view(rows: list[dict[str, Any]]) -> dict[str, Any]:
    current = rows[0]
    return {
        "secret": current["secret"],
        "created_at": iso(current["created_at"]),
        "previous": [{"valid_until": iso(r["expires_at"]), "created_at": iso(r["created_at"])} for r in rows[1:]],
    }


@router.post("/webhooks/secret/rotate")
async def rotate_secret(
    request: Request,
    body: Rotate | None = None,
    identity: KeyIdentity = Depends(api_key),
    gw: Gateway = Depends(gateway),
) -> JSONResponse:
    hours = gw.settings.webhook_secret_grace_hours if body is None or body.grace_hours is None else body.grace_hours
    async with gw.db.write() as conn:
        await outbox.account_secrets(conn, identity.account_id, create=True)
        rotated = await outbox.rotate_secret(conn, identity.account_id, hours)
        rows = await outbox.account_secrets(conn, identity.account_id, create=False)
    view = _secret_view(rows)
    view["previous_valid_until"] = iso(rotated["previous_valid_until"])
    return JSONResponse(ok(view, _rid(request)))


@router.get("/webhooks/deliveries")
async def list_deliveries(
    request: Request,
    task_id: str | None = None,
    webhook_id: str | None = None,
    limit: int = 100,
    identity: KeyIdentity = Depends(api_key),
    gw: Gateway = Depends(gateway),
) -> JSONResponse:
    async with gw.db.read() as conn:
        rows = await outbox.list_deliveries(
            conn, identity.account_id, task_id=task_id, endpoint_id=webhook_id, limit=max(1, min(limit, 500))
        )
    return JSONResponse(ok({"deliveries": [delivery_view(r) for r in rows], "total": len(rows)}, _rid(request)))


@router.delete("/webhooks/{webhook_id}")
async def delete_webhook(
    webhook_id: str, request: Request, identity: KeyIdentity = Depends(api_key), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    async with gw.db.write() as conn:
        row = await outbox.delete_endpoint(conn, identity.account_id, webhook_id)
    return JSONResponse(ok({**endpoint_view(row), "deleted": True}, _rid(request)))


@router.get("/videos/{task_id}/callbacks")
async def task_callbacks(
    task_id: str, request: Request, identity: KeyIdentity = Depends(api_key), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    async with gw.db.read() as conn:
        task = await tasks_store.get_task(conn, task_id, identity.account_id)
        if task is None:
            raise NotFound(f"Task {task_id} not found", code="task_not_found")
        rows = await outbox.list_deliveries(conn, identity.account_id, task_id=task_id)
    data = {"task_id": task_id, "deliveries": [delivery_view(r) for r in rows], "total": len(rows)}
    return JSONResponse(ok(data, _rid(request)))
