"""Per-key request rate limiting (token bucket, in process memory).

The embedded server is one process, so an in-memory bucket is exact there. Behind several
instances each enforces the limit on its own share of the traffic; the concurrent-task limit,
which protects the expensive part, is enforced in the database and stays exact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from vidgate.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._max_keys = max_keys

    def hit(self, key: str, per_minute: int, now: float | None = None) -> None:
        """Spend one token or raise 429 with the seconds until the next one."""
        now = time.monotonic() if now is None else now
        rate = per_minute / 60.0
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= self._max_keys:
                self._buckets.clear()  # bounded memory; a reset only ever lets a burst through
            b = self._buckets[key] = _Bucket(tokens=float(per_minute), stamp=now)
        else:
            b.tokens = min(float(per_minute), b.tokens + (now - b.stamp) * rate)
            b.stamp = now
        if b.tokens < 1.0:
            raise RateLimited(
                f"Rate limit exceeded: {per_minute} requests per minute for this API key",
                retry_after=(1.0 - b.tokens) / rate,
            )
        b.tokens -= 1.0
