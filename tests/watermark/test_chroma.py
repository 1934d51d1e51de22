"""Chroma under the mark: un-blending multiplies its errors by 1/(1-a) ~ 4."""

from __future__ import annotations

import cv2
import numpy as np
from tests.watermark.conftest import mark_alpha

import vidgate.watermark.chroma as chroma
import vidgate.watermark.restore as restore
from vidgate.watermark.restore import IntervalMatte


def _restored(ground: tuple[float, float], luma: tuple[float, float], err: float, noise: float,
              seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Restore a 1.5x mark over ground of chroma ``ground`` (U, V) whose overlay carries a chroma
    error of ``err`` levels (U up, V down) plus ``noise``: (U, V, the chroma pixels under it)."""
    rng = np.random.default_rng(seed)
    alpha = mark_alpha(scale=1.5)
    h, w = 80, 170
    a = np.zeros((h, w), np.float32)
    a[14:14 + alpha.shape[0], 20:20 + alpha.shape[1]] = alpha
    ac = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    under = ac > 0.3
    assert under.sum() > 50

    def frame() -> np.ndarray:
        bg = cv2.GaussianBlur(rng.uniform(*luma, (h, w)).astype(np.float32), (0, 0), 4)
        y = np.round(a * 235 + (1 - a) * bg).astype(np.uint8)
        u, v = (128 + (1 - ac) * (g - 128) + s * err * under + rng.normal(0, noise, ac.shape)
                for g, s in zip(ground, (1, -1), strict=True))
        return np.concatenate([y] + [np.round(p).astype(np.uint8).reshape(h // 4, w) for p in (u, v)])

    frames = [frame() for _ in range(20)]
    out = IntervalMatte([f[:h] for f in frames]).restore(frame(), (0, 0, w, h))
    u = out[h:h + h // 4].reshape(h // 2, w // 2).astype(np.float32)
    v = out[h + h // 4:].reshape(h // 2, w // 2).astype(np.float32)
    return u, v, under


def _chroma_error(ground: tuple[float, float], luma: tuple[float, float], err: float, noise: float,
                  seed: int) -> tuple[float, float]:
    """See :func:`_restored`: the largest |U|, |V| error under the mark."""
    u, v, under = _restored(ground, luma, err, noise, seed)
    return float(np.abs(u[under] - ground[0]).max()), float(np.abs(v[under] - ground[1]).max())


def test_a_small_chroma_error_of_the_overlay_is_not_amplified_into_colour():
    """Over saturated ground (a yellow road: U 90, V 170) the overlay's chroma carries a small
    error (subsampling at the strokes' edges, the codec); un-blended it would be ~4x larger and
    paint the letters orange. The result stays near the surroundings' chroma."""
    eu, ev = _chroma_error((90, 170), (170, 215), err=4, noise=0, seed=2)
    assert eu <= 7 and ev <= 7, (eu, ev)


def test_over_grey_ground_the_overlays_chroma_error_is_held_to_the_grounds_spread():
    """Over nearly grey surf (sth_soar2's right-middle place) a low-rate encode leaves the overlay
    a level or so bluish; un-blended that is ~6 levels, a blue cloud over grey water. With the
    surroundings that flat, the result stays within a level or two of them."""
    eu, ev = _chroma_error((131, 126), (120, 170), err=1.4, noise=0.3, seed=3)
    assert eu <= 2 and ev <= 2, (eu, ev)


def test_chroma_under_the_mark_follows_the_restored_luma_across_an_edge(monkeypatch):
    """The mark straddles a grey wall (bright) above orange fur (darker), as on the puppy; its
    overlay carries more of the ground's chroma than the model says (a low-rate 264x480 encode),
    so the un-blended chroma is over-saturated and held near the surroundings' chroma. A plain
    fill of the surroundings mixes the wall's and the fur's, and their spread lets the excess
    through (the puppy's cloud came out orange over the wall). Predicted from the restored luma
    (a local linear fit over the surroundings, as a guided filter does) each side keeps its own
    chroma, within what the luma does not explain."""
    alpha = mark_alpha(scale=1.5)
    h, w = 80, 170
    a = np.zeros((h, w), np.float32)
    a[14:14 + alpha.shape[0], 20:20 + alpha.shape[1]] = alpha
    ac = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    fur = np.zeros((h, w), bool)
    fur[40:] = True
    furc = cv2.resize(fur.astype(np.uint8), (w // 2, h // 2), interpolation=cv2.INTER_NEAREST) > 0
    ground = {"u": np.where(furc, 114.0, 127.0), "v": np.where(furc, 144.0, 130.0)}
    rng = np.random.default_rng(7)

    def frame() -> np.ndarray:
        bg = np.where(fur, 120.0, 175.0) + rng.normal(0, 1.5, (h, w))
        y = np.round(a * 235 + (1 - a) * bg).astype(np.uint8)
        # (the overlay keeps most of the ground's chroma where the model says a quarter)
        u, v = (128 + (1 - 0.3 * ac / ac.max()) * (g - 128) for g in (ground["u"], ground["v"]))
        return np.concatenate([y] + [np.round(p).astype(np.uint8).reshape(h // 4, w) for p in (u, v)])

    frames = [frame() for _ in range(20)]
    under = ac > 0.3
    under[18:22] = False  # (the edge itself: both blur it alike)

    def error() -> float:
        out = IntervalMatte([f[:h] for f in frames]).restore(frame(), (0, 0, w, h))
        u = out[h:h + h // 4].reshape(h // 2, w // 2).astype(np.float32)
        v = out[h + h // 4:].reshape(h // 2, w // 2).astype(np.float32)
        return float(np.sqrt(((u - ground["u"])[under] ** 2 + (v - ground["v"])[under] ** 2).mean()))

    got = error()
    monkeypatch.setattr(chroma, "CHROMA_GUIDE", 0.0)
    assert got < 2.0 and got < 0.75 * error(), got


def test_the_overlays_chroma_noise_is_shrunk_toward_the_fill(monkeypatch):
    """The overlay's chroma carries the codec's noise, amplified 1/(1-a) ~ 4x by un-blending; where
    the surroundings' chroma is smooth, most of what the un-blended chroma adds to their fill is
    that noise: it is shrunk toward the fill by the share the surroundings' own spread explains (a
    Wiener weight), within the bound. With 1.2 levels of noise on a grey-pink ground the error
    under the mark drops well below what the bound alone leaves."""
    ground = (126.0, 134.0)

    def rms() -> float:
        u, v, under = _restored(ground, (120, 170), err=0, noise=1.2, seed=5)
        return float(np.sqrt(((u[under] - ground[0]) ** 2 + (v[under] - ground[1]) ** 2).mean()))

    got = rms()
    monkeypatch.setattr(chroma, "CHROMA_NOISE", 0.0)
    assert got < 0.8 * rms(), got


def test_the_handles_filled_strokes_get_their_colour_back(monkeypatch):
    """The @handle's thin glyphs over dark ground fail the shape test: their luma is filled from
    around as holes, where the restoration's alpha is 0. The chroma read that 0 and kept the
    white overlay's grey (a grey trace along yellow_brick_road's handle over brown hair); it
    un-blends them with their static alpha instead, and the glyphs take the ground's colour."""
    alpha = mark_alpha(scale=2.0, handle=True)
    middle = np.zeros_like(alpha, bool)
    middle[61:, 40:120] = True  # the handle's middle letters, thinner (fainter)
    alpha = np.where(middle, alpha * 0.7, alpha)
    h, w = 112, 240
    a = np.zeros((h, w), np.float32)
    a[14:14 + alpha.shape[0], 16:16 + alpha.shape[1]] = alpha
    glyph = np.zeros((h, w), bool)
    glyph[14:14 + alpha.shape[0], 16:16 + alpha.shape[1]] = middle & (alpha > 0.05)
    ac = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    under = cv2.resize(glyph.astype(np.float32), (w // 2, h // 2), interpolation=cv2.INTER_AREA) > 0.25
    ground = (112.0, 152.0)  # brown hair
    rng = np.random.default_rng(8)
    tex = cv2.GaussianBlur(rng.uniform(40, 110, (h, w + 80)).astype(np.float32), (0, 0), 1.2)

    def frame(t: int) -> np.ndarray:
        bg = tex[:, 2 * t:2 * t + w] * 0.4 + (80.0 if t % 10 >= 4 else 190.0)
        y = np.round(a * 235 + (1 - a) * bg).astype(np.uint8)
        u, v = (128 + (1 - ac) * (g - 128) for g in ground)
        return np.concatenate([y] + [np.round(p).astype(np.uint8).reshape(h // 4, w) for p in (u, v)])

    frames = [frame(t) for t in range(40)]

    def error() -> float:
        m = IntervalMatte([f[:h] for f in frames])
        assert m._has_handle()
        out = m.restore(frame(24), (0, 0, w, h))  # (over dark ground)
        u = out[h:h + h // 4].reshape(h // 2, w // 2).astype(np.float32)
        v = out[h + h // 4:].reshape(h // 2, w // 2).astype(np.float32)
        return float(np.sqrt(((u - ground[0])[under] ** 2 + (v - ground[1])[under] ** 2).mean()))

    assert under.sum() > 20
    got = error()
    monkeypatch.setattr(restore, "CHROMA_STATIC", False)
    before = error()
    assert got < 2.5 and got < 0.7 * before, (got, before)
