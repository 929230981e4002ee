"""A circuit breaker for the SMS provider: when the provider keeps failing (5xx, 429,
timeouts, no connection), sending pauses instead of spending every queued message's
retries; after the pause one message goes as a probe, and sending resumes when it
succeeds. Time comes from the injected clock, so an outage can be replayed in tests."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from enum import Enum

from app.clock import Clock

logger = logging.getLogger("parley.breaker")


class BreakerState(Enum):
    CLOSED = "closed"  # sending normally
    OPEN = "open"  # paused until `open_until`
    PROBING = "probing"  # one message is out to test the provider


class CircuitBreaker:
    """Per worker process; thread-safe (a batch is sent from several threads)."""

    def __init__(
        self, clock: Clock, *, failures: int, pause: timedelta, max_pause: timedelta
    ) -> None:
        self._clock = clock
        self._threshold = failures
        self._base_pause = pause
        self._max_pause = max(max_pause, pause)
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._pause = pause
        self._open_until: datetime | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    @property
    def open_until(self) -> datetime | None:
        """While paused, when the next probe may go."""
        with self._lock:
            return self._open_until if self._state is not BreakerState.CLOSED else None

    def allowance(self, batch: int) -> int:
        """How many messages may be claimed now: a full batch, one probe, or none."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return batch
            assert self._open_until is not None
            if self._clock.now() < self._open_until:
                return 0  # paused, or the probe's outcome is not in yet
            # Paused long enough, or a probe that never reported (it expired unsent, its
            # thread died) has had its time: one more message goes as the probe.
            self._state = BreakerState.PROBING
            self._open_until = self._clock.now() + self._pause
            logger.info("provider probe")
            return 1

    def is_paused(self) -> bool:
        """Whether a claimed message should go back to the queue unsent."""
        with self._lock:
            return self._state is BreakerState.OPEN

    def release_probe(self) -> None:
        """The probe was claimed but never reached the provider (nothing was due, or it
        was held back): allow another probe at once."""
        with self._lock:
            if self._state is BreakerState.PROBING:
                self._state = BreakerState.OPEN
                self._open_until = self._clock.now()

    def record_success(self) -> None:
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                logger.info("provider answers again: sending resumes")
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._pause = self._base_pause
            self._open_until = None

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock.now()
            if self._state is BreakerState.PROBING:
                self._pause = min(self._pause * 2, self._max_pause)
                self._state = BreakerState.OPEN
                self._open_until = now + self._pause
                logger.warning(
                    "provider still failing: sending stays paused",
                    extra={"pause_seconds": self._pause.total_seconds()},
                )
                return
            self._failures += 1
            if self._state is BreakerState.CLOSED and self._failures >= self._threshold:
                self._state = BreakerState.OPEN
                self._open_until = now + self._pause
                logger.warning(
                    "provider failing: sending paused",
                    extra={
                        "failures": self._failures,
                        "pause_seconds": self._pause.total_seconds(),
                    },
                )
