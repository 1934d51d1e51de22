"""Small local upstreams that follow the kie.ai jobs API and the OpenAI Videos API shapes.

Each runs as a FastAPI app under uvicorn in a thread on 127.0.0.1, counts what it is asked, and serves a
real MP4 rendered by :func:`vidgate.providers.simulator.render_test_pattern`. Knobs on the instance
change its behaviour between requests (fail the next submits, hold jobs in progress, block, ...).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

from servers import _ThreadedUvicorn, free_port


@lru_cache(maxsize=1)
def sample_mp4() -> Path:
    from vidgate.providers.simulator import render_test_pattern

    path = Path(tempfile.mkdtemp(prefix="vidgate-upstream-")) / "upstream.mp4"
    render_test_pattern(path, prompt="fake upstream result", aspect_ratio="landscape", seconds=1)
    return path


class AppThread:
    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = _ThreadedUvicorn(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> AppThread:
        self._thread.start()
        deadline = time.time() + 20
        while not self._server.started:
            if time.time() > deadline:
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@dataclass
class Behaviour:
    submit_status: int | None = None  # answer submits with this error status/code
    submit_message: str = "busy"
    submit_as_http_status: bool = False  # kie: send the error as the HTTP status too (a proxy's 503)
    submit_delay: float = 0.0  # seconds before answering a submit (timeouts)
    retry_after: str | None = None
    hold: threading.Event = field(default_factory=threading.Event)  # jobs finish only once set
    fail_message: str | None = None  # jobs end failed with this message
    polls_before_done: int = 1

    def __post_init__(self) -> None:
        self.hold.set()


class FakeKie:
    """kie.ai: POST /api/v1/jobs/createTask, GET /api/v1/jobs/recordInfo?taskId=, body `code` statuses."""

    def __init__(self, api_key: str = "kie-secret") -> None:
        self.api_key = api_key
        self.b = Behaviour()
        self.submits: list[dict[str, Any]] = []
        self.attempts = 0  # every createTask call, accepted or not
        self.polls: dict[str, int] = {}
        self.auth_seen: list[str] = []
        app = FastAPI()

        @app.post("/api/v1/jobs/createTask")
        async def create(request: Request) -> JSONResponse:
            self.attempts += 1
            self.auth_seen.append(request.headers.get("authorization", ""))
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return JSONResponse({"code": 401, "msg": "You do not have access permissions"})
            body = await request.json()
            if self.b.submit_delay:
                await asyncio.sleep(self.b.submit_delay)
            if self.b.submit_status is not None:
                headers = {"Retry-After": self.b.retry_after} if self.b.retry_after else {}
                # kie answers HTTP 200 with the status in the body's code
                http_status = self.b.submit_status if self.b.submit_as_http_status else 200
                return JSONResponse(
                    {"code": self.b.submit_status, "msg": self.b.submit_message}, status_code=http_status,
                    headers=headers,
                )
            job = "kie_" + uuid.uuid4().hex[:12]
            self.submits.append({"taskId": job, **body})
            self.polls[job] = 0
            return JSONResponse({"code": 200, "msg": "success", "data": {"taskId": job}})

        @app.get("/api/v1/jobs/recordInfo")
        async def record(taskId: str, request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return JSONResponse({"code": 401, "msg": "unauthorized"})
            if taskId not in self.polls:
                return JSONResponse({"code": 404, "msg": "task not found"})
            self.polls[taskId] += 1
            n = self.polls[taskId]
            data: dict[str, Any] = {"taskId": taskId, "model": "sora-2-text-to-video", "param": "{}"}
            if not self.b.hold.is_set() or n <= self.b.polls_before_done:
                data["state"] = "waiting" if n == 1 else "generating"
            elif self.b.fail_message:
                data.update(state="fail", failCode="501", failMsg=self.b.fail_message)
            else:
                url = f"http://127.0.0.1:{self.port}/files/{taskId}.mp4"
                data.update(state="success", resultJson=json.dumps({"resultUrls": [url]}))
            return JSONResponse({"code": 200, "msg": "success", "data": data})

        @app.get("/files/{name}")
        async def files(name: str) -> FileResponse:
            return FileResponse(sample_mp4(), media_type="video/mp4")

        self.thread = AppThread(app)
        self.port = self.thread.port
        self.url = self.thread.url

    def start(self) -> FakeKie:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop()


class FakeOpenAI:
    """OpenAI Videos: POST /v1/videos, GET /v1/videos/{id} (openai-poll-after-ms), GET .../content."""

    def __init__(self, api_key: str = "sk-test", poll_after_ms: int = 50) -> None:
        self.api_key = api_key
        self.poll_after_ms = poll_after_ms
        self.b = Behaviour()
        self.submits: list[dict[str, Any]] = []
        self.attempts = 0
        self.idempotency_keys: list[str | None] = []
        self.polls: dict[str, int] = {}
        self.poll_times: list[float] = []
        app = FastAPI()

        def unauthorized(request: Request) -> JSONResponse | None:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                err = {"message": "Incorrect API key provided", "type": "invalid_request_error",
                       "code": "invalid_api_key"}
                return JSONResponse({"error": {**err, "param": None}}, status_code=401)
            return None

        def video(job: str, status: str, progress: int, error: dict[str, Any] | None = None) -> dict[str, Any]:
            sub = next(s for s in self.submits if s["id"] == job)
            return {
                "id": job, "object": "video", "model": sub.get("model", "sora-2"), "status": status,
                "progress": progress, "created_at": 1760000000, "completed_at": None, "expires_at": None,
                "seconds": sub.get("seconds", "4"), "size": sub.get("size", "720x1280"), "error": error,
                "remixed_from_video_id": None, "prompt": sub.get("prompt"),
            }

        @app.post("/v1/videos")
        async def create(request: Request) -> JSONResponse:
            self.attempts += 1
            if (bad := unauthorized(request)) is not None:
                return bad
            if request.headers.get("content-type", "").startswith("multipart/"):
                # the SDK always posts multipart; input_reference={"image_url": u} arrives as input_reference[image_url]
                form = await request.form()
                body: dict[str, Any] = {}
                for k, v in form.multi_items():
                    if not isinstance(v, str):
                        body[k] = {"file": v.filename}
                    elif k.startswith("input_reference[") and k.endswith("]"):
                        body.setdefault("input_reference", {})[k[len("input_reference["):-1]] = v
                    else:
                        body[k] = v
            else:
                body = await request.json()
            if self.b.submit_delay:
                await asyncio.sleep(self.b.submit_delay)
            if self.b.submit_status is not None:
                code = "moderation_blocked" if self.b.submit_status == 400 else None
                headers = {"Retry-After": self.b.retry_after} if self.b.retry_after else {}
                err = {"message": self.b.submit_message, "type": "invalid_request_error", "param": None, "code": code}
                return JSONResponse({"error": err}, status_code=self.b.submit_status, headers=headers)
            job = "video_" + uuid.uuid4().hex[:16]
            self.submits.append({"id": job, **body})
            self.idempotency_keys.append(request.headers.get("idempotency-key"))
            self.polls[job] = 0
            return JSONResponse(video(job, "queued", 0))

        @app.get("/v1/videos/{job}")
        async def retrieve(job: str, request: Request) -> JSONResponse:
            if (bad := unauthorized(request)) is not None:
                return bad
            if job not in self.polls:
                err = {"message": "not found", "type": "invalid_request_error", "param": None, "code": None}
                return JSONResponse({"error": err}, status_code=404)
            self.polls[job] += 1
            self.poll_times.append(time.monotonic())
            n = self.polls[job]
            headers = {"openai-poll-after-ms": str(self.poll_after_ms)}
            if not self.b.hold.is_set() or n <= self.b.polls_before_done:
                return JSONResponse(video(job, "in_progress", min(90, 30 * n)), headers=headers)
            if self.b.fail_message:
                err = {"code": "moderation_blocked" if "moderation" in self.b.fail_message else "internal_error",
                       "message": self.b.fail_message}
                return JSONResponse(video(job, "failed", 100, err), headers=headers)
            return JSONResponse(video(job, "completed", 100), headers=headers)

        @app.get("/v1/videos/{job}/content", response_model=None)
        async def content(job: str, request: Request) -> FileResponse | JSONResponse:
            if (bad := unauthorized(request)) is not None:
                return bad
            return FileResponse(sample_mp4(), media_type="video/mp4")

        self.thread = AppThread(app)
        self.url = self.thread.url

    def start(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop()
