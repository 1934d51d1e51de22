from __future__ import annotations

import numpy as np
import pytest

from vidgate.watermark.pixelstats import PixelOrder, lowest0, percentile0


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


@pytest.mark.parametrize("n", [4, 9, 18, 56, 75])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_low_percentiles_by_insertion_are_numpys_own(n, dtype):
    """A low percentile read from the few smallest values (min/max insertion, not a sort) is
    numpy's result on the stack converted to the float type asked for, exactly; uint8 chunk maps
    (the detector's tops) are read in their own type."""
    rng = np.random.default_rng(n)
    a = (rng.random((n, 17, 29)) ** 3 * 90).astype(dtype)
    a[:, 0, 0] = 7  # ties
    a[:, 1, :3] = 0  # the dtype's floor
    for q in (0, 5, 15, 20, 25):
        want = np.percentile(a.astype(np.float32), q, axis=0)
        got = percentile0(a, q, np.float32)
        assert got.dtype == np.float32
        assert np.array_equal(got, want), (q, np.abs(got - want).max())
    if dtype is np.float32:
        assert np.array_equal(percentile0(a, 15), np.percentile(a, 15, axis=0))


def test_lowest_values_are_sorted_per_pixel():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (12, 5, 6), dtype=np.uint8)
    got = lowest0(a, 4)
    assert np.array_equal(np.stack(got), np.sort(a, axis=0)[:4])
    assert not np.shares_memory(got[0], a)
