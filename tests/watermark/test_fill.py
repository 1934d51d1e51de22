"""The fill of the mark's thin holes (its edge ring, strokes too thin to un-blend)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import vidgate.watermark.fill as fill
import vidgate.watermark.restore as restore


def _sill(h: int = 60, w: int = 160) -> np.ndarray:
    """A picture frame's sill under the text: a bright band, a dark line below it, a wall, a
    little texture."""
    rng = np.random.default_rng(3)
    img = np.full((h, w), 120.0, np.float32)
    img[:28] = 215.0
    img[28:31] = 60.0
    img += cv2.GaussianBlur(rng.normal(0, 6, (h, w)).astype(np.float32), (0, 0), 1.0)
    return np.clip(cv2.GaussianBlur(img, (0, 0), 0.7), 0, 255).astype(np.uint8)


def _letters(h: int = 60, w: int = 160) -> np.ndarray:
    """Thin strokes across the sill, as a small mark's text is all edge ring."""
    m = np.zeros((h, w), np.uint8)
    cv2.putText(m, "Sora", (12, 42), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 1, 2)
    return m


def _strokes(h: int = 60, w: int = 160) -> np.ndarray:
    """Upright strokes 2-3 px wide across the sill (an "l", the stems of "r" and "a")."""
    m = np.zeros((h, w), np.uint8)
    for i, x in enumerate(range(14, w - 14, 11)):
        m[14:46, x:x + 2 + i % 2] = 1
    return m


def test_a_line_crossing_thin_strokes_is_carried_across_them():
    img, hole = _sill(), _strokes()
    on_line = (hole > 0) & (np.abs(np.arange(img.shape[0]) - 29)[:, None] <= 3)

    def err(along: bool) -> float:
        out = fill.fill_thin(img, hole, along).astype(np.float32)
        return float(np.sqrt(((out - img)[on_line] ** 2).mean()))

    isotropic, oriented = err(False), err(True)
    assert oriented < 0.2 * isotropic, (oriented, isotropic)


@pytest.mark.parametrize("seed", [0, 1])
def test_without_an_orientation_the_fill_is_the_isotropic_one(seed: int):
    """Over texture without a direction (or flat ground) the oriented fill stays out of the way."""
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(120, 4, (60, 160)), 0, 255).astype(np.uint8)
    hole = _letters()
    a = fill.fill_thin(img, hole).astype(np.float32)
    b = fill.fill_thin(img, hole, along=True).astype(np.float32)
    assert float(np.abs(a - b).max()) <= 2.0


def test_a_wide_hole_is_filled_from_around_not_from_what_it_holds():
    """A hole's pixels hold un-blended values that are not to be read (too dark, too bright): the
    middle of a wide hole is inpainted from the rest of the hole as filled from around, not from
    those values (its outer ring was read as known by the inpainting: 52 levels off over a smooth
    ramp)."""
    xx = np.mgrid[0:40, 0:60][1]
    truth = (90 + xx * 0.5).astype(np.uint8)
    hole = np.zeros_like(truth)
    hole[10:30, 20:36] = 1
    err = {}
    for held in (0, 250):
        img = truth.copy()
        img[hole > 0] = held
        out = fill.fill_thin(img, hole).astype(np.float32)
        err[held] = np.abs(out - truth)[hole > 0]
        assert float(err[held].mean()) < 2.0 and float(err[held].max()) <= 6, (held, err[held].max())
    assert np.array_equal(err[0], err[250])  # (what the hole held plays no part)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 1000, 1001])
