"""CPU-heavy work (rendering, the watermark engine) runs in worker processes, off the event loop.

Progress crosses the process boundary through a tiny file the worker rewrites; the task's
heartbeat reads it. That keeps the worker free of any DB or IPC machinery.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any


class FileProgress:
    """Picklable progress callback: writes a fraction 0..1 to a file (atomically, throttled)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._last = -1.0

    def __call__(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction - self._last < 0.01 and fraction < 1.0:
            return
        self._last = fraction
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{fraction:.4f}")
        os.replace(tmp, self.path)


def read_progress(path: Path) -> float | None:
    try:
        return float(path.read_text() or "nan")
    except (OSError, ValueError):
        return None


def _die_with_parent() -> None:
    """Worker initializer: on Linux, ask the kernel to kill us if the server dies (even by SIGKILL),
    so no orphan keeps writing into a task's work dir while a restarted server resumes it."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def atomic_output(dest: Path) -> Path:
    """A private temporary path next to ``dest``; rename it over ``dest`` when complete."""
    return dest.with_name(f".{dest.stem}.{os.getpid()}.tmp{dest.suffix}")


class CpuPool:
    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: the parent runs an event loop and threads; forking that is unsafe
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn"), initializer=_die_with_parent
            )
        return self._pool

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        pool = self._get()
        try:
            return await loop.run_in_executor(pool, partial(fn, *args, **kwargs))
        except BrokenProcessPool:
            # a worker died (OOM killer, a crash in native code): the pool refuses all further work,
            # so replace it; the task itself is retried by the runner, up to its attempt limit
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
