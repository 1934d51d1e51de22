"""Per-pixel order statistics over a stack of frames (the first axis).

numpy's ``percentile``/``median`` along a short first axis take a generic partition path that is
3-6x slower than one sort along it; the estimates here read several percentiles from one sort and
give numpy's own float32 results (linear interpolation; the median of an even count is the mean of
the middle two).
"""

from __future__ import annotations

import cv2
import numpy as np


class PixelOrder:
    """A stack ``(n, h, w)`` sorted per pixel, for any number of per-pixel percentiles."""

    def __init__(self, stack: np.ndarray) -> None:
        self.s = np.sort(stack, axis=0)

    def percentile(self, q: float) -> np.ndarray:
        """``np.percentile(stack, q, axis=0)``."""
        s = self.s
        pos = q / 100 * (len(s) - 1)
        lo = int(pos)
        f = pos - lo  # (a Python float keeps the arithmetic in the stack's dtype, as numpy's own)
        if f == 0:
            return s[lo]
        d = s[lo + 1] - s[lo]
        return s[lo] + d * f if f < 0.5 else s[lo + 1] - d * (1 - f)

    def median(self) -> np.ndarray:
        """``np.median(stack, axis=0)``."""
        s, n = self.s, len(self.s)
        mid = (n - 1) // 2
        return s[mid] if n % 2 else (s[mid] + s[mid + 1]) / 2


def percentile0(stack: np.ndarray, q: float) -> np.ndarray:
    """``np.percentile(stack, q, axis=0)``, faster (see the module's docstring)."""
    return PixelOrder(stack).percentile(q)


def std0(stack: np.ndarray) -> np.ndarray:
    """``stack.astype(np.float32).std(0)`` of a uint8 or float32 stack, from running sums (OpenCV's
    accumulators: ~10x faster than numpy's two passes over a float copy of the whole stack)."""
    n = len(stack)
    s = np.zeros(stack.shape[1:], np.float32)
    q = np.zeros_like(s)
    for f in stack:
        cv2.accumulate(f, s)
        cv2.accumulateSquare(f, q)
    m = s / n
    return np.sqrt(np.maximum(q / n - m * m, 0.0))
