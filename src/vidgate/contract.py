"""The wire format: request validation and the envelopes, field for field as the API Mall pages define.

A create request comes in either shape the pages use:

* fields at top level: ``{"model": "sora2", "prompt": "...", "n_frames": "10"}``
* fields under ``input``: ``{"model": ..., "callBackUrl": ..., "input": {"video_url": ...}}``

Known fields are validated (a 400 names the field); unknown fields are ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from vidgate.clock import iso
from vidgate.errors import InvalidRequest
from vidgate.settings import Settings

MODELS = ("sora2", "sora-watermark-remover")
SORA2_TYPES = ("text-to-video", "image-to-video")
ASPECT_RATIOS = ("landscape", "portrait")
N_FRAMES = ("10", "15")
UPLOAD_METHODS = ("s3", "oss")


@dataclass
class CreateRequest:
    model: str
    params: dict[str, Any]
    callback_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A hash of the request as sent (key order and whitespace don't matter)."""
        canonical = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_create(body: Any, settings: Settings) -> CreateRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object")
    fields: dict[str, Any] = {k: v for k, v in body.items() if k != "input"}
    inner = body.get("input")
    if inner is not None:
        if not isinstance(inner, dict):
            raise InvalidRequest("input must be an object", field="input")
        fields.update(inner)

    model = fields.get("model")
    if model is None:
        raise InvalidRequest("model is required", field="model")
    if not isinstance(model, str) or model not in MODELS:
        raise InvalidRequest(f"model must be one of: {', '.join(MODELS)}", field="model")

    callback = fields.get("callBackUrl")
    if callback is not None:
        callback = _http_url(callback, "callBackUrl", settings)

    if model == "sora2":
        params = _sora2(fields, settings)
    else:
        params = _watermark_remover(fields, settings)
    return CreateRequest(model=model, params=params, callback_url=callback, raw=body)


def _sora2(f: dict[str, Any], s: Settings) -> dict[str, Any]:
    kind = _choice(f, "type", SORA2_TYPES, default="text-to-video")
    prompt = f.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise InvalidRequest("prompt must be a string", field="prompt")
        prompt = prompt.strip()
        if len(prompt) > s.max_prompt_chars:
            raise InvalidRequest(f"prompt must be at most {s.max_prompt_chars} characters", field="prompt")
    if not prompt and kind == "text-to-video":
        raise InvalidRequest("prompt is required for text-to-video", field="prompt")

    image_urls = f.get("image_urls")
    if image_urls is None:
        image_urls = []
    if not isinstance(image_urls, list):
        raise InvalidRequest("image_urls must be an array of URLs", field="image_urls")
    if len(image_urls) > s.max_image_urls:
        raise InvalidRequest(f"image_urls takes at most {s.max_image_urls} URLs", field="image_urls")
    image_urls = [_http_url(u, "image_urls", s) for u in image_urls]
    if kind == "image-to-video" and not image_urls:
        raise InvalidRequest("image_urls needs at least one URL for image-to-video", field="image_urls")

    n_frames = f.get("n_frames", "10")
    if isinstance(n_frames, int) and not isinstance(n_frames, bool):
        n_frames = str(n_frames)
    if n_frames not in N_FRAMES:
        raise InvalidRequest('n_frames must be "10" or "15"', field="n_frames")

    return {
        "type": kind,
        "prompt": prompt or "",
        "image_urls": image_urls,
        "aspect_ratio": _choice(f, "aspect_ratio", ASPECT_RATIOS, default="landscape"),
        "n_frames": n_frames,
        "remove_watermark": _bool(f, "remove_watermark", default=False),
        "upload_method": _choice(f, "upload_method", UPLOAD_METHODS, default=None),
    }


def _watermark_remover(f: dict[str, Any], s: Settings) -> dict[str, Any]:
    _choice(f, "type", ("video-to-video",), default="video-to-video")
    video_url = f.get("video_url")
    if video_url is None or video_url == "":
        raise InvalidRequest("video_url is required", field="video_url")
    return {
        "type": "video-to-video",
        "video_url": _http_url(video_url, "video_url", s),
        "upload_method": _choice(f, "upload_method", UPLOAD_METHODS, default=None),
    }


def _choice(f: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = f.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise InvalidRequest(f"{name} must be one of: {', '.join(allowed)}", field=name)
    return value


def _bool(f: dict[str, Any], name: str, default: bool) -> bool:
    value = f.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be a boolean", field=name)
    return value


def _http_url(value: Any, name: str, s: Settings) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{name} must be an http(s) URL", field=name)
    value = value.strip()
    if len(value) > s.max_url_chars:
        raise InvalidRequest(f"{name} must be at most {s.max_url_chars} characters", field=name)
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise InvalidRequest(f"{name} is not a valid URL", field=name) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"{name} must be an http(s) URL", field=name)
    # the SSRF guard's verdict on what we can know without DNS (literal IPs, localhost, userinfo);
    # the resolved address is checked again, pinned, when we actually connect
    from vidgate.media.ssrf import check_url

    try:
        check_url(value, allow_private=s.allow_private_urls)
    except Exception as exc:  # UnsafeURL
        raise InvalidRequest(f"{name}: {exc}", field=name) from exc
    return value


# --- envelopes ---


def ok(data: Any, request_id: str) -> dict[str, Any]:
    return {"success": True, "data": data, "request_id": request_id}


def error(err: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    return {"success": False, "error": err, "request_id": request_id}


def task_payload(task: dict[str, Any], result_urls: list[str]) -> dict[str, Any]:
    """``data`` of GET /api/v1/videos/{task_id} (and of callbacks)."""
    failed = task["status"] == "failed"
    data: dict[str, Any] = {
        "task_id": task["id"],
        "model": task["model"],
        "status": task["status"],
        "progress": task["progress"],
        "output": {"resultUrls": result_urls},
        "video_url": result_urls[0] if result_urls else None,
        "error_message": task["error_message"] if failed else None,
        # the pages' JavaScript example reads failMsg; the table names error_message: fill both
        "failMsg": task["error_message"] if failed else None,
        "credits_used": task["credits_used"],
        "credits_refunded": task["credits_refunded"],
        "created_at": iso(task["created_at"]),
        "updated_at": iso(task["updated_at"]),
        "completed_at": iso(task["completed_at"]),
    }
    if task.get("results_expired_at") is not None:
        # the retention sweep deleted the result files: the URLs above are empty for good
        data["expired"] = True
        data["results_expired_at"] = iso(task["results_expired_at"])
    info = task.get("result_info") or {}
    if "watermark_found" in info:
        data["watermark_found"] = info["watermark_found"]
    return data
