"""A white overlay only brightens what is darker than its white: a restored pixel is never brighter
than the input there (by more than the codec's noise), except where the input reaches white."""

from __future__ import annotations

import copy

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


AT_CLOUD = (16 + 24, 14 + 30)  # the cloud's middle in the crop (mark_alpha at scale 2, placed at test_strokes.AT)


def _bar_case(spot: bool) -> tuple[IntervalMatte, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A mark fitted over a bright, moving scene; then a frame where a dark bar crosses the cloud
    from outside it (a racket's frame under a bright wall), or (``spot``) a dark spot lies wholly
    inside the cloud. Returns the matte, the frame, its clean background, the prior (the mark's
    shape) and the dark pixels under the cloud's body."""
    alpha = _placed(mark_alpha(scale=2.0))
    rng = np.random.default_rng(11)
    base = cv2.GaussianBlur(rng.uniform(110, 150, (SIZE[0], SIZE[1] + 60)).astype(np.float32), (0, 0), 2.0)
    frames = [_blend(alpha, base[:, t:t + SIZE[1]]) for t in range(24)]
    m = IntervalMatte(frames)
    assert m.found
    bg = base[:, 30:30 + SIZE[1]].copy()
    dark = np.zeros(SIZE, np.uint8)
    if spot:
        cv2.circle(dark, (AT_CLOUD[0], AT_CLOUD[1] + 8), 3, 1, -1)
    else:
        cv2.line(dark, (0, 20), (120, 80), 1, 5)
    bg[dark > 0] = 25.0
    cloud = (np.arange(SIZE[1]) < 70)[None, :]
    body = cv2.erode((alpha >= 0.7).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & cloud
    return m, _blend(alpha, bg), bg, alpha > 0.3, (dark > 0) & body


def test_dark_scenery_crossing_the_cloud_is_un_blended_not_filled(monkeypatch):
    """A covered pixel un-blended far darker than its surroundings is taken for bright scenery that
    passed the shape test and is filled from around. Where the other places vouch that the mark
    covers it in this frame, well inside the cloud's always-covered body, and the dark run reaches
    the shape's rim (it continues outside the mark), it is dark scenery under the mark: a racket's
    black frame crossing the cloud under a bright wall was filled grey, ~100 levels off
    (tennis_flip_portrait f90)."""
    m, y, bg, prior, under = _bar_case(spot=False)
    assert under.sum() > 40
    errs = {}
    for on in (False, True):
        monkeypatch.setattr(restore, "ODD_VOUCHED", on)
        r = copy.deepcopy(m).restore_y(y, prior)
        assert r is not None
        errs[on] = float(np.sqrt(((r[0].astype(np.float32) - bg)[under] ** 2).mean()))
    assert errs[False] > 60 and errs[True] < 20, errs
    # without a prior nothing vouches: filled as before
    r = m.restore_y(y)
    assert r is not None and float(np.abs(r[0].astype(np.float32) - bg)[under].mean()) > 60


def test_a_dark_spot_inside_the_cloud_is_still_filled(monkeypatch):
    """A dark run that does not reach the shape's rim (where the cloud's eyes move) stays filled."""
    m, y, _, prior, under = _bar_case(spot=True)
    assert under.sum() > 10
    outs = []
    for on in (False, True):
        monkeypatch.setattr(restore, "ODD_VOUCHED", on)
        r = copy.deepcopy(m).restore_y(y, prior)
        assert r is not None
        outs.append(r[0])
    assert np.array_equal(outs[0], outs[1])
    assert float(outs[1][under].mean()) > 100  # (filled from the bright cloud around)
