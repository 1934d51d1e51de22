"""Template matching that ignores textureless windows.

``TM_CCOEFF_NORMED`` divides by the window's standard deviation: over a flat window (a black bar,
a flat sky, the zero weight around a masked pattern) that is 0/0, and OpenCV returns whatever its
rounding makes of it (NaN, 0, or +-1.0 on AVX builds, which then beats every real match). Such
windows say nothing about the template, so they read 0.
"""

from __future__ import annotations

import cv2
import numpy as np


def zero_nonfinite(res: np.ndarray) -> np.ndarray:
    """``res`` with its NaN and +-inf set to 0, in place (``np.nan_to_num(res, nan=0.0, posinf=0.0,
    neginf=0.0)`` without its copy and its six passes: a whole frame's map in 20 us, not 170)."""
    bad = ~np.isfinite(res)
    if bad.any():
        res[bad] = 0.0
    return res


def match_textured(img: np.ndarray, tpl: np.ndarray, of_template: float = 0.1,
                   of_best: float = 0.0) -> tuple[float, int, int]:
    """Best NCC of ``tpl`` in ``img`` (float32) and its top-left (x, y), over the windows whose mean
    energy (mean of ``img**2``) reaches ``of_template`` times the template's or ``of_best`` times
    the most textured window's, whichever is higher. (Band-passed inputs: energy is texture.)"""
    res = cv2.matchTemplate(img, tpl, cv2.TM_CCOEFF_NORMED)
    th, tw = tpl.shape
    energy = cv2.boxFilter(img * img, -1, (tw, th), anchor=(0, 0), normalize=True)[: res.shape[0], : res.shape[1]]
    zero_nonfinite(res)
    floor = of_template * float((tpl * tpl).mean())
    if of_best > 0.0:
        floor = max(floor, of_best * float(energy.max()))
    res[energy < floor] = 0.0
    _, mv, _, (px, py) = cv2.minMaxLoc(res)
    return float(mv), int(px), int(py)
