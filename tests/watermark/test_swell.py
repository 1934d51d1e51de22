"""The cloud swells in a few frames of its animation (up to ~12 % larger than its usual shape). An
interval that sees those frames once or never (cut by the video's end) does not hold them in its
usual shape: the swollen frame is matched against the interval's own cloud scaled, and the pixels
it covers past the usual shape are restored too, not left as a bright arc around the cloud."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.watermark.conftest import mark_alpha
from tests.watermark.test_ending import AT, _bg, _blend, _rms

import vidgate.watermark.restore as restore
from vidgate.watermark.restore import IntervalMatte

SCALE = 1.5
SWELL = (1.08, 1.16, -2.0)  # the swollen frame's cloud: scales and a rise (px), as on real marks


def _ground(t: int) -> np.ndarray:
    return 60 + 0.5 * _bg(t)  # dark textured ground, moving


def _swollen(sx: float, sy: float, dy: float = 0.0) -> np.ndarray:
    """The mark with its cloud (not the text) scaled by (``sx``, ``sy``) about the cloud's centre."""
    full = mark_alpha(scale=SCALE)
    split = int(2 * 11 * SCALE) + 5
    cloud, text = full.copy(), full.copy()
    cloud[:, split:] = 0
    text[:, :split] = 0
    pad = 6
    big = np.pad(cloud, pad)
    mo = cv2.moments(big)
    cx, cy = mo["m10"] / mo["m00"], mo["m01"] / mo["m00"]
    m = np.float32([[sx, 0, cx * (1 - sx)], [0, sy, cy * (1 - sy) + dy]])
    big = cv2.warpAffine(big, m, (big.shape[1], big.shape[0]), flags=cv2.INTER_LINEAR)
    out = np.maximum(big, np.pad(text, pad))
    return out


def _matte() -> IntervalMatte:
    usual = _swollen(1.0, 1.0)
    m = IntervalMatte([_blend(usual, (AT[0] - 6, AT[1] - 6), _ground(t)) for t in range(30)])
    assert m.found
    return m


def _restore_swollen(m: IntervalMatte) -> tuple[float, float, np.ndarray]:
    """(the swollen frame's error before and after restoration, its region past the usual cloud)."""
    t = 30
    bg = _ground(t)
    frame = _blend(_swollen(*SWELL), (AT[0] - 6, AT[1] - 6), bg)
    usual = _blend(_swollen(1.0, 1.0), (AT[0] - 6, AT[1] - 6), np.zeros_like(bg)) > 4
    ring = (_blend(_swollen(*SWELL), (AT[0] - 6, AT[1] - 6), np.zeros_like(bg)) > 4) & ~usual
    # (the pipeline passes a prior for every frame: here one that bounds nothing)
    r = m.restore_y(frame, np.ones(frame.shape, bool))
    assert r is not None
    return _rms(frame[ring], bg[ring]), _rms(r[0][ring], bg[ring]), ring


def test_a_swollen_cloud_is_found_and_its_rim_removed():
    m = _matte()
    # the usual frames are not swollen; the swollen one is
    assert m._swollen(_blend(_swollen(1.0, 1.0), (AT[0] - 6, AT[1] - 6), _ground(31)).astype(np.float32)) is None
    before, after, ring = _restore_swollen(m)
    assert ring.sum() > 60
    assert after < 0.2 * before, (before, after)


def test_without_the_swell_model_the_rim_stays(monkeypatch: pytest.MonkeyPatch):
    """The same frame with the swell model off: the cloud's rim past its usual shape is left."""
    monkeypatch.setattr(restore, "SWELL_GAIN", 0.0)
    before, after, _ = _restore_swollen(_matte())
    assert after > 0.4 * before, (before, after)
