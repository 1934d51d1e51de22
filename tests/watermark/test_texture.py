"""Un-blending amplifies the codec's noise ~4x; the denoising that removes it must not flatten the
scene's own texture under the mark (fur, foliage, knitwear), only what the noise explains."""

from __future__ import annotations

import cv2
import numpy as np
from tests.watermark.conftest import mark_alpha
from tests.watermark.test_strokes import SIZE, _blend, _placed

import vidgate.watermark.restore as restore
from vidgate.watermark.restore import IntervalMatte


def _scene(t: int, amp: float, rng: np.random.Generator) -> np.ndarray:
    """A panning fine texture (amplitude ``amp``) plus a little sensor / codec noise."""
    base = np.random.default_rng(3).uniform(-1, 1, (SIZE[0] + 8, SIZE[1] + 8 + 2 * 40)).astype(np.float32)
    tex = cv2.GaussianBlur(base, (0, 0), 0.8)[4:4 + SIZE[0], 4 + 2 * t:4 + 2 * t + SIZE[1]]
    return 110 + amp * tex / tex.std() + rng.normal(0, 1.0, SIZE).astype(np.float32)


def _interior_rmse(amp: float, mark_noise: float = 0.0) -> float:
    """RMSE of the restored interior; ``mark_noise``: extra noise (input levels) on the covered
    pixels only, as the codec's ringing along the white strokes of a low-bitrate video."""
    rng = np.random.default_rng(1)
    a = _placed(mark_alpha(scale=2.0))
    bgs = [_scene(t, amp, rng) for t in range(30)]
    frames = [_blend(a, bg) for bg in bgs]
    if mark_noise:
        frames = [np.clip(np.round(f + (a > 0.3) * rng.normal(0, mark_noise, SIZE)), 0, 255).astype(np.uint8)
                  for f in frames]
    m = IntervalMatte(frames)
    assert m.found
    inside = cv2.erode((a > 0.7).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    errs = []
    for y, bg in zip(frames[10:], bgs[10:], strict=True):
        r = m.restore_y(y)
        assert r is not None
        errs.append(((r[0].astype(np.float32) - bg)[inside] ** 2).mean())
    return float(np.sqrt(np.mean(errs)))


def test_texture_under_the_mark_is_kept(monkeypatch):
    textured = _interior_rmse(25.0)
    monkeypatch.setattr(restore, "CODEC_NOISE", 0.0)  # the median over everything
    flattened = _interior_rmse(25.0)
    assert textured < flattened - 1.0, (textured, flattened)


def test_a_flat_background_is_still_denoised(monkeypatch):
    """Where the un-blended values vary no more than the amplified noise, the denoised ones are kept."""
    kept = _interior_rmse(0.0)
    monkeypatch.setattr(restore, "DENOISE_K", 0)
    raw = _interior_rmse(0.0)
    assert kept < raw - 0.5, (kept, raw)


def test_noise_only_under_the_mark_is_not_kept_as_texture(monkeypatch):
    """Ringing on the mark's strokes, amplified ~4x by un-blending, varies more than the codec's noise
    but more than the scene around the mark does too: it is smoothed, not kept as texture."""
    matched = _interior_rmse(0.0, mark_noise=5.0)
    monkeypatch.setattr(restore, "TEXTURE_AROUND", 0.0)
    kept = _interior_rmse(0.0, mark_noise=5.0)
    assert matched < kept - 1.0, (matched, kept)
