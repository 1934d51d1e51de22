"""Un-blending amplifies the codec's noise ~4x; the denoising that removes it must not flatten the
scene's own texture under the mark (fur, foliage, knitwear), only what the noise explains."""

from __future__ import annotations

import cv2
import numpy as np
from tests.watermark.conftest import mark_alpha, restored_rms
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
    monkeypatch.setattr(restore, "CALM", 0.0)  # (the final calming would hide the difference)
    matched = _interior_rmse(0.0, mark_noise=5.0)
    monkeypatch.setattr(restore, "TEXTURE_AROUND", 0.0)
    kept = _interior_rmse(0.0, mark_noise=5.0)
    assert matched < kept - 1.0, (matched, kept)


def _footprint_rmse(amp: float, mark_noise: float) -> float:
    """RMSE of the restored pixels over the mark's whole footprint (its soft edge too) with
    ``mark_noise`` input levels of noise on every pixel the mark covers at all (the codec's error
    on the white strokes and along their edges, which un-blending and the ring's fill amplify)."""
    rng = np.random.default_rng(5)
    a = _placed(mark_alpha(scale=2.0))
    covered = a > 0.05
    bgs = [_scene(t, amp, rng) for t in range(30)]
    frames = [np.clip(np.round(_blend(a, bg) + covered * rng.normal(0, mark_noise, SIZE)), 0, 255).astype(np.uint8)
              for bg in bgs]
    m = IntervalMatte(frames)
    assert m.found
    return restored_rms(m, frames, bgs, covered, only=range(10, len(frames)))


def test_speckle_over_a_smooth_scene_is_calmed(monkeypatch):
    """Single pixels of amplified noise, inside the strokes and in the filled edge ring, stand out
    over a smooth scene (hair, sky: a speckled outline of the letters): they are held near their
    neighbourhood's median, as fine-grained as the scene around is."""
    calmed = _footprint_rmse(0.0, mark_noise=4.0)
    monkeypatch.setattr(restore, "CALM", 0.0)
    speckled = _footprint_rmse(0.0, mark_noise=4.0)
    assert calmed < speckled - 0.4, (calmed, speckled)


def test_calming_keeps_a_textured_scene(monkeypatch):
    """Over a fine texture the bound follows the texture around the mark: the scene under it is kept."""
    calmed = _footprint_rmse(25.0, mark_noise=1.0)
    monkeypatch.setattr(restore, "CALM", 0.0)
    plain = _footprint_rmse(25.0, mark_noise=1.0)
    assert calmed < plain + 0.3, (calmed, plain)