def test_median_above_matches_numpy(n: int) -> None:
    """The plates' gate, counted instead of sorted, gives numpy's verdict, ties and the two
    middle values straddling the limit included."""
    rng = np.random.default_rng(n)
    for trial in range(200):
        v = rng.integers(0, 6, n).astype(np.float32) * 0.5  # many ties on the limits below
        if trial % 3 == 0:
            v = rng.normal(1.5, 1.0, n).astype(np.float32)
        for limit in (0.0, 0.5, 1.0, 1.25, 1.5, 2.0, 3.0):
            assert restore._median_above(v, limit) == (float(np.median(v)) > limit)
            # (and "at least", as the fade test asks it, through the negated values)
            assert (not restore._median_above(-v, -limit)) == (float(np.median(v)) >= limit)
    assert not restore._median_above(np.zeros(0, np.float32), 0.0)


def test_blurs_share_the_small_images_exactly() -> None:
    """Blurs of one image at once are the same arrays as one at a time, on each path: narrow
    ones exact, middling ones on the 2x smaller image, wide ones on the 4x smaller one."""
    x = np.random.default_rng(5).random((70, 230), dtype=np.float32) * 200
    half = cv2.resize(x, (115, 35), interpolation=cv2.INTER_AREA)
    small = cv2.resize(x, (230 // 4, 70 // 4), interpolation=cv2.INTER_AREA)
    for sigmas in [(3.0,), (2.0, 6.0, 24.0), (1.5, 2.5, 4.0, 12.0, 36.0)]:
        for got, s in zip(fill.blurs(x, *sigmas), sigmas, strict=True):
            assert np.array_equal(got, fill.blur(x, s))
            if s < fill.HALF_FROM:
                ref = cv2.GaussianBlur(x, (0, 0), s)
            elif s < fill.QUARTER_FROM:
                sh = np.sqrt(s * s - fill.HALF_SPREAD) / 2
                ref = cv2.resize(cv2.GaussianBlur(half, (0, 0), sh), (230, 70), interpolation=cv2.INTER_LINEAR)
            else:
                ref = cv2.resize(cv2.GaussianBlur(small, (0, 0), s / 4), (230, 70), interpolation=cv2.INTER_LINEAR)
            assert np.array_equal(got, ref)


@pytest.mark.parametrize("shape", [(70, 230), (71, 231), (9, 13)])
def test_half_size_blur_keeps_to_the_gaussian(shape: tuple[int, int]) -> None:
    """The 2x smaller image's blur stays close to the exact Gaussian on smooth estimates (a blurred
    mask, as the normalised fills use) and keeps its width and place, on odd sizes too."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    mask = ((xx - w / 3) ** 2 + (yy - h / 2) ** 2 < (min(h, w) / 3) ** 2).astype(np.float32)
    for s in (2.5, 3.0, 4.0):
        exact, got = cv2.GaussianBlur(mask, (0, 0), s), fill.blur(mask, s)
        if min(shape) < 16:  # (small images are blurred exactly)
            assert np.array_equal(got, exact)
            continue
        assert np.abs(got - exact).max() < 0.02
        # a point's blur: as wide as the exact one's, and centred within about half a pixel of the point
        # (the 2x2 block it falls in), near the sides too, odd sizes included. (The window reaches
        # 2 sigma: the mass beyond is the same for both.)
        r = 2 * int(s)
        ys, xs = np.mgrid[-r:r + 1, -r:r + 1]
        for cy, cx in [(h // 2, w // 2), (h // 2 + 1, w // 2 + 1), (h - r - 1, w - r - 1), (r + 1, r)]:
            dot = np.zeros(shape, np.float32)
            dot[cy, cx] = 1.0
            win = np.s_[cy - r:cy + r + 1, cx - r:cx + r + 1]
            b, ref = fill.blur(dot, s)[win], cv2.GaussianBlur(dot, (0, 0), s)[win]
            assert abs(float((b * ys).sum() / b.sum())) < 0.6
            assert abs(float((b * xs).sum() / b.sum())) < 0.6
            for d in (xs, ys):
                spread, want = (float((v * (d - (v * d).sum() / v.sum()) ** 2).sum() / v.sum()) for v in (b, ref))
                assert abs(spread - want) < 0.1 * want
