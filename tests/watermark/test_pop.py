"""The cloud's larger animation frames (it pops up as it lands, and again as its animation loops
inside a long @handle interval): the cloud reaches a few pixels past the shape it has in most
frames. In an interval no other place vouches for (the video's first one, the only mirrored one),
nothing else bounds those frames' shape."""

from __future__ import annotations

import cv2
import numpy as np
from tests.watermark.conftest import mark_alpha, scene

from vidgate.watermark.restore import IntervalMatte

SIZE = (120, 240)  # the box (h, w); the mark sits at AT inside it
AT = (20, 18)
SCALE = 2.2  # the cloud's body about as wide as on a 704x1280 video
CLOUD_COLS = int(2 * 11 * SCALE) + 5  # the cloud's columns in mark_alpha's normal layout


def _bg(t: int, dark: bool = False) -> np.ndarray:
    g = cv2.cvtColor(scene(t), cv2.COLOR_RGB2GRAY).astype(np.float32)[60:60 + SIZE[0], 8:8 + SIZE[1]]
    return g * 0.3 + 20 if dark else g


def _blend(a: np.ndarray, bg: np.ndarray) -> np.ndarray:
    return np.clip(np.round(a * 235 + (1 - a) * bg), 0, 255).astype(np.uint8)


def _placed(alpha: np.ndarray) -> np.ndarray:
    a = np.zeros(SIZE, np.float32)
    h, w = alpha.shape
    a[AT[1]:AT[1] + h, AT[0]:AT[0] + w] = alpha
    return a


def _popped(full: np.ndarray, grow: float) -> np.ndarray:
    """The mark with its cloud scaled about the cloud's centre (the text as it is)."""
    a = _placed(full)
    cloud = np.zeros_like(a)
    cols = slice(AT[0], AT[0] + CLOUD_COLS)
    cloud[:, cols] = a[:, cols]
    ys, xs = np.nonzero(cloud > 0.05)
    c = (float(xs.mean()), float(ys.mean()))
    big = cv2.warpAffine(cloud, cv2.getRotationMatrix2D(c, 0.0, grow), (SIZE[1], SIZE[0]), flags=cv2.INTER_LINEAR)
    a[:, cols] = 0
    return np.maximum(a, big)


def test_the_clouds_larger_frames_leave_no_ring_without_a_prior(monkeypatch):
    full = mark_alpha(scale=SCALE)
    # a third of the interval's frames show the larger cloud (the envelope holds it; the shape it
    # has in most frames, and its wobble room, do not)
    frames = [_blend(_popped(full, 1.26) if t % 3 == 0 else _placed(full), _bg(t)) for t in range(24)]
    # one of them over a dark scene, where a left-over shows most
    a = _popped(full, 1.26)
    bg = _bg(30, dark=True)
    pop = _blend(a, bg)

    def left(sliver: int) -> int:
        monkeypatch.setattr("vidgate.watermark.restore.SLIVER", sliver)
        m = IntervalMatte(frames)
        assert m.found
        for f in frames[-3:]:
            assert m.restore_y(f) is not None
        r = m.restore_y(pop, None)
        assert r is not None
        return int((np.abs(r[0].astype(np.float32) - bg) > 40).sum())  # pixels left far off

    before, after = left(0), left(2)
    assert before > 200 and after < 0.5 * before, (before, after)
