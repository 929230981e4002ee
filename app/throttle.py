"""A small failure throttle: how many wrong API keys or unknown payment-page tokens one
client address may present before it has to wait.

Each address has a token bucket of `limit` tokens that refills at `limit` per minute; a
failure spends one, and an address with less than one token left is refused (429) until
one has grown back, which is what `Retry-After` says. Successes spend nothing, so a
client that knows its key is never slowed by the throttle of its own address unless it
also keeps failing. State is per process (each `parley serve` worker counts on its own)
and bounded: past `max_clients` addresses the least recently seen are forgotten.

Written here rather than taken from a rate-limit library because it has to read the
app's injected clock (tests move time without sleeping) and count failures only.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

from app.clock import Clock

WINDOW_SECONDS = 60.0
MAX_CLIENTS = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class FailureThrottle:
    """Counts failures per client address; `retry_after` tells whether one must wait."""

    def __init__(self, clock: Clock, limit: int, *, max_clients: int = MAX_CLIENTS) -> None:
        self._clock = clock
        self._limit = limit
        self._rate = limit / WINDOW_SECONDS
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._limit > 0

    def _refilled(self, client: str, now: float) -> _Bucket:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(tokens=float(self._limit), at=now)
            self._buckets[client] = bucket
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        else:
            elapsed = max(now - bucket.at, 0.0)
            bucket.tokens = min(float(self._limit), bucket.tokens + elapsed * self._rate)
            bucket.at = now
            self._buckets.move_to_end(client)
        return bucket

    def retry_after(self, client: str) -> int | None:
        """Seconds `client` must wait before its next attempt, or None when it may go on."""
        if not self.enabled:
            return None
        now = self._clock.now().timestamp()
        with self._lock:
            if client not in self._buckets:
                return None
            bucket = self._refilled(client, now)
            if bucket.tokens >= 1.0:
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / self._rate))

    def record_failure(self, client: str) -> None:
        """One more wrong key or unknown token from `client`."""
        if not self.enabled:
            return
        now = self._clock.now().timestamp()
        with self._lock:
            bucket = self._refilled(client, now)
            bucket.tokens = max(bucket.tokens - 1.0, 0.0)
