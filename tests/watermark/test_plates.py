"""Clean plates: the box seen just outside an interval fills the mark's ring on a still camera,
and is refused where the scene moved."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
from tests.watermark.conftest import luma, make_case, mark_alpha, patch_under_text, positions, restored_rms, scene
from tests.watermark.test_strokes import SIZE, _blend, _placed

import vidgate.watermark.pipeline as pipeline
import vidgate.watermark.restore as restore
from vidgate.media.video import iter_y
from vidgate.watermark import remove_watermark
from vidgate.watermark.restore import IntervalMatte


def _box_error(out, t: int, box: list[int]) -> float:
    """RMS luma error against the still scene inside the restored box."""
    truth = luma(scene(0))
    x0, y0, x1, y1 = box
    got = list(iter_y(out))[t][y0:y1, x0:x1].astype(float)
    return float(np.sqrt(((got - truth[y0:y1, x0:x1]) ** 2).mean()))


@pytest.mark.parametrize("decodes", ["once", "twice"])
def test_still_camera_ring_comes_from_the_plate(tmp_path, monkeypatch, decodes):
    if decodes == "twice":  # streaming: only the frames before an interval are at hand
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)
    path = tmp_path / "still.mp4"
    sched = make_case(path, still=True)
    _, s, e = next(item for item in sched if item[0] == "RM")
    with_plates, without = tmp_path / "with.mp4", tmp_path / "without.mp4"
    report = remove_watermark(path, with_plates)
    x0, y0, x1, y1 = next(p["box"] for p in report.positions if abs(p["start"] - s) <= 1)
    box = [x0, y0, x0 + (x1 - x0) * 2 // 5, y1]  # the cloud: the box found for this thin text cuts it
    monkeypatch.setattr(restore, "PLATE_GATE", -1.0)  # every plate refused: the ring is inpainted
    remove_watermark(path, without)
    for t in (s + 5, (s + e) // 2, e - 2):
        got, base = _box_error(with_plates, t, box), _box_error(without, t, box)
        assert got < 0.6 * base and got < 4.0, (t, got, base)


def _rm_frames(basic_case) -> tuple[list[np.ndarray], tuple[slice, slice], int, int]:
    """The basic clip's luma frames, a box around its right-middle mark, that interval's frames."""
    path, sched = basic_case
    a = mark_alpha()
    x, y = positions(a)["RM"]
    h, w = a.shape
    _, s, e = next(item for item in sched if item[0] == "RM")
    return list(iter_y(path)), (slice(y - 12, y + h + 12), slice(x - 12, x + w + 12)), s, e


def test_plates_of_a_moving_scene_are_refused(basic_case):
    ys, box, s, e = _rm_frames(basic_case)
    crops = [ys[t][box] for t in range(s, e + 1)]
    plain, plated = IntervalMatte(crops), IntervalMatte(crops)
    assert plain.found
    plated.set_plates([ys[t][box] for t in range(s - 1, s - 4, -1)], [ys[t][box] for t in range(e + 1, e + 4)])
    assert len(plated.plates) == 2  # the mark is elsewhere in those frames: clean views
    for c in crops[2:8]:
        r0, r1 = plain.restore_y(c), plated.restore_y(c)
        assert r0 is not None and r1 is not None
        assert np.array_equal(r0[0], r1[0])  # the scene moved: no plate value used


def test_a_plate_that_shows_the_mark_is_not_taken(basic_case):
    ys, box, s, e = _rm_frames(basic_case)
    m = IntervalMatte([ys[t][box] for t in range(s, e + 1)])
    m.set_plates([ys[t][box] for t in range(s, s + 3)])  # inside the interval: the mark is there
    assert m.plates == []


def test_a_still_camera_keeps_its_plate_through_slow_drift():
    """Leaves and light drift slowly under a still camera: once a plate has matched for a run of
    frames it is kept up to a somewhat larger residual (PLATE_GATE_STILL); a matte that has not
    seen the camera hold still refuses the same frame."""
    rng = np.random.default_rng(6)
    a = mark_alpha(scale=1.5)
    size = (80, 170)
    at = (20, 14)
    alpha = np.zeros(size, np.float32)
    alpha[at[1]:at[1] + a.shape[0], at[0]:at[0] + a.shape[1]] = a
    plate = np.clip(rng.normal(110, 25, size), 0, 255).astype(np.float32)
    drift = rng.choice([-1.0, 1.0], size).astype(np.float32)  # fine texture that grows in

    def frame(t: int) -> np.ndarray:
        bg = plate + drift * (0.5 + 0.1 * t)  # median |frame - plate| 0.5 + 0.1 t levels
        return np.clip(np.round(alpha * 235 + (1 - alpha) * bg), 0, 255).astype(np.uint8)

    crops = [frame(t) for t in range(20)]
    kept, fresh = IntervalMatte(crops), IntervalMatte(crops)
    for m in (kept, fresh):
        m.plates = [np.round(plate).astype(np.float32)]
    used = []
    for t in range(16):  # the residual passes PLATE_GATE (1.5) at t = 10
        y = frame(t).astype(np.float32)
        out = alpha < 0.01
        used.append(kept._plate(y, y, out, ~out) is not None)
    assert all(used), used
    y = frame(15).astype(np.float32)
    assert fresh._plate(y, y, alpha < 0.01, alpha >= 0.01) is None


@pytest.mark.parametrize("decodes", ["once", "twice"])
def test_plate_readings_set_every_positions_opacity(tmp_path, monkeypatch, decodes):
    """Each position's own opacity estimate is read against a fill of its scenery (off by up to 0.03
    over bright grass). Where a clean plate matches, the core's opacity reads directly; those
    readings, taken before any frame is restored, give every position the mark's opacity from
    its first restored frame on (the first position too, when the whole video is at hand)."""
    if decodes == "twice":
        monkeypatch.setattr(pipeline, "HOLD_BYTES", 0)
    path = tmp_path / "still.mp4"
    make_case(path, still=True)
    real_init, real_restore = restore.IntervalMatte.__init__, restore.IntervalMatte.restore_y
    first: dict[int, float] = {}

    def init(self, crops, a0_hint=None, **kw):
        real_init(self, crops, a0_hint, **kw)
        if self.found:
            self.a0 = 0.77  # every position's own estimate is off alike (its scenery's bias)

    def restore_y(self, yc, *args):
        first.setdefault(id(self), self.a0)
        return real_restore(self, yc, *args)

    monkeypatch.setattr(restore.IntervalMatte, "__init__", init)
    monkeypatch.setattr(restore.IntervalMatte, "restore_y", restore_y)
    remove_watermark(path, tmp_path / "out.mp4")
    assert len(first) == 3, first
    # (streaming, the first position has no clean view before it: it keeps its own estimate)
    shared = list(first.values())[0 if decodes == "once" else 1:]
    assert all(abs(a0 - 0.74) < 0.01 for a0 in shared), first


def test_scattered_plate_readings_are_not_votes():
    """A plate that matches around the mark but not under it (a car passed beneath) gives per-pixel
    readings scattered far beyond the codec's noise: no vote. A faded mark reads out of range:
    no vote either."""
    rng = np.random.default_rng(3)
    a = mark_alpha(scale=1.5)
    size = (80, 170)
    alpha = np.zeros(size, np.float32)
    alpha[14:14 + a.shape[0], 20:20 + a.shape[1]] = a
    plate = np.clip(rng.normal(100, 20, size), 0, 255).astype(np.float32)

    def blend(bg: np.ndarray, k: float = 1.0) -> np.ndarray:
        return np.clip(np.round(k * alpha * 235 + (1 - k * alpha) * bg), 0, 255).astype(np.uint8)

    m = IntervalMatte([blend(plate) for _ in range(10)])
    assert m.found
    inner = alpha > 0.7
    m._vote_a0(blend(plate).astype(np.float32), plate, inner)
    assert len(m.a0_votes) == 1 and abs(m.a0_votes[0] - 0.74) < 0.01
    changed = plate.copy()
    changed[inner] = np.clip(rng.normal(60, 50, int(inner.sum())), 0, 255)  # another scene under the mark
    m._vote_a0(blend(changed).astype(np.float32), plate, inner)
    m._vote_a0(blend(plate, 0.4).astype(np.float32), plate, inner)  # the mark fading out
    assert len(m.a0_votes) == 1, m.a0_votes


def test_a_plate_is_brought_to_the_frames_light_deep_inside_the_mark():
    """A plate from a moment the sky was 26 levels darker is brought to this frame's light by the
    offset read around the mark; in the middle of a cloud (here a disc 60 px across: the cloud and
    its uncertain ring at 1.3x) the fine reading has next to no support: the wide one carries the
    offset there, so the plate is right under the whole mark, not only near its rim (the cloud's
    eyes came out dark)."""
    size = (100, 160)
    yy, xx = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
    covered = (yy - 50) ** 2 + (xx - 60) ** 2 <= 30**2
    alpha = 0.74 * covered
    sky = 200 + 0.1 * xx - 0.15 * yy  # a smooth bright sky, a gentle gradient
    y = alpha * 235 + (1 - alpha) * sky
    out = ~covered
    wo = out.astype(np.float32)
    P = restore.IntervalMatte._matching(y, sky - 26, out, wo, restore._offset_support(wo), gate=1.5)
    assert P is not None
    assert float(np.abs(P - sky)[covered].max()) < 1.0


def test_the_middle_of_a_solid_text_block_is_read_against_the_plate_wider(monkeypatch):
    """Letters set close on a small mark (the puppy's 264x480 "Sora" and @handle) merge with their
    uncertain ring into a block 16 px tall with no uncovered pixel within the fine reading's reach
    and no un-blended interior: the plate's fit there was unknown and the letters were filled from
    around them (a faint outline). Read over a wider neighbourhood, a plate that fits takes them;
    one whose scene differs around the block (something passed by) is still refused there."""
    rng = np.random.default_rng(4)
    size = (60, 120)
    plate = cv2.GaussianBlur(rng.normal(150, 20, size).astype(np.float32), (0, 0), 3)
    block = np.zeros(size, bool)
    block[22:38, 20:100] = True
    y = np.where(block, 0.8 * 235 + 0.2 * plate, plate).astype(np.float32)
    out, inner = ~block, np.zeros(size, bool)
    mid = (slice(28, 32), slice(30, 90))

    def bad(P: np.ndarray) -> np.ndarray:
        m = IntervalMatte([np.clip(y, 0, 255).astype(np.uint8)] * 3)
        m.plates = [P]
        got = m._plate(y, y, out, inner)
        assert got is not None
        return got[1][mid]

    assert bad(plate).max() < restore.PLATE_RING / 4
    moved = plate.copy()
    moved[14:46, 10:110] += rng.choice([-12.0, 12.0], (32, 100))  # changed near the block only
    assert bad(moved).min() > restore.PLATE_RING
    monkeypatch.setattr(restore, "PLATE_WIDE", 0.0)
    assert np.isinf(bad(plate)).all()


def test_a_plate_whose_light_differs_between_the_letters_is_not_taken_there(monkeypatch):
    """The plate shows the sky clear; in this frame a dark patch lies under the text. The plate
    matches the box's surroundings (one plate for the frame), and its offset, read further out,
    misses the patch: the letters took the plate's bright values (sth_soar2). The uncovered
    pixels 1 px off the shape, between the letters, show the patch: there the plate is refused."""
    alpha, bgs, text = patch_under_text()
    size = alpha.shape
    frames = [np.clip(np.round(alpha * 235 + (1 - alpha) * b), 0, 255).astype(np.uint8) for b in bgs]

    def matte() -> IntervalMatte:
        m = IntervalMatte(frames)
        m.plates = [np.full(size, 205, np.float32)]
        return m

    y = frames[12].astype(np.float32)
    assert matte()._plate(y, y, alpha < 0.01, alpha > 0.5) is not None  # the plate matches the frame

    got = restored_rms(matte(), frames, bgs, text)
    monkeypatch.setattr(restore, "PLATE_NEAR", False)
    assert got < 0.92 * restored_rms(matte(), frames, bgs, text)


def _bright_under(bright: float) -> tuple[list[np.ndarray], Callable[..., np.ndarray]]:
    """A mark over a fine moving texture with ``bright`` levels of static scenery under it (a pale
    patch of fur beneath the cloud and the letters): the marked frames and a maker of views."""
    rng = np.random.default_rng(0)
    a = _placed(mark_alpha(scale=2.0))
    under = cv2.GaussianBlur(cv2.dilate((a > 0.05).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32),
                             (0, 0), 2)

    def bg() -> np.ndarray:
        return 100 + cv2.GaussianBlur(rng.normal(0, 1, SIZE).astype(np.float32), (0, 0), 2) * 12 + bright * under

    def view(share: float = 0.0) -> np.ndarray:
        """The box without the mark, or with it fading (``share`` of its opacity)."""
        return _blend(a * share, bg()) if share else np.clip(np.round(bg()), 0, 255).astype(np.uint8)

    return [_blend(a, bg()) for _ in range(30)], view


def test_a_clean_view_over_bright_scenery_is_a_plate():
    """Bright static scenery under the core reads as a faint mark (alpha 0.11-0.12) against the
    fill from around it, in every clean view alike: the nearest is taken as a plate."""
    frames, view = _bright_under(18.0)
    m = IntervalMatte(frames)
    assert m.found
    m.set_plates([view() for _ in range(4)])
    assert len(m.plates) == 1


def test_a_fading_mark_is_not_taken_for_bright_scenery():
    """A mark fading out reads as faint as bright scenery in one view, but not in the next ones:
    the nearest view that reads clean is the plate."""
    frames, view = _bright_under(0.0)
    m = IntervalMatte(frames)
    views = [view(0.15)] + [view() for _ in range(3)]
    m.set_plates(views)
    assert len(m.plates) == 1 and np.array_equal(m.plates[0], views[1].astype(np.float32))


def _still_sky(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 2x mark in its box over a still, gently textured sky: (alpha, the clean plate)."""
    rng = np.random.default_rng(seed)
    alpha = _placed(mark_alpha(scale=2.0))
    plate = 150 + cv2.GaussianBlur(rng.normal(0, 1, SIZE).astype(np.float32), (0, 0), 3) * 20
    return alpha, plate


def test_a_dark_fringe_beside_the_strokes_takes_the_plate(monkeypatch):
    """A downscaled video's resampling filter leaves a dark fringe just outside the mark's bright
    strokes (its negative lobes; 2-10 levels on the puppy's 264x480 letters): left as it was, it
    outlined the letters. Below a fitting plate there, the plate is taken."""
    alpha, plate = _still_sky(5)
    shape = (alpha > 0.05).astype(np.uint8)
    fringe = (cv2.dilate(shape, np.ones((3, 3), np.uint8)) > 0) & (shape == 0)
    bg = plate - 7.0 * fringe  # (the fringe lies on the scene: the mark's, not the plate's)
    frames = [_blend(alpha, bg) for _ in range(12)]

    def fringe_error() -> float:
        m = IntervalMatte(frames)
        assert m.found
        m.plates = [plate.astype(np.float32)]
        r = m.restore_y(frames[5])
        assert r is not None
        return float(np.sqrt(((r[0].astype(np.float32) - plate)[fringe] ** 2).mean()))

    got = fringe_error()
    monkeypatch.setattr(restore, "PLATE_SINK", 0.0)
    without = fringe_error()
    assert got < 0.5 * without and got < 3.0, (got, without)


def test_scenery_brighter_than_the_plate_is_lifted_only_near_the_mark(monkeypatch):
    """A bright cloud drifting through the box in some fit frames joined the envelope well away
    from the mark (yellow_brick_road's sky, f228-343); where it shows again a few levels above the
    plate, that is scenery, not a faint edge of the mark: kept (it was replaced by the plate,
    outlining the cloud in the sky)."""
    alpha, plate = _still_sky(6)
    yy, xx = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(np.float32)
    cloud = np.exp(-(((xx - 205) / 9) ** 2) - ((yy - 40) / 9) ** 2)  # 20 px right of the text
    frames = [_blend(alpha, plate + (75 if t < 6 else 0) * cloud) for t in range(20)]
    faint = _blend(alpha, plate + 9 * cloud)

    def cloud_error() -> float:
        m = IntervalMatte(frames)
        assert m.found and m.env[40, 205] and not m.usual[40, 190:].any()
        m.plates = [plate.astype(np.float32)]
        r = m.restore_y(faint)
        assert r is not None
        near = cloud > 0.5
        return float(np.abs(r[0].astype(np.float32) - faint)[near].max())

    assert cloud_error() <= 1.0
    monkeypatch.setattr(restore, "LIFT_NEAR", 0)
    assert cloud_error() > 4.0


def _strip_error(monkeypatch, bare: float) -> float:
    """RMS luma error over a pale strip of still scenery above the mark (bright in every frame of
    the interval: it joins the core), with a clean plate of the same still scene."""
    from tests.watermark.test_ending import AT, _bg
    from tests.watermark.test_ending import SIZE as BOX
    from tests.watermark.test_ending import _blend as blend

    monkeypatch.setattr(restore, "PLATE_BARE", bare)
    full = mark_alpha(scale=1.5)
    h, w = full.shape
    strip = (slice(4, 10), slice(AT[0] - 6, AT[0] + w + 10))
    base = _bg(0) * 0.6 + 20
    base[strip] = 206.0
    rng = np.random.default_rng(1)

    def bg() -> np.ndarray:
        return base + rng.normal(0, 0.7, BOX)

    m = IntervalMatte([blend(full, AT, bg()) for _ in range(30)])
    m.set_plates([np.clip(np.round(bg()), 0, 255).astype(np.uint8) for _ in range(3)])
    a = np.zeros(BOX, np.float32)
    a[AT[1]:AT[1] + h, AT[0]:AT[0] + w] = full
    clear = np.zeros(BOX, bool)
    clear[strip] = True
    clear &= a < 0.02
    assert (m.core & clear).sum() > 0.9 * clear.sum()  # the strip passes for the mark's core
    worst = 0.0
    for _ in range(3):
        truth = bg()
        r = m.restore_y(blend(full, AT, truth))
        assert r is not None
        worst = max(worst, float(np.sqrt(((r[0][clear] - truth[clear]) ** 2).mean())))
    return worst


def test_still_scenery_the_plate_shows_uncovered_is_left_as_it_is(monkeypatch):
    """A pale strip of still scenery at the box's top, bright in every frame, passes for the
    mark's core and was un-blended to ~100 levels darker (wm_eval's sam2_cups, mirrored upside
    down: p5 26 dB against the oracle's 36). Where a matching plate reads what the frame reads,
    pixel by pixel and around, the pixel is not covered: a covered one reads a0 * (235 - plate)
    above it."""
    kept, darkened = _strip_error(monkeypatch, 2.0), _strip_error(monkeypatch, 0.0)
    assert kept < 1.5 and darkened > 50, (kept, darkened)


@pytest.mark.parametrize("reshare", [True, False])
def test_held_intervals_take_the_opacity_read_before_them(basic_case, tmp_path, monkeypatch, reshare: bool) -> None:
    """A held video's intervals take the pooled opacity again as their restoration begins, so a
    reading against clean plates at an earlier place (one injected here, as the first interval's
    restoration would read it) reaches the later places, as it does in a streamed video."""
    monkeypatch.setattr(pipeline, "A0_RESHARE", reshare)
    path, _ = basic_case
    seen: dict[tuple[int, ...], set[float]] = {}
    original = IntervalMatte.restore

    def reading_restore(self: IntervalMatte, yuv, box, *args, **kwargs):
        if not seen:
            self._a0_votes.append(0.70)
        seen.setdefault(tuple(box), set()).add(round(self.a0, 4))
        return original(self, yuv, box, *args, **kwargs)

    monkeypatch.setattr(IntervalMatte, "restore", reading_restore)
    remove_watermark(path, tmp_path / "out.mp4")
    later = list(seen.values())[1:]
    assert len(later) == 2, seen
    assert all((v == {0.70}) == reshare for v in later), seen
