"""Pillarboxed and letterboxed videos: the whole-frame search looks inside the flat bars only, and
finds what it found over the whole frame."""

from __future__ import annotations

import numpy as np
import pytest
from tests.watermark.conftest import H, W, _overlay, mark_alpha, positions, scene, write_clip

from vidgate.media.video import iter_luma, probe
from vidgate.watermark.detect import BAR_REACH, Detector, _picture_box
from vidgate.watermark.phase import bandpass


def _pillarboxed(n: int, w: int, h: int, x0: int, x1: int, seed: int = 1) -> np.ndarray:
    """``n`` frames of a moving textured scene in columns [x0, x1), black bars with codec-like
    noise (16 +- 2) either side."""
    rng = np.random.default_rng(seed)
    ys = (16 + rng.integers(-2, 3, (n, h, w))).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0: x1 - x0]
    for t in range(n):
        ys[t, :, x0:x1] = np.clip(110 + 50 * np.sin((xx + 3 * t) / 7.0) * np.cos(yy / 11.0)
                                  + rng.normal(0, 4, (h, x1 - x0)), 0, 255).astype(np.uint8)
    return ys


def test_picture_box_finds_the_bars():
    ys = _pillarboxed(12, 200, 120, 60, 140)
    assert _picture_box(ys) == (60, 0, 140, 120)
    # letterbox: rows
    assert _picture_box(np.ascontiguousarray(ys.transpose(0, 2, 1))) == (0, 60, 120, 140)
    # no bars: the whole frame; a flat frame: the whole frame too (nothing to crop to)
    assert _picture_box(ys[:, :, 60:140]) == (0, 0, 80, 120)
    assert _picture_box(np.full((5, 40, 60), 16, np.uint8)) == (0, 0, 60, 40)


@pytest.mark.parametrize("scale", [0.5, 1.0], ids=["analysis-scale", "half-scale"])
def test_search_inside_bars_matches_the_whole_frame_search(scale):
    """The mark inside a pillarbox's picture: the search over the picture (with its margin) gives
    the same match, at the same place in frame coordinates, as the search over the whole frame,
    for a template small enough to be searched at analysis scale and for one searched at half."""
    w, h, x0, x1 = 582, 320, 200, 384
    ys = _pillarboxed(4, w, h, x0, x1, seed=2)
    a = mark_alpha(scale)
    ah, aw = a.shape
    px, py = x0 + 30, 150
    y = ys[0].astype(np.float32)
    y[py:py + ah, px:px + aw] = a * 235 + (1 - a) * y[py:py + ah, px:px + aw]
    ys[0] = np.clip(np.round(y), 0, 255).astype(np.uint8)
    tpl = bandpass(ys[0, py:py + ah, px:px + aw].astype(np.float32))
    d = Detector(w, h)
    assert d.scale == 1.0 and (d.aw, d.ah) == (w, h)
    d._mtpl = np.ascontiguousarray(tpl)
    d._mtpl_half = np.ascontiguousarray(tpl[::2, ::2])
    if scale == 1.0:
        assert tpl.shape[0] >= 24 and tpl.shape[1] >= 60
    else:
        assert tpl.shape[0] < 24 or tpl.shape[1] < 60
    whole = d._search(ys[0], 0)
    d._picture = _picture_box(ys)
    assert d._picture == (x0, 0, x1, h)
    region = d._region(tpl.shape[1] + BAR_REACH, tpl.shape[0] + BAR_REACH)
    assert 0 < region[0] < x0 and x1 < region[2] < w  # (the bars are mostly left out)
    inside = d._search(ys[0], 0)
    assert inside[1:] == whole[1:] and abs(inside[0] - whole[0]) < 1e-4
    assert abs(inside[1] - px) <= 1 and abs(inside[2] - py) <= 1 and inside[0] > 0.7


def test_median_padded_reads_the_map_as_over_the_whole_frame():
    from vidgate.watermark.detect import _median_padded

    rng = np.random.default_rng(3)
    for size, total in [(7, 7), (7, 8), (6, 13), (5, 20), (50, 64), (1, 2)]:
        d = np.abs(rng.normal(0, 3, size)).astype(np.float32)
        if size % 2:
            d[0] = 0.0  # (zeros inside the map too)
        want = float(np.median(np.concatenate([d, np.zeros(total - size, np.float32)])))
        assert _median_padded(d.reshape(1, -1), total) == pytest.approx(want)


def test_detects_the_mark_in_a_pillarboxed_video(tmp_path):
    """The test scene (256x448) between black bars, 640x448 in all, the mark cycling over it: every
    position found at its place in the frame (discovery and the whole-frame search work over the
    picture and pasted back, their coordinates the frame's)."""
    bar, hold, n = 192, 30, 90
    a = mark_alpha()
    sched: list[tuple[str, int, int]] = []
    frames = []
    for t in range(n):
        f = np.zeros((H, W + 2 * bar, 3), np.float32)
        f[:, bar:bar + W] = scene(t)
        pos = ("TL", "RM", "BL")[(t // hold) % 3]
        x, y = positions(a)[pos]
        _overlay(f, a, bar + x, y, sched, pos, t)
        frames.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    p = tmp_path / "pillarboxed.mp4"
    write_clip(p, frames)
    info = probe(p)
    d = Detector(info.width, info.height)
    for y in iter_luma(p):
        d.add(y)
    found = d.finish()
    assert d._picture is not None and d._picture[2] - d._picture[0] < 0.6 * d.aw  # (the bars seen)
    yy, xx = np.nonzero(a > 0.05)
    for pos, s, e in sched:
        x, y = positions(a)[pos]
        ink = (bar + x + int(xx.min()), y + int(yy.min()), bar + x + int(xx.max()) + 1, y + int(yy.max()) + 1)
        hits = [iv for iv in found if iv.start <= s + 2 and iv.end >= e - 2]
        assert hits, (pos, s, e, [(iv.start, iv.end, iv.box) for iv in found])
        bx0, by0, bx1, by1 = hits[0].box
        assert bx0 <= ink[0] + 2 and by0 <= ink[1] + 2 and bx1 >= ink[2] - 2 and by1 >= ink[3] - 2, (hits[0].box, ink)
