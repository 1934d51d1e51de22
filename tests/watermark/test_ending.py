"""The animation's last frames: the text is gone and the cloud drops a few pixels, partly out of the
envelope learned from the interval; the restorer follows the lifted blob next to the last shape."""

from __future__ import annotations

import cv2
import numpy as np
from tests.watermark.conftest import mark_alpha, scene

from vidgate.watermark.restore import IntervalMatte

SIZE = (90, 170)  # the box (h, w); the mark sits at AT inside it
AT = (20, 18)
DROP = 6  # px the cloud falls in the last frame


def _bg(t: int) -> np.ndarray:
    g = cv2.cvtColor(scene(t), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return g[100:100 + SIZE[0], 40:40 + SIZE[1]]


def _blend(alpha: np.ndarray, at: tuple[int, int], bg: np.ndarray) -> np.ndarray:
    a = np.zeros(SIZE, np.float32)
    h, w = alpha.shape
    a[at[1]:at[1] + h, at[0]:at[0] + w] = alpha
    return np.clip(np.round(a * 235 + (1 - a) * bg), 0, 255).astype(np.uint8)


def _rms(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(((got.astype(np.float32) - truth) ** 2).mean()))


def test_last_frame_cloud_dropped_and_text_gone_is_removed():
    scale = 1.5
    full = mark_alpha(scale=scale)
    cloud = full.copy()
    cloud[:, int(2 * 11 * scale) + 5:] = 0  # the text is gone: the cloud alone
    frames = [_blend(full, AT, _bg(t)) for t in range(24)]
    m = IntervalMatte(frames)
    assert m.found
    for f in frames[-4:]:
        assert m.restore_y(f) is not None
    t = 24
    last = _blend(cloud, (AT[0], AT[1] + DROP), _bg(t))
    before = _rms(last, _bg(t))
    r = m.restore_y(last, None, ending=True)
    assert r is not None
    after = _rms(r[0], _bg(t))
    assert after < 0.25 * before, (before, after)
    # the same frame away from the interval's end is left to the fade logic (not un-blended anew)
    m2 = IntervalMatte(frames)
    for f in frames[-4:]:
        m2.restore_y(f)
    r2 = m2.restore_y(last, None, ending=False)
    after2 = _rms(r2[0], _bg(t)) if r2 is not None else before
    assert after < 0.5 * after2, (after, after2)


def test_bright_scenery_that_appears_next_to_the_text_is_not_unblended(monkeypatch):
    """A bright patch (sky behind the text) that passes the shape test in some frames (a third of
    them here: it is in the mark's envelope) lies outside where the mark usually is; un-blending it
    would leave a dark blob that blinks."""
    full = mark_alpha(scale=1.5)
    h, w = full.shape
    patch = (slice(AT[1] - 8, AT[1] + 6), slice(AT[0] + w // 2, AT[0] + w + 10))  # above and right of the text

    def lit(t: int) -> np.ndarray:
        bg = _bg(t)
        bg[patch] = 225.0  # bright scenery, white enough to pass for the mark
        return bg

    frames = [_blend(full, AT, lit(t) if t % 3 == 0 else _bg(t)) for t in range(24)]

    t = 30
    frame = _blend(full, AT, lit(t))
    truth = lit(t)
    clear = np.zeros(SIZE, bool)
    clear[patch] = True
    a = np.zeros(SIZE, np.float32)
    a[AT[1]:AT[1] + h, AT[0]:AT[0] + w] = full
    clear &= a < 0.02  # the patch's pixels the mark does not cover

    def err() -> float:
        m = IntervalMatte(frames)
        r = m.restore_y(frame)
        assert r is not None
        return _rms(r[0][clear], truth[clear])

    kept = err()
    monkeypatch.setattr(IntervalMatte, "_usual", staticmethod(lambda shape: np.ones(shape.shape, bool)))
    darkened = err()
    assert kept < 3.0 and darkened > 3 * kept, (kept, darkened)
