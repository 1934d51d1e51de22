"""POST /api/v1/videos/generate and GET /api/v1/videos/{task_id}."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from vidgate.api.deps import api_key, gateway
from vidgate.api.errors import request_id_of
from vidgate.contract import ok, parse_create, task_payload
from vidgate.domain.creation import create_task
from vidgate.errors import InvalidRequest, NotFound
from vidgate.gateway import Gateway
from vidgate.store import tasks as tasks_store
from vidgate.store.accounts import KeyIdentity

router = APIRouter(prefix="/api/v1/videos", tags=["videos"])


async def _json_body(request: Request, limit: int) -> object:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise InvalidRequest(f"Request body too large (limit {limit} bytes)")
    raw = await request.body()
    if len(raw) > limit:
        raise InvalidRequest(f"Request body too large (limit {limit} bytes)")
    if not raw:
        raise InvalidRequest("Request body must be a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}") from None


@router.post("/generate")
async def generate(
    request: Request, identity: KeyIdentity = Depends(api_key), gw: Gateway = Depends(gateway)
) -> JSONResponse:
    body = await _json_body(request, gw.settings.max_body_bytes)
    req = parse_create(body, gw.settings)
    rid = request_id_of(request) or ""
    created = await create_task(
        gw, identity, req, request_id=rid, idempotency_key=request.headers.get("idempotency-key")
    )
    headers = {"Idempotent-Replayed": "true"} if created.replayed else {}
    return JSONResponse(ok(created.data, rid), headers=headers)


@router.get("/{task_id}")
async def get_video(task_id: str, request: Request) -> JSONResponse:
    # the hottest route (clients poll it): auth is called directly rather than through Depends,
    # which costs more in FastAPI's dependency solver than the whole database read
    identity = await api_key(request)
    gw: Gateway = request.app.state.gateway
    # scoped to the caller's account: another tenant's task is indistinguishable from none
    task = await tasks_store.read_task(gw.db, task_id, identity.account_id)
    if task is None:
        raise NotFound(f"Task {task_id} not found", code="task_not_found")
    urls: list[str] = []
    if task["status"] == "completed" and gw.storage is not None:
        base = (gw.settings.public_url or str(request.base_url)).rstrip("/")
        urls = [gw.storage.signed_url(base, key, gw.settings.url_ttl_seconds) for key in task["result_keys"]]
    return JSONResponse(ok(task_payload(task, urls), request_id_of(request) or ""))
