"""The CPU process pool survives a worker that dies."""

from __future__ import annotations

import math
import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from vidgate.jobs.cpu import CpuPool


async def test_pool_is_replaced_after_a_worker_dies() -> None:
    pool = CpuPool(1)
    try:
        assert await pool.run(math.sqrt, 16.0) == 4.0
        with pytest.raises(BrokenProcessPool):
            await pool.run(os._exit, 3)  # a worker killed mid-task (OOM killer, native crash)
        assert await pool.run(math.sqrt, 9.0) == 3.0  # later tasks still run
    finally:
        pool.shutdown()
