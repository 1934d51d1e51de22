"""The plausibility check that tells the mark from bright scenery, on lower-rate encodes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.watermark.conftest import mark_alpha

from vidgate.watermark.restore import IntervalMatte

H_, W_ = 80, 170


def _frames(alpha_scale: float, smear: float, seed: int = 3, size: float = 1.5) -> tuple[list[np.ndarray], np.ndarray]:
    """yuv420p crops of the mark (``size``: its scale; ``alpha_scale`` x its opacity) over moving, saturated green
    ground (U 80, V 90); ``smear``: sigma (chroma px) by which the encoder smears the ground's
    colour into the mark (0: none)."""
    rng = np.random.default_rng(seed)
    alpha = mark_alpha(scale=size) * alpha_scale
    a = np.zeros((H_, W_), np.float32)
    a[14:14 + alpha.shape[0], 20:20 + alpha.shape[1]] = alpha
    ac = cv2.resize(a, (W_ // 2, H_ // 2), interpolation=cv2.INTER_AREA)
    out = []
    for _ in range(24):
        bg = cv2.GaussianBlur(rng.uniform(40, 140, (H_, W_)).astype(np.float32), (0, 0), 3)
        y = np.round(a * 235 + (1 - a) * bg).astype(np.uint8)
        planes = []
        for c in (80.0, 90.0):
            p = 128 + (1 - ac) * (c - 128)
            if smear:
                p = cv2.GaussianBlur(p, (0, 0), smear)
            planes.append(np.round(p).astype(np.uint8).reshape(H_ // 4, W_))
        out.append(np.concatenate([y, *planes]))
    return out, a


@pytest.mark.parametrize(("size", "smear"), [(1.5, 3.0), (0.75, 2.7)])
def test_the_mark_is_plausible_when_the_encoder_smears_colour_into_it(size: float, smear: float):
    """At CRF 26 the chroma of the ground bleeds a chroma pixel or two into the mark: its core
    read 0.6 of the surroundings' saturation (instead of 1 - a0 ~ 0.26) and the check rejected
    real marks, leaving whole positions untouched (sam2_dog_portrait at CRF 26: p5 14.1 dB). A
    small mark (0.75: a 432x240 video's) has no core left once eroded at chroma scale."""
    frames, _ = _frames(1.0, smear=smear, size=size)
    m = IntervalMatte([f[:H_] for f in frames])
    assert m.found
    assert m.plausible(frames, (0, 0, W_, H_))
    # (the clean case, for reference)
    clean, _ = _frames(1.0, smear=0)
    assert IntervalMatte([f[:H_] for f in clean]).plausible(clean, (0, 0, W_, H_))


def test_bright_coloured_scenery_is_still_not_the_mark():
    """A bright patch as coloured as its surroundings (chroma not scaled down by an overlay)."""
    frames, a = _frames(1.0, smear=0)
    ac = cv2.resize(a, (W_ // 2, H_ // 2), interpolation=cv2.INTER_AREA)
    for f in frames:  # the patch keeps the ground's full colour
        for k, c in enumerate((80.0, 90.0)):
            p = f[H_ + k * H_ // 4:H_ + (k + 1) * H_ // 4].reshape(H_ // 2, W_ // 2)
            p[ac > 0.05] = int(c)
    m = IntervalMatte([f[:H_] for f in frames])
    assert m.found  # bright in luma, like the mark
    assert not m.plausible(frames, (0, 0, W_, H_))


def test_a_few_steady_bright_pixels_are_not_a_mark(monkeypatch: pytest.MonkeyPatch):
    """Scenery that stays bright on a few dozen pixels of a box (a clean clip's bright cups: a core
    of 18-133 pixels, 0.04-0.34 % of the box) passed every other test, as an overlay of it would,
    and was restored: up to 127 levels on ~270 pixels of a clean video. The mark's core holds 3-15 %
    of its box (``CORE_SHARE``)."""
    import vidgate.watermark.restore as restore

    frames, a = _frames(1.0, smear=0)
    dot = np.zeros((H_, W_), np.float32)
    cv2.circle(dot, (60, 40), 3, 1.0, -1)
    dot *= float(a.max())
    dc = cv2.resize(dot, (W_ // 2, H_ // 2), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(5)
    spots = []
    for _ in range(24):
        bg = cv2.GaussianBlur(rng.uniform(40, 140, (H_, W_)).astype(np.float32), (0, 0), 3)
        y = np.round(dot * 235 + (1 - dot) * bg).astype(np.uint8)
        planes = [np.round(128 + (1 - dc) * (c - 128)).astype(np.uint8).reshape(H_ // 4, W_) for c in (80.0, 90.0)]
        spots.append(np.concatenate([y, *planes]))
    m = IntervalMatte([f[:H_] for f in spots])
    assert m.found and 12 <= int(m.core.sum()) < 0.01 * H_ * W_
    assert not m.plausible(spots, (0, 0, W_, H_))
    monkeypatch.setattr(restore, "CORE_SHARE", 0.0)
    assert m.plausible(spots, (0, 0, W_, H_))
    # (the mark itself holds a fair share of the same box)
    mark = IntervalMatte([f[:H_] for f in frames])
    assert int(mark.core.sum()) >= 0.03 * H_ * W_
