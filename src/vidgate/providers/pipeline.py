"""The live sora2 pipeline: poll the upstream job recorded at create, re-host its video, finish.

The job was submitted during create and its id committed with the task row (``tasks.provider``,
``tasks.upstream_job_id``), so this pipeline never submits: after a restart (SIGKILL at any point) it
polls the same upstream job again. Steps (``tasks.step``):

``submitted`` → poll until the upstream ends (back-off from ``provider_poll_seconds`` up to
``provider_poll_max_seconds``, upstream hints — Retry-After, ``openai-poll-after-ms`` — win; transient
poll errors are retried; ``provider_max_wait_seconds`` caps the whole wait) → ``generated`` (the
upstream's result URLs saved) → download through the SSRF-safe fetcher → ``downloaded`` →
optional watermark removal → stored by the gateway's storage (``video_url`` is ours, not the upstream's).

Upstream failure → :class:`TaskFailed` with the upstream's reason (the runner refunds); a moderation
failure says the content was blocked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from vidgate.errors import BadMedia, FetchError, TaskFailed, UnsafeURL
from vidgate.providers.base import ProviderError

if TYPE_CHECKING:
    from vidgate.jobs.embedded import TaskContext
    from vidgate.providers.base import Provider

log = logging.getLogger("vidgate.providers")

# the task's progress while the upstream works: upstream 0..100 % → 5..80 %
POLL_LO, POLL_HI = 5, 80
DOWNLOAD_ATTEMPTS = 3


async def upstream_pipeline(ctx: TaskContext) -> dict[str, Any]:
    from vidgate.jobs.pipelines import _remove_watermark, _store

    name = ctx.task.get("provider")
    job_id = ctx.task.get("upstream_job_id")
    if not job_id:
        raise TaskFailed("This task was never submitted to an upstream provider")
    router = ctx.gateway.router
    provider = router.get(name) if router is not None else None
    if provider is None:
        raise TaskFailed(f"Upstream provider {name!r} is no longer configured on this gateway")

    urls: list[str] = list(ctx.state.get("result_urls") or [])
    if ctx.step in ("start", "submitted") or not urls:
        urls = await _wait_for_upstream(ctx, provider, job_id)
        await ctx.save_step("generated", result_urls=urls)

    video = ctx.work_dir / "upstream.mp4"
    if ctx.step != "downloaded" or not video.exists():
        await _download(ctx, provider, urls[0], video)
        await ctx.save_step("downloaded")
    ctx.set_progress(90)

    info: dict[str, Any] = {"provider": provider.name, "upstream_job_id": job_id}
    final = video
    if ctx.params.get("remove_watermark") and provider.watermark == "local":
        final, report = await _remove_watermark(ctx, video, 90, 98)
        info["watermark_found"] = report.get("watermark_found")
    return await _store(ctx, final, info)


async def _wait_for_upstream(ctx: TaskContext, provider: Provider, job_id: str) -> list[str]:
    s = ctx.settings
    interval = s.provider_poll_seconds
    created = ctx.task.get("created_at")  # the job was submitted at create: the wait survives restarts
    started = created.timestamp() if created is not None else time.time()
    transient = 0
    while True:
        if time.time() - started > s.provider_max_wait_seconds:
            raise TaskFailed(
                f"Upstream provider {provider.name} did not finish within {s.provider_max_wait_seconds:g} s"
            )
        hint: float | None = None
        try:
            poll = await provider.poll(job_id)
        except ProviderError as exc:
            transient += 1
            log.warning("polling %s job %s failed (%d in a row): %s", provider.name, job_id, transient, exc.message)
            hint = exc.retry_after
        else:
            transient = 0
            if poll.status == "succeeded":
                ctx.set_progress(POLL_HI)
                return poll.result_urls
            if poll.status == "failed":
                if poll.blocked:
                    raise TaskFailed(f"Blocked by the upstream's content moderation ({provider.name}): {poll.error}")
                raise TaskFailed(f"Upstream provider {provider.name} failed: {poll.error or 'no reason given'}")
            if poll.progress is not None:
                ctx.set_progress(POLL_LO + (POLL_HI - POLL_LO) * max(0, min(100, poll.progress)) / 100)
            hint = poll.retry_after
        wait = hint if hint is not None else interval
        await asyncio.sleep(min(max(wait, 0.05), s.provider_poll_max_seconds))
        interval = min(interval * 1.5, s.provider_poll_max_seconds)


async def _download(ctx: TaskContext, provider: Provider, url: str, dest: Any) -> None:
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            await provider.download(url, dest)
            return
        except (BadMedia, UnsafeURL):
            raise
        except FetchError as exc:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise TaskFailed(f"Could not download the result from {provider.name}: {exc.message}") from None
            log.warning("download from %s failed (attempt %d): %s", provider.name, attempt, exc.message)
            await asyncio.sleep(min(2.0 * attempt, ctx.settings.provider_poll_max_seconds))
