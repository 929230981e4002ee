"""The provider circuit breaker on an injected clock: opens after repeated failures,
probes with one message after the pause, doubles the pause while the provider stays
down, closes on the first success."""

from __future__ import annotations

from datetime import timedelta

from app.clock import FixedClock
from app.messaging.breaker import BreakerState, CircuitBreaker
from tests.conftest import T0


def test_breaker_pauses_probes_and_resumes() -> None:
    clock = FixedClock(T0)
    breaker = CircuitBreaker(
        clock, failures=3, pause=timedelta(seconds=10), max_pause=timedelta(seconds=40)
    )
    assert breaker.allowance(50) == 50
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.is_paused()
    assert breaker.allowance(50) == 0
    clock.advance(timedelta(seconds=10))
    assert breaker.allowance(50) == 1  # one probe
    assert breaker.allowance(50) == 0  # and only one
    breaker.record_failure()  # still down: the pause doubles
    assert breaker.open_until == T0 + timedelta(seconds=30)
    clock.advance(timedelta(seconds=20))
    assert breaker.allowance(50) == 1
    breaker.record_failure()
    clock.advance(timedelta(seconds=40))
    assert breaker.allowance(50) == 1
    breaker.record_failure()  # capped at max_pause
    assert breaker.open_until == clock.now() + timedelta(seconds=40)
    clock.advance(timedelta(seconds=40))
    assert breaker.allowance(50) == 1
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allowance(50) == 50


def test_a_probe_that_never_reports_does_not_stop_sending_for_good() -> None:
    clock = FixedClock(T0)
    breaker = CircuitBreaker(
        clock, failures=1, pause=timedelta(seconds=10), max_pause=timedelta(seconds=60)
    )
    breaker.record_failure()
    clock.advance(timedelta(seconds=10))
    assert breaker.allowance(50) == 1
    clock.advance(timedelta(seconds=10))  # its outcome never came
    assert breaker.allowance(50) == 1
    breaker.release_probe()  # nothing was due: another probe may go at once
    assert breaker.allowance(50) == 1
