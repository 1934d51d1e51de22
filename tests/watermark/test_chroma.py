"""Chroma under the mark: un-blending multiplies its errors by 1/(1-a) ~ 4."""

from __future__ import annotations

import cv2
import numpy as np
from tests.watermark.conftest import mark_alpha

from vidgate.watermark.restore import IntervalMatte


def test_a_small_chroma_error_of_the_overlay_is_not_amplified_into_colour():
    """Over saturated ground (a yellow road: U 90, V 170) the overlay's chroma carries a small
    error (subsampling at the strokes' edges, the codec); un-blended it would be ~4x larger and
    paint the letters orange. The result stays near the surroundings' chroma."""
    rng = np.random.default_rng(2)
    alpha = mark_alpha(scale=1.5)
    h, w = 80, 170
    at = (20, 14)
    a = np.zeros((h, w), np.float32)
    a[at[1]:at[1] + alpha.shape[0], at[0]:at[0] + alpha.shape[1]] = alpha

    def frame(t: int) -> np.ndarray:
        bg = cv2.GaussianBlur(rng.uniform(170, 215, (h, w)).astype(np.float32), (0, 0), 4)
        y = np.round(a * 235 + (1 - a) * bg).astype(np.uint8)
        ac = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        u = np.round(128 + (1 - ac) * (90 - 128) - 4 * (ac > 0.3)).astype(np.uint8)
        v = np.round(128 + (1 - ac) * (170 - 128) + 4 * (ac > 0.3)).astype(np.uint8)
        return np.concatenate([y, u.reshape(h // 4, w), v.reshape(h // 4, w)])

    frames = [frame(t) for t in range(20)]
    m = IntervalMatte([f[:h] for f in frames])
    out = m.restore(frame(20), (0, 0, w, h))
    u = out[h:h + h // 4].reshape(h // 2, w // 2).astype(np.float32)
    v = out[h + h // 4:].reshape(h // 2, w // 2).astype(np.float32)
    under = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA) > 0.3
    assert under.sum() > 50
    assert np.abs(u[under] - 90).max() <= 7 and np.abs(v[under] - 170).max() <= 7, (
        np.abs(u[under] - 90).max(), np.abs(v[under] - 170).max())
