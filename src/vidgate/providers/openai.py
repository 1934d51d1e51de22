"""``openai``: the OpenAI Videos API shape, through the official ``openai`` SDK (any ``base_url``).

* submit: ``client.videos.create(prompt, model, seconds, size)`` (``POST {base_url}/videos``, multipart as
  the SDK sends it); with a reference image, the same endpoint through the SDK's ``client.post`` with a
  JSON body ``input_reference={"image_url": ...}`` (``videos.create`` only uploads files). Both carry an
  ``Idempotency-Key`` header derived from our task id.
* poll: ``client.videos.retrieve(id)`` (``GET {base_url}/videos/{id}``): queued | in_progress |
  completed | failed and ``progress``; the ``openai-poll-after-ms`` response header is our next-poll hint.
* result: ``GET {base_url}/videos/{id}/content`` (needs our key, so it is downloaded here with the
  Authorization header rather than by the generic fetcher).

The SDK gets an ``http_client`` built by :func:`vidgate.media.ssrf.guarded_async_client`, so every
connection it opens goes through the SSRF guard; its own retries are off (``max_retries=0``): fallback
and back-off are the router's and the poller's job. (openai-python 3.x moved to the ``httpx2`` fork;
the guarded client is an ``httpx`` transport, hence the ``openai<3`` pin.)

Field mapping (``[providers.NAME]`` keys in the providers file override the defaults):

* ``aspect_ratio`` → ``size`` via ``sizes`` (default landscape ``1280x720``, portrait ``720x1280``);
* ``n_frames`` → ``seconds`` via ``seconds_map`` (default ``"10"`` → ``"12"``, ``"15"`` → ``"12"``;
  map a value to ``""`` to refuse it);
* ``image_urls`` → ``input_reference = {"image_url": url}``: one image at most; ``images = false``
  for servers that take no reference image.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
from openai import AsyncOpenAI
from openai.types import Video

from vidgate.errors import BadMedia, FetchError
from vidgate.http_headers import parse_retry_after
from vidgate.media.fetch import SNIFF_BYTES, describe_content, sniff_video
from vidgate.media.ssrf import guarded_async_client, guarded_request
from vidgate.providers.base import (
    Poll,
    ProviderError,
    Submitted,
    UpstreamBlocked,
    UpstreamBusy,
    UpstreamRejected,
    looks_blocked,
)
from vidgate.settings import Settings

DEFAULT_SIZES = {"landscape": "1280x720", "portrait": "720x1280"}
DEFAULT_SECONDS = {"10": "12", "15": "12"}
_STATUS = {"queued": "queued", "in_progress": "running", "completed": "succeeded", "failed": "failed"}


class OpenAIProvider:
    kind = "openai"
    watermark = "local"  # the Videos API has no watermark switch

    def __init__(self, settings: Settings, name: str, cfg: dict[str, Any], api_key: str) -> None:
        self.name = name
        self.settings = settings
        self.model = str(cfg.get("model", "sora-2"))
        self.base_url = str(cfg.get("base_url", "https://api.openai.com/v1")).rstrip("/")
        self.sizes = {**DEFAULT_SIZES, **dict(cfg.get("sizes", {}))}
        self.seconds_map = {**DEFAULT_SECONDS, **{str(k): str(v) for k, v in dict(cfg.get("seconds_map", {})).items()}}
        self.images = bool(cfg.get("images", True))
        self.timeout = float(cfg.get("timeout_seconds", settings.provider_timeout_seconds))
        self._api_key = api_key
        self.http = guarded_async_client(settings, timeout=self.timeout)
        self.client = AsyncOpenAI(
            api_key=api_key or "unused",
            base_url=self.base_url,
            http_client=self.http,
            max_retries=0,
            timeout=self.timeout,
        )

    # --- mapping ---

    def unsupported(self, params: dict[str, Any]) -> tuple[str, str] | None:
        images = params.get("image_urls") or []
        if images and not self.images:
            return "image_urls", f"{self.name} does not take reference images"
        if len(images) > 1:
            return "image_urls", f"{self.name} takes one reference image (input_reference), not {len(images)}"
        if not self.seconds_map.get(str(params.get("n_frames") or "10")):
            return "n_frames", f"{self.name} cannot make a {params.get('n_frames')}-second video"
        if not self.sizes.get(str(params.get("aspect_ratio") or "landscape")):
            return "aspect_ratio", f"{self.name} has no size for aspect_ratio {params.get('aspect_ratio')}"
        return None

    def request_args(self, params: dict[str, Any]) -> dict[str, Any]:
        args: dict[str, Any] = {
            "prompt": params.get("prompt") or "",
            "model": self.model,
            "seconds": self.seconds_map[str(params.get("n_frames") or "10")],
            "size": self.sizes[str(params.get("aspect_ratio") or "landscape")],
        }
        images = params.get("image_urls") or []
        if images:
            args["input_reference"] = {"image_url": images[0]}
        return args

    # --- calls ---

    async def submit(self, params: dict[str, Any], *, idempotency_key: str) -> Submitted:
        args = self.request_args(params)
        headers = {"Idempotency-Key": idempotency_key}
        try:
            if "input_reference" in args:
                # the SDK's videos.create only uploads files (multipart); a reference by URL goes as JSON
                video = await self.client.post("/videos", cast_to=Video, body=args, options={"headers": headers})
            else:
                video = await self.client.videos.create(**args, extra_headers=headers)
        except openai.APIError as exc:
            raise _classify(self.name, exc) from None
        return Submitted(job_id=video.id)

    async def poll(self, job_id: str) -> Poll:
        try:
            raw = await self.client.videos.with_raw_response.retrieve(job_id)
            video = raw.parse()
        except openai.NotFoundError:
            return Poll(status="failed", error=f"{self.name}: upstream video {job_id} not found")
        except openai.APIError as exc:
            err = _classify(self.name, exc)
            raise UpstreamBusy(err.message, retry_after=err.retry_after, status=err.status) from None
        hint_ms = raw.headers.get("openai-poll-after-ms")
        hint = None
        if hint_ms:
            with contextlib.suppress(ValueError):
                hint = max(0.0, float(hint_ms) / 1000)
        status = _STATUS.get(str(video.status), "running")
        progress = getattr(video, "progress", None)
        if status == "failed":
            error = getattr(video, "error", None)
            code = getattr(error, "code", None) if error is not None else None
            message = getattr(error, "message", None) if error is not None else None
            text = message or code or "generation failed"
            return Poll(status="failed", error=str(text), blocked=looks_blocked(code, message))
        urls = [f"{self.base_url}/videos/{job_id}/content"] if status == "succeeded" else []
        return Poll(
            status=status,  # type: ignore[arg-type]
            progress=int(progress) if isinstance(progress, int | float) else None,
            result_urls=urls,
            retry_after=hint,
        )

    async def download(self, url: str, dest: Path) -> None:
        """Stream ``/videos/{id}/content`` (authenticated) to ``dest``, bounded like the generic fetcher."""
        limit = self.settings.fetch_max_bytes
        part = dest.with_name(dest.name + ".part")
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "video/*,*/*;q=0.5"}
        try:
            with anyio.fail_after(self.settings.fetch_timeout_seconds):
                resp = await guarded_request(
                    self.http, "GET", url, settings=self.settings, stream=True, headers=headers,
                    params={"variant": "video"},
                )
                try:
                    if not resp.is_success:
                        raise FetchError(f"{self.name}: downloading the result failed: HTTP {resp.status_code}")
                    received = 0
                    head = b""
                    async with await anyio.open_file(part, "wb") as out:
                        async for chunk in resp.aiter_bytes(256 * 1024):
                            received += len(chunk)
                            if received > limit:
                                raise FetchError(f"{self.name}: result larger than {limit} bytes")
                            if len(head) < SNIFF_BYTES:
                                head += chunk[: SNIFF_BYTES - len(head)]
                            await out.write(chunk)
                    if sniff_video(head) is None:
                        raise BadMedia(f"{self.name}: the result is not a video (looks like {describe_content(head)})")
                finally:
                    await resp.aclose()
            os.replace(part, dest)
        except TimeoutError:
            raise FetchError(f"{self.name}: downloading the result timed out") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{self.name}: downloading the result failed: {type(exc).__name__}") from None
        finally:
            with contextlib.suppress(OSError):
                part.unlink()

    async def aclose(self) -> None:
        await self.client.close()


def _classify(name: str, exc: openai.APIError) -> ProviderError:
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamBusy(f"{name}: timed out")
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamBusy(f"{name}: connection failed")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error", body) if isinstance(body, dict) else {}
        code = err.get("code") if isinstance(err, dict) else None
        message = (err.get("message") if isinstance(err, dict) else None) or exc.message
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        text = f"{name}: HTTP {status}: {message}"
        if status in (400, 403, 422) and (looks_blocked(code, message) or code == "moderation_blocked"):
            return UpstreamBlocked(str(message), status=status)
        if status == 429 or status >= 500 or status == 408:
            return UpstreamBusy(text, retry_after=retry_after, status=status)
        return UpstreamRejected(text, status=status, provider_fault=status in (401, 402, 403, 404))
    return UpstreamBusy(f"{name}: {type(exc).__name__}")
