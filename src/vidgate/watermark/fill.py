"""Filling what cannot be un-blended: the mark's thin holes (its 1-2 px edge ring, the eyes, strokes
too faint to un-blend) from the pixels around them, by normalised convolution, carried along the
scene's orientation where it has one, with Telea's inpainting for the middle of a wider hole; and
the Gaussian blurs the restoration shares (middling ones on a 2x, wide ones on a 4x smaller image)."""

from __future__ import annotations

import math

import cv2
import numpy as np

K5 = np.ones((5, 5), np.uint8)
FAR_INPAINT = True  # the far middle of a wider hole is inpainted (Telea), not blurred in from further out
FILL_NC = 1.5  # px: sigma of the normalised-convolution fill of thin holes
ALONG_SIGMA = 2.5  # px: the structure tensor's neighbourhood
ALONG_MIN = 6.0  # gradient (Sobel units) below which the scene has no orientation to carry
ALONG_K = 1.0  # weight of the oriented fill at full coherence
ALONG_RUN_SIGMA = 1.5  # px: sigma of the one-dimensional fills along a row or column
ALONG_COVER = 0.05  # ... which need this much known weight within reach
ALONG_OFF = 1  # px: the orientation read from known pixels this far from the hole at least
HALF_FROM = 2.5  # px: blurs this wide (up to QUARTER_FROM) run on a 2x smaller image (0: never)
# variance (px^2) that the 2x area shrink and the bilinear enlargement add around the small blur
HALF_SPREAD = 0.25 + 4.0 / 6.0
QUARTER_FROM = 6.0  # px: blurs this wide run on a 4x smaller image
# (its effective width, a little over sigma, is what the plate tests were tuned with: 6 px blurs
# moved to the 2x smaller image lost 0.4 dB on sam2_cups_landscape and running_car_landscape)
# (images under 16 px a side are blurred exactly: their borders' mirroring is most of them)


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones on a smaller image (near enough for these smooth estimates)."""
    return blurs(x, sigma)[0]


def blurs(x: np.ndarray, *sigmas: float) -> list[np.ndarray]:
    """:func:`blur` of ``x`` at each of ``sigmas``; the wide ones share the smaller images. A
    float Gaussian reaches 4 sigma: at 3 px that is 50 taps a pixel, most of the restoration's
    blurring; on a 2x smaller image it is a third of the time."""
    h, w = x.shape
    smaller: dict[int, np.ndarray] = {}  # by factor
    out = []
    for sigma in sigmas:
        f = 4 if sigma >= QUARTER_FROM else 2 if HALF_FROM and sigma >= HALF_FROM else 1
        if f == 1 or min(h, w) < 16:
            out.append(cv2.GaussianBlur(x, (0, 0), sigma))
            continue
        if f not in smaller:
            smaller[f] = cv2.resize(x, (w // f, h // f), interpolation=cv2.INTER_AREA)
        s = sigma / 4 if f == 4 else math.sqrt(max(sigma * sigma - HALF_SPREAD, 1.0)) / 2
        out.append(cv2.resize(cv2.GaussianBlur(smaller[f], (0, 0), s), (w, h), interpolation=cv2.INTER_LINEAR))
    return out


def fill_eyes(out: np.ndarray, hole: np.ndarray, eyes: np.ndarray, along: bool = False
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``out`` with the cloud's ``eyes`` (a dark overlay on real marks), grown by 2 px, filled from
    around; the hole mask (uint8) holding them; and the grown eyes (bool)."""
    grown = cv2.dilate(eyes.astype(np.uint8), K5)
    return fill_thin(out, grown, along), hole | grown, grown > 0


