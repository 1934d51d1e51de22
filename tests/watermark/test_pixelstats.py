from __future__ import annotations

import numpy as np
import pytest

from vidgate.watermark.pixelstats import PixelOrder, percentile0


@pytest.mark.parametrize("n", [1, 2, 3, 8, 18, 59, 60])
def test_order_statistics_are_numpys_own(n):
    """The per-pixel percentiles and median read from one sort are numpy's float32 results exactly
    (the engine's decisions threshold them: a last-bit difference could flip one)."""
    rng = np.random.default_rng(n)
    a = (rng.random((n, 23, 31)) * 100).astype(np.float32)
    a[:, 0, 0] = 7.0  # ties
    order = PixelOrder(a)
    for q in (0, 15, 20, 37.5, 50, 85, 100):
        got = order.percentile(q)
        assert got.dtype == np.float32
        assert np.array_equal(got, np.percentile(a, q, axis=0)), q
        assert np.array_equal(percentile0(a, q), got)
    assert np.array_equal(order.median(), np.median(a, axis=0))
    assert order.median().dtype == np.float32
