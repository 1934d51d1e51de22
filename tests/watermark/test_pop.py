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


def _left_far_off(frames: list[np.ndarray], frame: np.ndarray, bg: np.ndarray) -> int:
    """Pixels left more than 40 levels off ``bg`` in ``frame``, restored without a prior after
    the interval's last frames."""
    m = IntervalMatte(frames)
    assert m.found
    for f in frames[-3:]:
        assert m.restore_y(f) is not None
    r = m.restore_y(frame, None)
    assert r is not None
    return int((np.abs(r[0].astype(np.float32) - bg) > 40).sum())


def test_the_clouds_larger_frames_leave_no_ring_without_a_prior(monkeypatch):
    full = mark_alpha(scale=SCALE)
    # a third of the interval's frames show the larger cloud (the envelope holds it; the shape it
    # has in most frames, and its wobble room, do not)
    frames = [_blend(_popped(full, 1.26) if t % 3 == 0 else _placed(full), _bg(t)) for t in range(24)]
    # one of them over a dark scene, where a left-over shows most
    bg = _bg(30, dark=True)
    pop = _blend(_popped(full, 1.26), bg)
    monkeypatch.setattr("vidgate.watermark.restore.SPILL", 0)
    monkeypatch.setattr("vidgate.watermark.restore.SLIVER", 0)
    monkeypatch.setattr("vidgate.watermark.restore.SWELL_GAIN", 0.0)  # (the sliver's test alone)
    before = _left_far_off(frames, pop, bg)
    monkeypatch.setattr("vidgate.watermark.restore.SLIVER", 2)
    after = _left_far_off(frames, pop, bg)
    assert before > 200 and after < 0.5 * before, (before, after)


def test_a_cloud_larger_than_in_any_fit_frame_is_read_past_the_envelope(monkeypatch):
    """A larger cloud than the interval's fit frames ever showed reaches past the envelope learned
    from them: its edge fed the fill the shape is read against, and a ring was left (yellow_brick_
    road's first interval at f67-72 and its right-middle one at f183-186). Such a frame is read
    against a fill from beyond a band around the cloud."""
    full = mark_alpha(scale=SCALE)
    frames = [_blend(_placed(full), _bg(t)) for t in range(24)]
    bg = _bg(30, dark=True)
    pop = _blend(_popped(full, 1.2), bg)
    monkeypatch.setattr("vidgate.watermark.restore.SWELL_GAIN", 0.0)  # (the spill band's test alone)
    monkeypatch.setattr("vidgate.watermark.restore.SPILL", 0)
    before = _left_far_off(frames, pop, bg)
    monkeypatch.setattr("vidgate.watermark.restore.SPILL", 4)
    after = _left_far_off(frames, pop, bg)
    assert before > 400 and after < 0.1 * before, (before, after)


def test_bright_scenery_crossing_the_band_past_the_envelope_is_not_the_cloud():
    """A sunlit strip of road from under the cloud to the box's bottom crosses that band to its far
    side: it is scenery, not the cloud's spill (so read, the frame was read against the outer fill
    and the strip un-blended dark: yellow_brick_road's f112-113 showed the cloud's outline)."""
    full = mark_alpha(scale=SCALE)
    frames = [_blend(_placed(full), _bg(t)) for t in range(24)]
    mark = _placed(full)
    ys, xs = np.nonzero(mark[:, :AT[0] + CLOUD_COLS] > 0.3)
    cx, bottom = int(xs.mean()), int(ys.max())
    bg = _bg(30, dark=True)
    road = np.zeros(SIZE, bool)
    road[bottom - 4:, cx - 3:cx + 3] = True
    bg[road] = 215.0
    frame = _blend(mark, bg)
    clear = road & (mark < 0.02)

    def darkened(far_side: bool) -> int:
        m = IntervalMatte(frames)
        assert m._spill is not None
        if not far_side:  # (the band's far side unknown: nothing crosses it)
            band, out, far = m._spill
            m._spill = (band, out, np.zeros_like(far))
        for f in frames[-3:]:
            m.restore_y(f)
        r = m.restore_y(frame, None)
        assert r is not None
        return int((np.abs(r[0].astype(np.float32) - bg)[clear] > 20).sum())

    kept, taken = darkened(True), darkened(False)
    assert taken >= 30 and kept < 0.5 * taken, (kept, taken)
