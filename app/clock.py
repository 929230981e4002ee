"""Injectable time: services ask a clock, so tests can move time without sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """Something that tells the current time, always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when`."""
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta`."""
        with self._lock:
            self._now += delta


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` `at` in `zone` as UTC. A wall time skipped by DST maps to the first valid
    instant after the gap, so a window never opens early."""
    naive = datetime.combine(day, at)
    candidate = naive.replace(tzinfo=zone)
    roundtrip = candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if roundtrip != naive:
        # Inside a spring-forward gap: fold=1 gives the instant after the gap.
        candidate = naive.replace(tzinfo=zone, fold=1)
        after = candidate.astimezone(UTC)
        return max(after, naive.replace(tzinfo=zone, fold=0).astimezone(UTC))
    return candidate.astimezone(UTC)


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where local `day` starts and ends."""
    return local_instant(day, time(0, 0), zone), local_instant(
        day + timedelta(days=1), time(0, 0), zone
    )
