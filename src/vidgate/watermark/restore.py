"""Matte estimation and restoration inside one position interval (box crops only).

Model (Y plane, limited range, y = (Y - 16) / 219): ``I = a + (1 - a) * B`` (the mark is white),
chroma: ``C - 128 = (1 - a) * (C_B - 128)``.

* matte: per pixel least squares over the interval's frames, ``a = sum((I - B~)(1 - B~)) /
  sum((1 - B~)^2)`` with ``B~`` a smooth fill of the frame from outside the mark (normalised
  convolution); frames with a bright background weigh little. The core opacity ``a0`` is the same
  everywhere in the mark, so it is estimated once from all core pixels and the core snapped to it.
* the animated part (pixels whose per-frame fit is poor) and the few pixels where ``a`` is too close
  to 1 are filled: by un-blending where possible and Telea inpainting of the rest;
* per frame and per connected part of the mark a gain is fitted (fade-outs, blank frames);
* un-blend ``B = (I - a) / (1 - a)``, then a recursive temporal filter inside the mark, weighted by
  the noise amplification ``1 / (1 - a)`` and gated by the frame difference, cancels the amplified
  codec noise without smearing motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

A_MAX_UNBLEND = 0.92  # un-blend where a <= this, inpaint above


def _fill(y: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised-convolution fill of the unknown pixels (smooth background estimate)."""
    w = known.astype(np.float32)
    num = cv2.GaussianBlur(y * w, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    out = num / np.maximum(den, 1e-4)
    # far from known pixels the small-sigma estimate is undefined: use a wider one there
    num2 = cv2.GaussianBlur(y * w, (0, 0), sigma * 3)
    den2 = cv2.GaussianBlur(w, (0, 0), sigma * 3)
    out2 = num2 / np.maximum(den2, 1e-4)
    t = np.clip(den / 0.2, 0, 1)
    fill = t * out + (1 - t) * out2
    return np.where(known, y, fill)


@dataclass
class Matte:
    alpha: np.ndarray  # (h, w) float32, static part of the matte
    a0: float  # core opacity
    variable: np.ndarray  # (h, w) bool: animated pixels (filled, not un-blended)
    labels: np.ndarray  # (h, w) int32: connected part of the mark each pixel belongs to (0 = none)
    nlabels: int

    @property
    def found(self) -> bool:
        return self.nlabels > 0 and self.a0 > 0.2


def estimate_matte(ys: list[np.ndarray]) -> Matte:
    """ys: luma crops (uint8) of one interval, the mark static in them."""
    Y = np.stack([(y.astype(np.float32) - 16.0) / 219.0 for y in ys])
    Y = np.clip(Y, 0, 1)
    n, h, w = Y.shape
    short = min(h, w)
    sig = max(2.0, short / 10)
    # initial mark region: persistent bright structure: the temporal 20th percentile of the
    # local top-hat (pixel minus its neighbourhood's smooth level)
    k = max(3, int(short * 0.35) | 1)
    th = np.stack([y - cv2.morphologyEx(y, cv2.MORPH_OPEN, np.ones((k, k), np.uint8)) for y in Y])
    p = np.percentile(th, 30, axis=0)
    known = p < max(0.05, float(np.percentile(p, 90)) * 0.3)
    alpha = np.zeros((h, w), np.float32)
    for _ in range(2):
        num = np.zeros((h, w), np.float32)
        den = np.zeros((h, w), np.float32)
        for y in Y:
            b = _fill(y, known, sig)
            d = 1.0 - b
            num += (y - b) * d
            den += d * d
        alpha = np.clip(num / np.maximum(den, 1e-3), 0, 1)
        known = cv2.dilate((alpha > 0.03).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
    core = alpha > 0.5 * float(alpha.max())
    a0 = float(np.median(alpha[core])) if core.sum() > 10 else 0.0
    if a0 < 0.2:
        return Matte(alpha * 0, 0.0, np.zeros((h, w), bool), np.zeros((h, w), np.int32), 0)
    a = alpha.copy()
    a[a > 0.85 * a0] = a0
    a[a < 0.02] = 0
    # variable pixels: residual of the static fit much larger than expected
    res = np.zeros((h, w), np.float32)
    for y in Y:
        b = _fill(y, ~(a > 0.02), sig)
        r = np.abs((y - b) - a * (1 - b)) * (1 - b)
        res += r
    res /= n
    mark = a > 0.02
    ref = float(np.median(res[mark])) if mark.any() else 0.0
    variable = (res > 2.5 * ref + 0.02) & cv2.dilate(mark.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    variable = cv2.dilate(variable.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    big = cv2.dilate((a > 0.02).astype(np.uint8), np.ones((3, 3), np.uint8))
    nl, labels = cv2.connectedComponents(big, connectivity=8)
    return Matte(a, a0, variable, labels.astype(np.int32), nl - 1)


def frame_gains(y: np.ndarray, m: Matte) -> np.ndarray:
    """Per connected part, the gain g with ``I - B~ = g * a * (1 - B~)`` (1 normally, 0 when absent)."""
    g = np.ones(m.nlabels + 1, np.float32)
    if m.nlabels == 0:
        return g
    yn = np.clip((y.astype(np.float32) - 16) / 219, 0, 1)
    b = _fill(yn, m.labels == 0, max(2.0, min(y.shape) / 10))
    d = 1 - b
    num = np.bincount(m.labels.ravel(), ((yn - b) * m.alpha * d).ravel(), m.nlabels + 1)
    den = np.bincount(m.labels.ravel(), ((m.alpha * d) ** 2).ravel(), m.nlabels + 1)
    ok = den > 1e-2
    g[ok] = np.clip(num[ok] / den[ok], 0, 1.2)
    g[(g > 0.8) & (g < 1.2)] = 1.0
    g[0] = 0.0
    return g


class IntervalRestorer:
    """Restores the frames of one interval, in order (keeps the temporal filter state)."""

    def __init__(self, matte: Matte, box: tuple[int, int, int, int]) -> None:
        self.m = matte
        self.box = box
        self.prev: np.ndarray | None = None  # previous restored Y crop (float32)
        self.prev_in: np.ndarray | None = None

    def restore(self, yuv: np.ndarray) -> np.ndarray:
        """Restore one yuv420p frame (H*3/2, W) in place of its box; returns the frame."""
        m = self.m
        if not m.found:
            return yuv
        H = yuv.shape[0] * 2 // 3
        W = yuv.shape[1]
        x0, y0, x1, y1 = self.box
        Yp = yuv[:H]
        yc = Yp[y0:y1, x0:x1].astype(np.float32)
        g = frame_gains(Yp[y0:y1, x0:x1], m)
        a = m.alpha * g[m.labels]
        a = np.minimum(a, 0.98)
        yn = (yc - 16) / 219
        b = (yn - a) / (1 - a)
        out = 16 + 219 * b
        hole = m.variable | (a > A_MAX_UNBLEND)
        # temporal filter where un-blending amplified the noise
        amp = a / np.maximum(1 - a, 0.02)  # 0 outside the mark
        if self.prev is not None:
            diff = np.abs(out - self.prev)
            diff = cv2.GaussianBlur(diff, (0, 0), 1.0)
            sigma_n = 1.5 * (1 + amp)
            k = 0.75 * np.exp(-((diff / (2.5 * sigma_n)) ** 2)) * np.clip(amp / 2.0, 0, 1)
            out = out + k * (self.prev - out)
        out = np.clip(out, 0, 255)
        o8 = np.round(out).astype(np.uint8)
        if hole.any():
            hm = hole.astype(np.uint8)
            o8 = cv2.inpaint(o8, hm, 3, cv2.INPAINT_TELEA)
            out = np.where(hole, o8.astype(np.float32), out)
        self.prev = out
        Yp[y0:y1, x0:x1] = o8
        # chroma (half resolution)
        cx0, cy0, cx1, cy1 = x0 // 2, y0 // 2, x1 // 2, y1 // 2
        ac = cv2.resize(a, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_AREA)
        hc = cv2.resize(hole.astype(np.uint8), (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_NEAREST)
        hw, hh = W // 2, H // 2
        flat = yuv.reshape(-1)
        U = flat[H * W:H * W + hh * hw].reshape(hh, hw)
        V = flat[H * W + hh * hw:H * W + 2 * hh * hw].reshape(hh, hw)
        for P in (U, V):
            c = P[cy0:cy1, cx0:cx1].astype(np.float32)
            c = 128 + (c - 128) / (1 - ac)
            c8 = np.clip(np.round(c), 0, 255).astype(np.uint8)
            if hc.any():
                c8 = cv2.inpaint(c8, hc, 3, cv2.INPAINT_TELEA)
            P[cy0:cy1, cx0:cx1] = c8
        return yuv
