"""Injectable time: services ask a clock, so tests can move time without sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
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


class FileClock:
    """A clock read from a file holding one ISO-8601 instant: lets a test move the time
    of real `parley serve` / `parley worker` processes (PARLEY_CLOCK_FILE; refused in
    production). Writers replace the file atomically (write, then rename)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.now()  # fail at start-up, not mid-send, if the file is missing or malformed

    def now(self) -> datetime:
        value = datetime.fromisoformat(self.path.read_text(encoding="utf-8").strip())
        if value.tzinfo is None:
            raise ValueError(f"{self.path}: the clock file needs an aware instant")
        return value.astimezone(UTC)

    @staticmethod
    def write(path: str | Path, when: datetime) -> None:
        """Set the time every process reading `path` sees."""
        target = Path(path)
        scratch = target.with_name(target.name + ".tmp")
        scratch.write_text(when.astimezone(UTC).isoformat(), encoding="utf-8")
        scratch.replace(target)


def clock_for(clock_file: str | None) -> Clock:
    """The system clock, or a FileClock when PARLEY_CLOCK_FILE is set."""
    return FileClock(clock_file) if clock_file else SystemClock()


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
