"""``kie``: the kie.ai jobs API (same Sora 2 field names as our contract).

* submit: ``POST {base_url}/api/v1/jobs/createTask`` ``{model, input: {prompt, image_urls?, aspect_ratio,
  n_frames, remove_watermark}}`` with model ``sora-2-text-to-video`` or ``sora-2-image-to-video``
  (configurable). kie documents no idempotency key, so none is sent.
* poll: ``GET {base_url}/api/v1/jobs/recordInfo?taskId=...`` → ``data.state`` waiting | queuing |
  generating | success | fail; ``data.resultJson`` is a JSON *string* holding ``resultUrls``.
* The outcome is in the body's ``code`` (HTTP status may be 200 either way): 200 ok; 429, 455
  (maintenance), 500 → busy; 401, 402, 404, 505 → rejected (provider fault); 422 → rejected (this
  request); 501 → generation failed. A refusal whose message reads like moderation → blocked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vidgate.media.fetch import fetch_video
from vidgate.providers.base import (
    Poll,
    ProviderError,
    Submitted,
    UpstreamBlocked,
    UpstreamBusy,
    UpstreamRejected,
    looks_blocked,
)
from vidgate.providers.http import UpstreamHTTP, short
from vidgate.settings import Settings

_STATE = {"waiting": "queued", "queuing": "queued", "generating": "running", "success": "succeeded", "fail": "failed"}
_STATE_PROGRESS = {"waiting": 0, "queuing": 5, "generating": 40}


def classify(code: int, message: str, retry_after: float | None = None) -> ProviderError:
    if code in (429, 455, 500, 502, 503, 504):
        return UpstreamBusy(message, retry_after=retry_after, status=code)
    if looks_blocked(message) and code in (400, 422, 501):
        return UpstreamBlocked(message, status=code)
    return UpstreamRejected(message, status=code, provider_fault=code in (401, 402, 403, 404, 505))


class KieProvider:
    kind = "kie"

    def __init__(self, settings: Settings, name: str, cfg: dict[str, Any], api_key: str) -> None:
        self.name = name
        self.settings = settings
        self.text_model = str(cfg.get("text_model", "sora-2-text-to-video"))
        self.image_model = str(cfg.get("image_model", "sora-2-image-to-video"))
        self.watermark = str(cfg.get("watermark", "local"))
        self.http = UpstreamHTTP(
            settings,
            name=name,
            base_url=str(cfg.get("base_url", "https://api.kie.ai")),
            api_key=api_key,
            timeout=float(cfg.get("timeout_seconds", settings.provider_timeout_seconds)),
        )

    def unsupported(self, params: dict[str, Any]) -> tuple[str, str] | None:
        return None  # kie takes our fields one to one

    def request_body(self, params: dict[str, Any]) -> dict[str, Any]:
        images = list(params.get("image_urls") or [])
        i2v = params.get("type") == "image-to-video" or bool(images)
        inp: dict[str, Any] = {
            "prompt": params.get("prompt") or "",
            "aspect_ratio": params.get("aspect_ratio") or "landscape",
            "n_frames": params.get("n_frames") or "10",
            "remove_watermark": bool(params.get("remove_watermark")) and self.watermark == "upstream",
        }
        if i2v:
            inp["image_urls"] = images
        return {"model": self.image_model if i2v else self.text_model, "input": inp}

    async def submit(self, params: dict[str, Any], *, idempotency_key: str) -> Submitted:
        body_out = self.request_body(params)
        status, body, headers = await self.http.request("POST", "/api/v1/jobs/createTask", json=body_out)
        code = _code(status, body)
        msg = str(body.get("msg") or body.get("message") or short(body))
        if code != 200:
            raise classify(code, f"{self.name}: code {code}: {msg}", self.http.retry_after(headers))
        task_id = (body.get("data") or {}).get("taskId")
        if not isinstance(task_id, str) or not task_id:
            raise UpstreamBusy(f"{self.name}: createTask answered without data.taskId")
        return Submitted(job_id=task_id)

    async def poll(self, job_id: str) -> Poll:
        status, body, headers = await self.http.request("GET", "/api/v1/jobs/recordInfo", params={"taskId": job_id})
        code = _code(status, body)
        if code != 200:
            msg = f"{self.name}: code {code} polling {job_id}: {body.get('msg') or short(body)}"
            if code == 404:
                return Poll(status="failed", error=msg)
            raise UpstreamBusy(msg, retry_after=self.http.retry_after(headers), status=code)
        data = body.get("data") or {}
        raw_state = str(data.get("state") or "waiting")
        state = _STATE.get(raw_state, "running")
        if state == "failed":
            message = data.get("failMsg") or f"generation failed (failCode {data.get('failCode')})"
            return Poll(status="failed", error=str(message), blocked=looks_blocked(message, data.get("failCode")))
        progress = data.get("progress")
        if not isinstance(progress, int | float):
            progress = _STATE_PROGRESS.get(raw_state)
        if state == "succeeded":
            urls = _result_urls(data.get("resultJson"))
            if not urls:
                return Poll(status="failed", error=f"{self.name}: success without resultUrls")
            return Poll(status="succeeded", progress=100, result_urls=urls)
        return Poll(status=state, progress=progress, retry_after=self.http.retry_after(headers))  # type: ignore[arg-type]

    async def download(self, url: str, dest: Path) -> None:
        await fetch_video(url, dest, settings=self.settings)

    async def aclose(self) -> None:
        await self.http.aclose()


def _code(status: int, body: dict[str, Any]) -> int:
    code = body.get("code")
    if status != 200:
        return status if not isinstance(code, int) or code == 200 else code
    return code if isinstance(code, int) else 502


def _result_urls(result_json: Any) -> list[str]:
    if isinstance(result_json, str):
        try:
            result_json = json.loads(result_json)
        except ValueError:
            return []
    if not isinstance(result_json, dict):
        return []
    urls = result_json.get("resultUrls") or []
    return [u for u in urls if isinstance(u, str)]
