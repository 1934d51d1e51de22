"""The chroma planes under the mark, restored from the luma's restoration (its alpha and holes).

The overlay is white: ``C - 128 = (1 - a) (C_B - 128)``, so un-blending multiplies the chroma's
codec noise by ``1/(1-a)``. Chroma is smooth; it is taken from a weighted average (the least
amplified samples win), kept near a fill of the uncovered surroundings that follows the restored
luma, and its thin holes are filled like the luma's.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidgate.media.video import yuv_planes
from vidgate.watermark.fill import blur, fill_thin

CHROMA_DEV = 6.0  # un-blended chroma stays within this of the uncovered surroundings' (0: unbounded)
CHROMA_SPREAD = 1.0  # ... and within this many of the surroundings' local chroma std (what the luma does not explain)
CHROMA_DEV_MIN = 1.0  # ... but never held tighter than this
CHROMA_FILL = 4.0  # sigma (chroma px) of the surroundings' chroma fill
CHROMA_GUIDE = 3.0  # luma levels regularising the fill's local fit of chroma to the restored luma (0: plain fill)
CHROMA_NOISE = 0.5  # levels of codec noise in the overlay's chroma, shrunk toward the fill once amplified (0: off)


def restore_chroma(yuv: np.ndarray, box: tuple[int, int, int, int], a: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Restore the chroma planes inside ``box`` from the luma's alpha and holes; returns the frame."""
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = x0 // 2, y0 // 2, x1 // 2, y1 // 2
    size = (cx1 - cx0, cy1 - cy0)
    ac = np.minimum(cv2.resize(a, size, interpolation=cv2.INTER_AREA), 0.9)
    hc = cv2.resize(hole, size, interpolation=cv2.INTER_NEAREST)
    _, U, V = yuv_planes(yuv)
    # un-blended chroma is noisy (x 1/(1-a)) and chroma is smooth: inside the mark, replace it
    # by a normalised-convolution average weighted by (1-a)^2 (the least amplified samples win),
    # then keep it near the uncovered surroundings' chroma: over saturated ground (a yellow
    # road) the amplified codec error turned the letters orange; how near scales with the
    # surroundings' own spread: over grey surf a 6-level bound let a low-rate encode's error
    # through as a blue cloud. "Near" is read against the restored luma (a guided filter's
    # local linear fit over the surroundings): a grey wall above orange fur mixed in one fill
    # let the puppy's cloud come out orange over the wall
    wgt = (1 - ac) ** 2
    wden = np.maximum(cv2.GaussianBlur(wgt, (0, 0), 1.2), 1e-3)  # (the same for both planes)
    inside = ac > 0.03
    outside = (~inside).astype(np.float32)
    if CHROMA_DEV:  # the surroundings' weights, the same for both planes
        fw = blur(outside, CHROMA_FILL)
        known = fw > 1e-3
        fw = np.maximum(fw, 1e-6)
    if CHROMA_DEV and CHROMA_GUIDE:
        # the restored luma at chroma resolution and its statistics over the surroundings
        Yg = cv2.resize(yuv[:yuv.shape[0] * 2 // 3][y0:y1, x0:x1].astype(np.float32), size,
                        interpolation=cv2.INTER_AREA)
        mY = blur(Yg * outside, CHROMA_FILL) / fw
        vY = np.maximum(blur(Yg * Yg * outside, CHROMA_FILL) / fw - mY * mY, 0)
    for P in (U, V):
        c = P[cy0:cy1, cx0:cx1].astype(np.float32)
        cu = 128 + (c - 128) / (1 - ac)
        sm = cv2.GaussianBlur(cu * wgt, (0, 0), 1.2) / wden
        cu = np.where(inside, sm, cu)
        if CHROMA_DEV:
            fill = blur(c * outside, CHROMA_FILL) / fw
            var = blur(c * c * outside, CHROMA_FILL) / fw - fill * fill
            if CHROMA_GUIDE:
                cov = blur(c * Yg * outside, CHROMA_FILL) / fw - fill * mY
                k = cov / (vY + CHROMA_GUIDE**2)
                fill = fill + k * (Yg - mY)
                var = var - k * cov  # (what the luma does not explain)
            sd = np.sqrt(np.maximum(var, 0))
            lim = np.where(known, np.clip(CHROMA_SPREAD * sd, CHROMA_DEV_MIN, CHROMA_DEV), 255.0)
            dev = cu - fill
            if CHROMA_NOISE:
                # what the un-blended chroma adds to the fill is partly the scene's colour (as
                # much as the surroundings vary), partly the codec's noise amplified 1/(1-a)
                # times: kept in proportion (a Wiener weight), then bounded
                nz = (CHROMA_NOISE / (1 - ac)) ** 2
                dev = dev * np.where(known, (sd * sd + 1e-3) / (sd * sd + 1e-3 + nz), 1.0)
            cu = np.where(inside, fill + np.clip(dev, -lim, lim), cu)
        c8 = np.clip(np.round(cu), 0, 255).astype(np.uint8)
        if hc.any():
            c8 = fill_thin(c8, hc)
        P[cy0:cy1, cx0:cx1] = c8
    return yuv
