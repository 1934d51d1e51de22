"""decode -> detect -> restore -> encode, streaming, in two passes over the file.

Pass 1 decodes the luma planes and runs the :class:`~vidgate.watermark.detect.Detector` (analysis
scale, one window in memory). Pass 2 decodes again; frames outside any interval go straight to the
encoder, frames of an interval are buffered (capped by ``BUFFER_BYTES``) until the interval's matte is
estimated from the buffered box crops, then restored in order. Memory is bounded by one interval's
frames, not by the video's length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidgate.errors import BadMedia, TaskFailed
from vidgate.media.video import (
    DEFAULT_CRF,
    DEFAULT_PRESET,
    VideoWriter,
    first_pts_and_time_base,
    iter_frames,
    probe,
)
from vidgate.watermark.detect import Detector, Interval
from vidgate.watermark.restore import IntervalRestorer, estimate_matte

BUFFER_BYTES = 320 * 1024 * 1024  # full frames held while an interval's matte is estimated
MATTE_FRAMES = 120  # at most this many frames feed one matte


@dataclass
class RemovalReport:
    watermark_found: bool
    frames: int
    fps: float
    width: int
    height: int
    positions: list[dict[str, Any]] = field(default_factory=list)
    seconds_elapsed: float = 0.0
    duration: float = 0.0
    has_audio: bool = False
    encoder: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _progress(cb: Callable[[float], None] | None, v: float) -> None:
    if cb is not None:
        try:
            cb(min(1.0, max(0.0, v)))
        except Exception:  # a broken progress callback must not fail the task
            pass


def remove_watermark(
    input_path: Path,
    output_path: Path,
    *,
    progress: Callable[[float], None] | None = None,
    max_seconds: float = 600.0,
    max_pixels: int = 4096 * 4096,
    preset: str = DEFAULT_PRESET,
    crf: int = DEFAULT_CRF,
) -> RemovalReport:
    t0 = time.monotonic()
    input_path, output_path = Path(input_path), Path(output_path)
    info = probe(input_path, max_seconds=max_seconds, max_pixels=max_pixels)
    est_frames = info.frames or max(1, round(info.duration * info.fps))
    _progress(progress, 0.0)

    # pass 1: detection
    det = Detector(info.width - info.width % 2, info.height - info.height % 2)
    n = 0
    for fr in iter_frames(input_path):
        h = fr.yuv.shape[0] * 2 // 3
        det.add(fr.yuv[:h])
        n += 1
        if n % 30 == 0:
            _progress(progress, 0.3 * n / max(est_frames, n))
        if n > max_seconds * max(info.fps, 1) * 1.5 + 10:
            raise BadMedia(f"video is longer than the limit of {max_seconds:.0f}s")
    if n == 0:
        raise BadMedia("video has no decodable frames")
    intervals = det.finish()
    W, H = det.width, det.height
    _progress(progress, 0.3)

    # pass 2: restore + encode
    start, tb = first_pts_and_time_base(input_path)
    frame_bytes = W * H * 3 // 2
    cap = max(8, min(MATTE_FRAMES, BUFFER_BYTES // frame_bytes))
    by_start = {iv.start: iv for iv in intervals}
    try:
        with VideoWriter(output_path, width=W, height=H, fps=info.fps, time_base=tb, audio_from=input_path,
                         preset=preset, crf=crf) as w:
            cur: Interval | None = None
            buf: list[tuple[np.ndarray, int | None]] = []
            rest: IntervalRestorer | None = None
            done = 0

            def emit(yuv: np.ndarray, pts: int | None) -> None:
                nonlocal done
                w.write(yuv, None if pts is None else pts - start)
                done += 1
                if done % 30 == 0:
                    _progress(progress, 0.3 + 0.7 * done / n)

            def flush_buffer() -> None:
                nonlocal rest, buf
                assert cur is not None
                x0, y0, x1, y1 = cur.box
                matte = estimate_matte([f[:H][y0:y1, x0:x1] for f, _ in buf])
                rest = IntervalRestorer(matte, cur.box)
                for f, p in buf:
                    emit(rest.restore(f), p)
                buf = []

            for fr in iter_frames(input_path):
                t = fr.index
                if cur is None and t in by_start:
                    cur, rest, buf = by_start[t], None, []
                if cur is None:
                    emit(fr.yuv, fr.pts)
                    continue
                if rest is None:
                    buf.append((fr.yuv, fr.pts))
                    if t == cur.end or len(buf) >= cap:
                        flush_buffer()
                else:
                    emit(rest.restore(fr.yuv), fr.pts)
                if t == cur.end:
                    cur, rest = None, None
            if buf and cur is not None:
                flush_buffer()
    except BadMedia:
        raise
    except Exception as e:
        raise TaskFailed(f"watermark removal failed: {e}") from e
    _progress(progress, 1.0)
    return RemovalReport(
        watermark_found=bool(intervals),
        frames=n,
        fps=info.fps,
        width=W,
        height=H,
        positions=[iv.to_dict() for iv in intervals],
        seconds_elapsed=round(time.monotonic() - t0, 3),
        duration=info.duration,
        has_audio=info.has_audio,
        encoder=f"libx264 {preset} crf {crf}",
    )
