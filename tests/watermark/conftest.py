"""Small generated fixtures: a moving textured scene with a synthetic Sora-like mark overlaid."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from vidgate.watermark.restore import IntervalMatte

W, H, FPS = 256, 448, 30


def mark_alpha(scale: float = 1.0, handle: bool = False, mirrored: bool = False, a0: float = 0.74) -> np.ndarray:
    """A cloud blob with two eye holes plus 'Sora' (and '@handle'), white at a0, soft edges;
    ``mirrored``: the right-middle layout of real marks, the cloud right of the text."""
    w, h = int(86 * scale), int(30 * scale) + (int(12 * scale) if handle else 0)
    m = np.zeros((h, w), np.uint8)
    r = int(11 * scale)
    cx = w - r - 2 if mirrored else r + 2
    cy = int(15 * scale)
    cv2.circle(m, (cx, cy), r, 255, -1)
    cv2.circle(m, (cx - r // 2, cy - r // 2), r // 2 + 1, 255, -1)
    cv2.circle(m, (cx + r // 2, cy - r // 3), r // 2 + 1, 255, -1)
    cv2.circle(m, (cx - 3, cy), max(1, r // 5), 0, -1)
    cv2.circle(m, (cx + 3, cy), max(1, r // 5), 0, -1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, _), _ = cv2.getTextSize("Sora", font, 0.55 * scale, 2)
    (hw, _), _ = cv2.getTextSize("@user12", font, 0.35 * scale, 1)
    # the same gap between the cloud and the text in both layouts; mirrored, the text and the
    # handle line are right-aligned against the cloud (as on real marks)
    tx = cx - 2 * (r // 2) - 5 - tw if mirrored else 2 * r + 6
    cv2.putText(m, "Sora", (tx, int(22 * scale)), font, 0.55 * scale, 255, 2, cv2.LINE_AA)
    if handle:
        hx = tx + tw - hw if mirrored else tx
        cv2.putText(m, "@user12", (hx, h - 2), font, 0.35 * scale, 255, 1, cv2.LINE_AA)
    a = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (3, 3), 0.7)
    return a * a0


def scene(t: int, bright: bool = False) -> np.ndarray:
    """Textured RGB background that moves every frame (pass a constant t for a still camera)."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 255, (H // 8 + 8, W // 8 + 8, 3)).astype(np.uint8)
    big = cv2.resize(base, (W + 64, H + 64), interpolation=cv2.INTER_CUBIC)
    dx, dy = (2 * t) % 64, t % 64
    f = big[dy:dy + H, dx:dx + W].astype(np.float32)
    if bright:
        f = 215 + f * 0.15
    else:
        f = 30 + f * 0.6
    return np.clip(f, 0, 255).astype(np.uint8)


def patch_under_text(n: int = 24) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """A bright sky (205) with a dark patch (45 levels at its middle) drifting under the text of
    a 1.5x mark (as on sth_soar2): (alpha in its box, the clean backgrounds, the text's pixels)."""
    a = mark_alpha(scale=1.5)
    size = (a.shape[0] + 28, a.shape[1] + 28)
    alpha = np.zeros(size, np.float32)
    alpha[14:14 + a.shape[0], 14:14 + a.shape[1]] = a
    yy, xx = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
    rows = np.flatnonzero((alpha > 0.5).any(1))
    cy = (rows[0] + rows[-1]) / 2
    bgs = [205 - 45 * np.exp(-(((xx - 14 - a.shape[1] * 0.7 - t / 2) / (a.shape[1] * 0.25)) ** 2)
                             - ((yy - cy) / (a.shape[0] * 0.22)) ** 2) for t in range(n)]
    return alpha, bgs, (alpha > 0.02) & (xx >= 14 + 60)  # (the cloud is left of column 60)


def restored_rms(m: IntervalMatte, frames: list[np.ndarray], bgs: list[np.ndarray], region: np.ndarray,
                 only: Iterable[int] | None = None) -> float:
    """RMS error against the clean backgrounds ``bgs`` over ``region`` in the frames ``m`` restores,
    one after another (all of them are restored; ``only``: the indices scored)."""
    scored = set(range(len(frames)) if only is None else only)
    err = []
    for t, (y, bg) in enumerate(zip(frames, bgs, strict=True)):
        r = m.restore_y(y)
        assert r is not None
        if t in scored:
            err.append(((r[0].astype(np.float32) - bg)[region] ** 2).mean())
    return float(np.sqrt(np.mean(err)))


