"""Injectable time: services ask a clock, so tests can move time without sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


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
