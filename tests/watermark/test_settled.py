"""A frame well inside its interval (past the fade-in, before the last frames) shows the mark at
full opacity: a dark band under the core beside brighter ground, which the fill from around reads
as a faded mark, is un-blended at the full opacity, not at the share that reading gives."""

from __future__ import annotations

import numpy as np
import pytest
from tests.watermark.conftest import mark_alpha
from tests.watermark.test_ending import AT, _bg, _blend, _rms

import vidgate.watermark.restore as restore
from vidgate.watermark.restore import IntervalMatte


def _ground(t: int) -> np.ndarray:
    return 110 + 0.4 * _bg(t)  # mid-grey textured ground, moving


def _restored(frame: np.ndarray, *, settled: bool) -> np.ndarray | None:
    """``frame`` restored after 24 frames of the mark over ``_ground`` (the matte learned, the last
    six restored), ``settled`` as the pipeline passes it."""
    full = mark_alpha(scale=1.5)
    frames = [_blend(full, AT, _ground(t)) for t in range(24)]
    m = IntervalMatte(frames)
    assert m.found
    for f in frames[-6:]:
        assert m.restore_y(f) is not None
    r = m.restore_y(frame, None, False, True, settled)
    return None if r is None else r[0]


def _banded(t: int) -> tuple[np.ndarray, np.ndarray]:
    """(the frame, its clean ground): a dark band under the mark's middle rows, brighter around."""
    bg = _ground(t)
    bg[26:56, :] = 5 + 0.1 * bg[26:56, :]
    return _blend(mark_alpha(scale=1.5), AT, bg), bg


def test_a_dark_band_under_a_settled_mark_is_unblended_at_full_opacity():
    frame, bg = _banded(24)
    m = IntervalMatte([_blend(mark_alpha(scale=1.5), AT, _ground(t)) for t in range(24)])
    a_hat, _ = m.filler.alpha_hat(frame.astype(np.float32))
    assert not m._reads_full(a_hat)  # the fill from around reads a fade here
    before = _rms(frame, bg)
    settled = _restored(frame, settled=True)
    assert settled is not None
    loose = _restored(frame, settled=False)
    after_loose = before if loose is None else _rms(loose, bg)
    assert _rms(settled, bg) < 0.5 * after_loose and _rms(settled, bg) < 0.35 * before, \
        (before, after_loose, _rms(settled, bg))


@pytest.mark.parametrize("level", [228.0, 236.0])
def test_a_settled_mark_over_near_white_ground_is_left_to_the_fade_reading(monkeypatch, level: float):
    """Over near-white ground the mark barely shows and un-blending amplifies the codec's noise (the
    running car's window, 78 dB left to the fade reading, 46 dB un-blended): the fill's brightness
    keeps such a frame out of the settled rule."""
    bg = level + 0.05 * _bg(24)
    noise = np.random.default_rng(3).normal(0, 2.5, bg.shape)
    frame = np.clip(_blend(mark_alpha(scale=1.5), AT, bg) + noise, 0, 255).astype(np.uint8)
    loose = _restored(frame, settled=False)
    kept = _restored(frame, settled=True)
    assert (loose is None and kept is None) or (loose is not None and kept is not None and (loose == kept).all())
    monkeypatch.setattr(restore, "SETTLED_BRIGHT", 999.0)  # (without the gate it is un-blended)
    assert _restored(frame, settled=True) is not None