def fill_thin(img: np.ndarray, hole: np.ndarray, along: bool = False) -> np.ndarray:
    """Fill a thin hole (the mark's 1-2 px edge ring) by normalised convolution of the pixels
    around it: a tenth of Telea's cost on these crops, and as good on the 12 wm_eval cases
    (36.44 -> 36.49 dB); ``along``: carried along the scene's orientation (see :func:`along_fill`)."""
    known = (hole == 0).astype(np.float32)
    imgf = img.astype(np.float32)
    vk = imgf * known
    out = img.copy()
    cover = cv2.GaussianBlur(known, (0, 0), FILL_NC)
    est = cv2.GaussianBlur(vk, (0, 0), FILL_NC) / np.maximum(cover, 1e-3)
    if along:
        est = along_fill(imgf, known, vk, est)
    h = hole > 0
    far = h & (cover <= 0.05)
    out[h] = np.clip(np.round(est[h]), 0, 255).astype(np.uint8)
    if far.any():  # a wider hole than usual: its middle from further out
        if FAR_INPAINT:
            # Telea's inpainting: a line that crosses the hole (a picture frame's edge under the
            # text of a small mark, whose strokes are all ring) is carried in from both sides
            # where a wide blur greys it out. It marches over the far pixels only, from the rest
            # of the hole as filled above: a third of the pixels to march over, and better than
            # marching from the known pixels through the hole's near part as it stood (the
            # un-blended values there): +0.02 dB on the wm_eval sets
            out = cv2.inpaint(out, far.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        else:
            w3 = np.maximum(cv2.GaussianBlur(known, (0, 0), 3 * FILL_NC), 1e-3)
            wide = cv2.GaussianBlur(vk, (0, 0), 3 * FILL_NC) / w3
            out[far] = np.clip(np.round(wide[far]), 0, 255).astype(np.uint8)
    return out


def along_fill(img: np.ndarray, wk: np.ndarray, vk: np.ndarray, est: np.ndarray) -> np.ndarray:
    """A hole's fill carried along the scene's local orientation where it has one (a picture
    frame's edge crossing the text: the isotropic fill greyed it out across every stroke): the
    fills along the rows and along the columns (one-dimensional normalised convolutions),
    weighted by the structure tensor of the known pixels around, blended with ``est`` (the
    isotropic fill) where the orientation is not coherent. Only the hole's pixels change.
    ``wk``: the known pixels (float 0/1), ``vk``: ``img`` times ``wk``."""
    known = wk > 0
    g = np.where(known, img, est)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    # (only gradients read wholly among known pixels: the fill's own are smooth)
    we = cv2.erode(wk, np.ones((2 * ALONG_OFF + 1,) * 2, np.uint8))
    hole = ~known
    sums = [blur(v, ALONG_SIGMA)[hole] for v in (we, gx * gx * we, gy * gy * we, gx * gy * we)]
    den = np.maximum(sums[0], 1e-3)
    jxx, jyy, jxy = sums[1] / den, sums[2] / den, sums[3] / den
    tr = jxx + jyy
    coh = np.clip(((jxx - jyy) ** 2 + 4 * jxy * jxy) / np.maximum(tr * tr, 1e-6), 0, 1)
    coh[tr <= ALONG_MIN ** 2] = 0
    k = cv2.getGaussianKernel(2 * int(3 * ALONG_RUN_SIGMA) + 1, ALONG_RUN_SIGMA)
    one = np.ones((1, 1))
    ch, cv = cv2.sepFilter2D(wk, -1, k, one)[hole], cv2.sepFilter2D(wk, -1, one, k)[hole]
    fh = cv2.sepFilter2D(vk, -1, k, one)[hole] / np.maximum(ch, 1e-3)
    fv = cv2.sepFilter2D(vk, -1, one, k)[hole] / np.maximum(cv, 1e-3)
    # a horizontal edge has a vertical gradient: carried along the row; a direction without
    # known pixels near enough across the hole gives way to the other
    oh, ov = ch > ALONG_COVER, cv > ALONG_COVER
    wh = np.where(oh, np.where(ov, jyy / np.maximum(tr, 1e-6), 1), 0)
    c = np.where(oh | ov, coh, 0) * ALONG_K
    out = est.copy()
    out[hole] = c * (wh * fh + (1 - wh) * fv) + (1 - c) * est[hole]
    return out
