"""A per-provider circuit breaker, in process memory.

closed → (``threshold`` consecutive failures) → open → (``cooldown`` seconds) → half-open: one trial
request is let through; its success closes the breaker, its failure opens it for another cool-down.
Each process keeps its own breakers (they are a politeness towards a failing upstream, not shared state).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self._trial or self.clock() - self.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a request go to this provider now? (In half-open, only one trial at a time.)"""
        with self._lock:
            if self.opened_at is None:
                return True
            if self._trial or self.clock() - self.opened_at < self.cooldown:
                return False
            self._trial = True
            return True

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self._trial or self.failures >= self.threshold:
                self.opened_at = self.clock()
            self._trial = False

    def release(self) -> None:
        """A trial ended without telling anything about the provider's health (e.g. a 422 on the request)."""
        with self._lock:
            self._trial = False

    def retry_in(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self.clock() - self.opened_at))