def positions(a: np.ndarray) -> dict[str, tuple[int, int]]:
    h, w = a.shape
    return {"TL": (14, 30), "RM": (W - w - 14, (H - h) // 2), "BL": (14, H - h - 40)}


X264_THREADS = int(os.environ.get("VIDGATE_TEST_X264_THREADS", "1"))


def luma(rgb: np.ndarray) -> np.ndarray:
    """The luma of an RGB picture as the encoder's yuv420p conversion gives it."""
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()[:rgb.shape[0]]


def mid_rm(sched: list[tuple[str, int, int]]) -> tuple[int, tuple[slice, slice], np.ndarray]:
    """The right-middle interval's middle frame in a :func:`make_case` clip: its index, the mark's
    box and the scene's luma (the truth a restoration there is judged against)."""
    a = mark_alpha()
    x, y = positions(a)["RM"]
    h, w = a.shape
    _, s, e = next(item for item in sched if item[0] == "RM")
    t = (s + e) // 2
    truth = luma(scene(t))
    return t, (slice(y, y + h), slice(x, x + w)), truth


def toned(rgb: np.ndarray, tone: tuple[float, float]) -> np.ndarray:
    """``rgb`` with its tones edited: every level v as gain * v + offset."""
    return np.clip(np.round(rgb.astype(np.float32) * tone[0] + tone[1]), 0, 255).astype(np.uint8)


def write_clip(path: Path, frames: list[np.ndarray], audio: bool = True, *, rotation: int = 0,
               hflip: bool = False, crop: tuple[int, int, int, int] | None = None,
               tone: tuple[float, float] | None = None) -> None:
    """Write ``frames`` (RGB) as an MP4 shown as they are; ``rotation`` (degrees counter-clockwise,
    a right angle) and ``hflip``: stored turned and mirrored the other way, with a display matrix
    that shows them as they are again (as a phone stores a portrait video); ``crop``: (x0, y0, x1,
    y1), only that part of each frame; ``tone``: (gain, offset), every level edited so."""
    if tone is not None:
        frames = [toned(f, tone) for f in frames]
    if crop is not None:
        frames = [f[crop[1]:crop[3], crop[0]:crop[2]] for f in frames]
    if rotation or hflip:
        frames = [np.ascontiguousarray(np.rot90(f[:, ::-1] if hflip else f, (-rotation // 90) % 4)) for f in frames]
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        if rotation or hflip:
            v.set_display_rotation(rotation, hflip=hflip)
        v.options = {"preset": "ultrafast", "crf": "12"}
        # x264's output depends on its thread count (by default from the machine's cores): one
        # thread, so every machine (CI's included) tests the same clips; VIDGATE_TEST_X264_THREADS
        # runs the suite on another machine's clips
        v.codec_context.thread_count = X264_THREADS
        a = None
        if audio:
            a = out.add_stream("aac", rate=48000)
            a.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, FPS)
            for p in v.encode(vf):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        if a is not None:
            n = int(48000 * len(frames) / FPS)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype(np.float32)
            for k in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(tone[None, k:k + 1024], format="flt", layout="mono")
                af.sample_rate = 48000
                af.pts = k
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode():
                out.mux(p)


def _overlay(f: np.ndarray, a: np.ndarray, x: int, y: int, sched: list[tuple[str, int, int]], pos: str, t: int) -> None:
    """Blend the mark (alpha ``a``) into float frame ``f`` at (x, y) and note frame t in the schedule."""
    h, w = a.shape
    f[y:y + h, x:x + w] = a[..., None] * 255 + (1 - a[..., None]) * f[y:y + h, x:x + w]
    if sched and sched[-1][0] == pos:
        sched[-1] = (pos, sched[-1][1], t)
    else:
        sched.append((pos, t, t))


def make_case(path: Path, *, n: int = 90, hold: int = 30, handle: bool = False, mirror_rm: bool = False,
              bright: bool = False, order: tuple[str, ...] = ("TL", "RM", "BL"), mark: bool = True,
              still: bool = False, offset: int = 0, **stored: Any) -> list[tuple[str, int, int]]:
    """Write a clip; return the truth schedule [(pos, start, end)]. ``offset``: frames of the cycle
    already played when the clip begins; ``stored``: how it is stored (see :func:`write_clip`)."""
    sched: list[tuple[str, int, int]] = []
    frames = []
    for t in range(n):
        f = scene(0 if still else t, bright).astype(np.float32)
        pos = order[((t + offset) // hold) % len(order)]
        if mark:
            a = mark_alpha(handle=handle, mirrored=(mirror_rm and pos == "RM"))
            x, y = positions(a)[pos]
            _overlay(f, a, x, y, sched, pos, t)
        frames.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    write_clip(path, frames, **stored)
    return sched


@pytest.fixture(scope="session")
def basic_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, int, int]]]:
    p = tmp_path_factory.mktemp("wm") / "basic.mp4"
    return p, make_case(p)


def make_lookalike_case(path: Path, seed: int, *, n: int = 240, hold: int = 60,
                        k: int = 6) -> list[tuple[str, int, int]]:
    """The mark cycling TL -> RM -> BL, plus ``k`` brighter copies of its shape that each fade in at
    a fixed place, stay a while and fade out (scenery that looks like the mark: on bright, busy
    videos discovery finds many look-alikes). Returns the mark's schedule."""
    rng = np.random.default_rng(seed)
    a = mark_alpha()
    copy = mark_alpha(a0=0.9)
    h, w = a.shape
    pos = positions(a)
    fakes: list[tuple[int, int, int, int]] = []  # x, y, first frame, last frame
    while len(fakes) < k:
        x, y = int(rng.uniform(0, W - w - 4)), int(rng.uniform(0, H - h - 10))
        taken = [(q[0], q[1]) for q in fakes] + list(pos.values())
        if any(abs(x - qx) < w + 9 and abs(y - qy) < h + 10 for qx, qy in taken):
            continue
        s0 = int(rng.uniform(-40, n - 60))
        fakes.append((x, y, s0, s0 + int(rng.uniform(60, 140))))
    order = ("TL", "RM", "BL")
    sched: list[tuple[str, int, int]] = []
    frames = []
    for t in range(n):
        f = scene(t).astype(np.float32)
        for x, y, s0, s1 in fakes:
            v = float(np.clip(min(t - s0, s1 - t) / 30.0, 0.0, 1.0))
            c = copy[..., None] * v
            f[y:y + h, x:x + w] = c * 240 + (1 - c) * f[y:y + h, x:x + w]
        p = order[(t // hold) % len(order)]
        x, y = pos[p]
        _overlay(f, a, x, y, sched, p, t)
        frames.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    write_clip(path, frames, audio=False)
    return sched


def usual_region(shape: np.ndarray, core: np.ndarray | None = None) -> np.ndarray:
    """Where the mark usually is, as a matte reads it from its shape in the fit frames: the
    cloud's part and the strokes' part of ``IntervalMatte._usual_parts``."""
    cloud, thin, _ = IntervalMatte._usual_parts(shape, core)
    return cloud | thin
