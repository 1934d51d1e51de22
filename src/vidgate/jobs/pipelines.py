"""One pipeline per model, as resumable steps. A step whose output is saved is not run again.

Each pipeline returns ``{"keys": [storage keys], "info": {...}}``; raising
:class:`~vidgate.errors.TaskFailed` fails the task with that message (and refunds it).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidgate.errors import TaskFailed
from vidgate.jobs.cpu import FileProgress, atomic_output

if TYPE_CHECKING:
    from vidgate.jobs.embedded import TaskContext


async def run_pipeline(ctx: TaskContext) -> dict[str, Any]:
    model = ctx.task["model"]
    if model == "sora2":
        if ctx.task["mode"] == "test":
            return await simulator_pipeline(ctx)
        from vidgate.providers.pipeline import upstream_pipeline

        return await upstream_pipeline(ctx)
    if model == "sora-watermark-remover":
        return await watermark_pipeline(ctx)
    raise TaskFailed(f"Unknown model {model}")


async def simulator_pipeline(ctx: TaskContext) -> dict[str, Any]:
    from vidgate.providers.simulator import magic_flags

    flags = magic_flags(ctx.params.get("prompt"))
    rendered = ctx.work_dir / "simulated.mp4"
    if ctx.step == "start" or not rendered.exists():
        ctx.set_progress(5)
        if "slow" in flags:
            await asyncio.sleep(4)
        if "fail" in flags:
            raise TaskFailed("Simulated upstream failure while processing ([sim:fail] in the prompt)")
        ctx.track_file_progress(10, 70)
        await ctx.run_cpu(
            _render,
            rendered,
            prompt=ctx.params.get("prompt") or "",
            aspect_ratio=ctx.params.get("aspect_ratio") or "landscape",
            seconds=int(ctx.params.get("n_frames") or 10),
            image_count=len(ctx.params.get("image_urls") or []),
            progress_path=ctx.progress_file,
        )
        await ctx.save_step("rendered")
    info: dict[str, Any] = {"provider": "simulator"}
    final = rendered
    if ctx.params.get("remove_watermark"):
        final, report = await _remove_watermark(ctx, rendered, 70, 95)
        info["watermark_found"] = report.get("watermark_found")
    return await _store(ctx, final, info)


async def watermark_pipeline(ctx: TaskContext) -> dict[str, Any]:
    from vidgate.media.fetch import fetch_video

    source = ctx.work_dir / "source"
    if ctx.step == "start" or not source.exists():
        ctx.set_progress(2)

        def on_bytes(done: int, total: int | None) -> None:
            if total:
                ctx.set_progress(2 + 18 * done / total)

        await fetch_video(ctx.params["video_url"], source, settings=ctx.settings, progress=on_bytes)
        await ctx.save_step("fetched")
    ctx.set_progress(20)
    cleaned, report = await _remove_watermark(ctx, source, 20, 95)
    info = {"watermark_found": report.get("watermark_found"), "watermark": report}
    return await _store(ctx, cleaned, info)


async def _remove_watermark(ctx: TaskContext, src: Path, lo: int, hi: int) -> tuple[Path, dict[str, Any]]:
    out = ctx.work_dir / "clean.mp4"
    ctx.track_file_progress(lo, hi)
    report = await ctx.run_cpu(
        _engine,
        src,
        out,
        progress_path=ctx.progress_file,
        max_seconds=ctx.settings.max_video_seconds,
        max_pixels=ctx.settings.max_video_pixels,
    )
    return out, report


async def _store(ctx: TaskContext, path: Path, info: dict[str, Any]) -> dict[str, Any]:
    key = f"{ctx.task_id}/video.mp4"
    upload = ctx.params.get("upload_method")
    if upload:
        # s3 / oss: multipart, retried upload; a failure raises TaskFailed (the task fails, refunded)
        target = ctx.gateway.targets.get(upload)
        if target is None:
            raise TaskFailed(f"upload_method {upload!r} is no longer configured on this gateway")
        obj = await asyncio.to_thread(target.put_file, key, path)
        ctx.set_progress(99)
        return {"keys": [f"{upload}:{obj}"], "info": {**info, "storage": upload}}
    storage = ctx.gateway.storage
    assert storage is not None
    await asyncio.to_thread(storage.put_file, key, path, move=True)
    ctx.set_progress(99)
    return {"keys": [key], "info": info}


# --- run in worker processes (module-level so they pickle) ---


def _render(dest: Path, *, progress_path: Path, **kwargs: Any) -> dict[str, Any]:
    from vidgate.providers.simulator import render_test_pattern

    tmp = atomic_output(dest)
    video = render_test_pattern(tmp, progress=FileProgress(progress_path), **kwargs)
    os.replace(tmp, dest)
    return {"width": video.width, "height": video.height, "frames": video.frames}


def _engine(
    src: Path, out: Path, *, progress_path: Path, max_seconds: float, max_pixels: int
) -> dict[str, Any]:
    try:
        from vidgate.watermark import remove_watermark
    except ImportError as exc:  # the engine ships with the watermark issue
        raise TaskFailed("The watermark removal engine is not available in this build") from exc
    tmp = atomic_output(out)
    report = remove_watermark(
        src, tmp, progress=FileProgress(progress_path), max_seconds=max_seconds, max_pixels=max_pixels
    )
    os.replace(tmp, out)
    return report.to_dict()
