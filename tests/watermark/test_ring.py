"""The text's thin strokes are all edge ring, filled from around: where a line or an edge of the scene
crosses a stroke, its core is un-blended with the static alpha instead (``RING_UNBLEND``)."""

from __future__ import annotations

import cv2
import numpy as np
from tests.watermark.conftest import mark_alpha
from tests.watermark.test_bounds import _fence
from tests.watermark.test_strokes import SIZE, _blend, _placed

import vidgate.watermark.restore as restore
from vidgate.watermark.restore import IntervalMatte


def _errors(bgs: list[np.ndarray], a: np.ndarray, monkeypatch, ramp: tuple[float, float] | None
            ) -> tuple[float, list[np.ndarray]]:
    """RMS error over the strokes' ring cores (alpha >= 0.6, not solid 2 px in) and the outputs."""
    monkeypatch.setattr(restore, "RING_UNBLEND", ramp)
    frames = [_blend(a, bg) for bg in bgs]
    m = IntervalMatte(frames)
    assert m.found
    core = (a >= 0.6) & ~cv2.erode((a >= 0.6).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    outs, se = [], []
    for y, bg in zip(frames, bgs, strict=True):
        r = m.restore_y(y)
        assert r is not None
        outs.append(r[0])
        se.append(((r[0].astype(np.float32) - bg)[core] ** 2).mean())
    return float(np.sqrt(np.mean(se))), outs


def test_a_fence_crossing_the_strokes_is_carried_through_them(monkeypatch):
    """A chain-link fence's dark wires crossing the text: the fill from the bright backdrop around
    greys them out where they cross a stroke; the strokes' cores un-blended keep them."""
    a = _placed(mark_alpha(scale=2.0))
    bgs = [_fence(t) for t in range(30)]
    off, _ = _errors(bgs, a, monkeypatch, None)
    on, _ = _errors(bgs, a, monkeypatch, (8.0, 25.0))
    assert on < off - 2.0, (on, off)


def test_smooth_scenery_keeps_the_fill(monkeypatch):
    """Over smooth scenery the fill from around is right and the un-blended value only noisier:
    nothing changes there."""
    a = _placed(mark_alpha(scale=2.0))
    yy, xx = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(np.float32)
    bgs = [60 + 0.3 * xx + 0.2 * yy + 2 * t for t in range(30)]
    _, off = _errors(bgs, a, monkeypatch, None)
    _, on = _errors(bgs, a, monkeypatch, (8.0, 25.0))
    assert all(np.array_equal(x, y) for x, y in zip(off, on, strict=True))
    # (the strokes' cores are there to un-blend: with no ramp they change)
    _, always = _errors(bgs, a, monkeypatch, (0.0, 1e-3))
    assert any(not np.array_equal(x, y) for x, y in zip(off, always, strict=True))
