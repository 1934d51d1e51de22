"""POST /api/v1/videos/generate and GET /api/v1/videos/{task_id}."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from vidgate.api.deps import api_key, gateway
from vidgate.api.errors import request_id_of
from vidgate.contract import ok, parse_create, task_payload
from vidgate.domain.creation import create_task
from vidgate.errors import InvalidRequest, NotFound
from vidgate.gateway import Gateway
from vidgate.storage import result_urls
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


async def get_video(request: Request) -> JSONResponse:
    """GET /api/v1/videos/{task_id}: the hottest route (clients poll it).

    Served as a plain Starlette route (see ``poll_routes``): FastAPI's per-request parameter and
    dependency machinery costs more than the whole database read, so this one does its own.
    """
    task_id: str = request.path_params["task_id"]
    identity = await api_key(request)
    gw: Gateway = request.app.state.gateway
    # scoped to the caller's account: another tenant's task is indistinguishable from none
    task = await tasks_store.read_task(gw.db, task_id, identity.account_id)
    if task is None:
        raise NotFound(f"Task {task_id} not found", code="task_not_found")
    urls: list[str] = []
    if task["status"] == "completed":
        base = (gw.settings.public_url or str(request.base_url)).rstrip("/")
        urls = result_urls(gw, task, base)  # local signed URLs, presigned s3/oss URLs; [] once expired
    return JSONResponse(ok(task_payload(task, urls), request_id_of(request) or ""))


poll_routes = [Route("/api/v1/videos/{task_id}", get_video, methods=["GET"], name="get_video")]

# documented in the OpenAPI schema by hand, since plain routes are not introspected
POLL_OPENAPI = {
    "get": {
        "tags": ["videos"],
        "summary": "Query task status",
        "operationId": "get_video",
        "parameters": [{"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "security": [{"bearer": []}],
        "responses": {
            "200": {"description": "The task: status, progress, output.resultUrls, video_url, credits"},
            "401": {"description": "API key required or invalid"},
            "404": {"description": "No such task for this account"},
            "429": {"description": "Rate limit exceeded"},
        },
    }
}
