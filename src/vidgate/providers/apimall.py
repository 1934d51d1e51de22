"""``apimall``: any server that speaks our own contract (API Mall itself, or another vidgate).

* submit: ``POST {base_url}/api/v1/videos/generate`` with the sora2 fields as-is and an
  ``Idempotency-Key`` derived from our task id (the contract replays the same task for the same key).
* poll: ``GET {base_url}/api/v1/videos/{task_id}``; ``pending``/``processing``/``completed``/``failed``,
  ``progress``, ``output.resultUrls`` / ``video_url``, ``error_message``.
* 451 at create → blocked; 429/503/5xx → busy (try the next provider); 400/401/402/403 → rejected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidgate.media.fetch import fetch_video
from vidgate.providers.base import (
    Poll,
    Submitted,
    UpstreamBlocked,
    UpstreamBusy,
    UpstreamRejected,
    busy_or_rejected,
    looks_blocked,
)
from vidgate.providers.http import UpstreamHTTP, short
from vidgate.settings import Settings

_STATUS = {"pending": "queued", "processing": "running", "completed": "succeeded", "failed": "failed"}


class ApiMallProvider:
    kind = "apimall"

    def __init__(self, settings: Settings, name: str, cfg: dict[str, Any], api_key: str) -> None:
        self.name = name
        self.settings = settings
        self.model = str(cfg.get("model", "sora2"))
        self.watermark = str(cfg.get("watermark", "local"))
        self.http = UpstreamHTTP(
            settings,
            name=name,
            base_url=str(cfg.get("base_url", "https://gateway.apimall.ai")),
            api_key=api_key,
            timeout=float(cfg.get("timeout_seconds", settings.provider_timeout_seconds)),
        )

    def unsupported(self, params: dict[str, Any]) -> tuple[str, str] | None:
        return None  # same contract: everything we accept, it accepts

    def request_body(self, params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "type": params.get("type", "text-to-video"),
            "prompt": params.get("prompt") or "",
            "aspect_ratio": params.get("aspect_ratio") or "landscape",
            "n_frames": params.get("n_frames") or "10",
            "remove_watermark": bool(params.get("remove_watermark")) and self.watermark == "upstream",
        }
        if params.get("image_urls"):
            body["image_urls"] = list(params["image_urls"])
        return body

    async def submit(self, params: dict[str, Any], *, idempotency_key: str) -> Submitted:
        status, body, headers = await self.http.request(
            "POST",
            "/api/v1/videos/generate",
            json=self.request_body(params),
            headers={"Idempotency-Key": idempotency_key},
        )
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = f"{self.name}: HTTP {status} {err.get('code', '')}: {err.get('message', short(body))}"
        if status == 451 or err.get("code") == "content_blocked":
            raise UpstreamBlocked(err.get("message") or "Prompt blocked by the upstream's moderation", status=status)
        if status != 200 or not body.get("success"):
            raise busy_or_rejected(status if status != 200 else 502, message, self.http.retry_after(headers))
        task_id = (body.get("data") or {}).get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise UpstreamBusy(f"{self.name}: create answered without data.task_id")
        return Submitted(job_id=task_id)

    async def poll(self, job_id: str) -> Poll:
        status, body, headers = await self.http.request("GET", f"/api/v1/videos/{job_id}")
        if status == 404:
            return Poll(status="failed", error=f"{self.name}: upstream task {job_id} not found")
        if status != 200:
            hint = self.http.retry_after(headers)
            err = busy_or_rejected(status, f"{self.name}: HTTP {status} polling {job_id}", hint)
            if isinstance(err, UpstreamRejected):
                raise UpstreamBusy(err.message, status=status)  # e.g. a revoked key: keep trying, time out later
            raise err
        data = body.get("data") or {}
        state = _STATUS.get(str(data.get("status")), "running")
        progress = data.get("progress")
        if state == "failed":
            message = data.get("error_message") or data.get("failMsg") or "generation failed"
            return Poll(status="failed", error=str(message), blocked=looks_blocked(message))
        urls: list[str] = []
        if state == "succeeded":
            urls = list((data.get("output") or {}).get("resultUrls") or [])
            if not urls and data.get("video_url"):
                urls = [data["video_url"]]
            if not urls:
                return Poll(status="failed", error=f"{self.name}: completed without a result URL")
        return Poll(
            status=state,  # type: ignore[arg-type]
            progress=int(progress) if isinstance(progress, int | float) else None,
            result_urls=urls,
            retry_after=self.http.retry_after(headers),
        )

    async def download(self, url: str, dest: Path) -> None:
        await fetch_video(url, dest, settings=self.settings)

    async def aclose(self) -> None:
        await self.http.aclose()
