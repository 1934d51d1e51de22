"""A white overlay only brightens what is darker than its white: a restored pixel is never brighter
than the input there (by more than the codec's noise), except where the input reaches white."""

from __future__ import annotations

import cv2
import numpy as np
from tests.watermark.conftest import mark_alpha
from tests.watermark.test_strokes import SIZE, _blend, _placed

import vidgate.watermark.restore as restore
from vidgate.watermark.restore import IntervalMatte


def _fence(t: int, base: float = 150.0, wire: float = 40.0) -> np.ndarray:
    """A chain-link fence panning past: a bright backdrop crossed by thin dark wires."""
    yy, xx = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(np.float32)
    u, v = (xx + yy + 2 * t) % 7, (xx - yy + 3 * t) % 7
    bg = np.full(SIZE, base, np.float32)
    bg[(u < 1.2) | (v < 1.2)] = wire
    return cv2.GaussianBlur(bg, (0, 0), 0.5)


def _run(bgs: list[np.ndarray], a: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    frames = [_blend(a, bg) for bg in bgs]
    m = IntervalMatte(frames)
    assert m.found
    out = []
    for y in frames:
        r = m.restore_y(y)
        assert r is not None
        out.append(r[0])
    return frames, out


def test_restored_pixels_are_no_brighter_than_the_input(monkeypatch):
    """The soft edge ring is filled from around it: over a fence the fill from the bright backdrop
    lands on dark wires (and on pixels the mark never covered), brighter than what is seen there."""
    a = _placed(mark_alpha(scale=2.0))
    ring = cv2.dilate((a > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & (a < 0.6)
    bgs = [_fence(t) for t in range(30)]
    frames, out = _run(bgs, a)
    for y, o in zip(frames, out, strict=True):
        below = y.astype(np.int16) < 233
        assert (o.astype(np.int16) <= y.astype(np.int16) + restore.BRIGHTEST)[below].all()
    err = np.sqrt(np.mean([((o.astype(np.float32) - bg)[ring] ** 2).mean() for o, bg in zip(out, bgs, strict=True)]))
    monkeypatch.setattr(restore, "BRIGHTEST", None)
    _, unbound = _run(bgs, a)
    before = np.sqrt(np.mean([((o.astype(np.float32) - bg)[ring] ** 2).mean()
                              for o, bg in zip(unbound, bgs, strict=True)]))
    assert err < before - 1.0, (err, before)


def test_the_bound_lifts_at_white():
    """Where the input reaches the overlay's white the scenery may be brighter still (x264 keeps
    236-255: a white car passing under the mark is darkened by it): no bound there."""
    y = np.array([[0, 100, 232, 233, 234, 235, 240, 255]], np.uint8)
    assert restore._brightest(y).tolist() == [[1, 101, 233, 234, 255, 255, 255, 255]]

