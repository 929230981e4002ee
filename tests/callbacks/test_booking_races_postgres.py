"""No slot is ever overbooked, even when debtors race for its last seat in separate
transactions (PostgreSQL: set PARLEY_TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy import text as sql

from app.actions.inbound import InboundHandler
from app.callbacks import service
from app.callbacks.slots import Slot
from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debtor
from app.messaging.models import Message
from tests.callbacks_support import callbacks, event_kinds, last_body, put_calendar, text
from tests.conftest import Tenant
from tests.helpers import import_debt

pytestmark = pytest.mark.postgres

# Wednesday 11:30 New York: the first slot offered at T0 + a few seconds.
RACED_SLOT = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
TAKEN_MESSAGE = (
    "Acme Finance: sorry, that time was just taken. "
    "Reply A: Wed 12:00-12:30 PM, B: Wed 12:30-1:00 PM, C: Wed 1:00-1:30 PM"
)


def phones(count: int) -> list[str]:
    return [f"+1212555{index:04d}" for index in range(101, 101 + count)]


def debtors_with_menus(
    client: TestClient, tenant: Tenant, clock: FixedClock, count: int
) -> list[str]:
    """`count` New York debtors who each asked for a call and hold the same menu."""
    numbers = phones(count)
    for index, phone in enumerate(numbers):
        import_debt(
            client,
            tenant,
            external_id=f"INV-{index}",
            debtor_phone=phone,
            debtor_timezone="America/New_York",
        )
    for phone in numbers:
        text(client, clock, phone, "CALL")
    return numbers


def choose_in_own_transaction(
    db: Database,
    engine: InboundHandler,
    phone: str,
    now: datetime,
    *,
    before_commit: threading.Event | None = None,
    booked: threading.Event | None = None,
    errors: list[BaseException],
) -> None:
    """The debtor's "A" handled as the webhook does, in its own transaction."""
    try:
        with db.transaction() as session:
            engine.handle(
                session,
                provider_sid=f"SMrace{phone[-4:]}",
                from_phone=phone,
                to_phone="+15005550006",
                body="A",
                now=now,
            )
            if booked is not None:
                booked.set()
            if before_commit is not None:
                assert before_commit.wait(timeout=30)
    except BaseException as error:  # reported by the main thread
        errors.append(error)


def wait_for_lock_wait(db: Database, waiting: int = 1, deadline_seconds: float = 20) -> None:
    """Return once `waiting` transactions of this database wait on a lock (here: the
    calendar row the first, uncommitted booking holds)."""
    deadline = time.monotonic() + deadline_seconds
    seen = 0
    with db.engine.connect() as connection:
        while time.monotonic() < deadline:
            seen = connection.execute(
                sql(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            connection.rollback()
            if seen >= waiting:
                return
    raise AssertionError(f"only {seen} of {waiting} bookings ever waited for the first one's seat")


def join(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), f"{thread.name} is still running"


def test_two_debtors_racing_for_the_last_seat_one_wins_one_gets_a_fresh_menu(
    postgres_only: None,
    client: TestClient,
    tenant: Tenant,
    clock: FixedClock,
    db: Database,
    app: Any,
) -> None:
    put_calendar(client, tenant, capacity=2)
    early, first, second = debtors_with_menus(client, tenant, clock, 3)
    text(client, clock, early, "A")  # seat 1 of Wednesday 11:30; one seat is left
    engine: InboundHandler = app.state.inbound
    now = clock.now() + timedelta(seconds=1)
    errors: list[BaseException] = []
    first_booked, release_first = threading.Event(), threading.Event()

    winner = threading.Thread(
        target=choose_in_own_transaction,
        args=(db, engine, first, now),
        kwargs={"before_commit": release_first, "booked": first_booked, "errors": errors},
    )
    winner.start()
    assert first_booked.wait(timeout=30), errors
    # The first booking holds the last seat, uncommitted, and the calendar's lock. The
    # second must wait for it, then counts the seats again and finds the slot full.
    loser = threading.Thread(
        target=choose_in_own_transaction, args=(db, engine, second, now), kwargs={"errors": errors}
    )
    loser.start()
    wait_for_lock_wait(db)
    release_first.set()
    winner.join(timeout=30)
    assert not winner.is_alive()
    loser.join(timeout=30)
    assert not loser.is_alive()
    assert errors == []

    at_slot = [c for c in callbacks(db) if c.starts_at == RACED_SLOT]
    assert sorted(c.seat for c in at_slot if c.seat is not None) == [1, 2]
    assert last_body(db, first).startswith("Acme Finance: we will call you on Wed 25 Nov 11:30")
    assert last_body(db, second) == TAKEN_MESSAGE
    assert "callback.slot_full" in event_kinds(db)
    # The loser's transaction survived the conflict: its inbound text and answer are kept.
    with db.transaction() as session:
        kept = session.scalar(select(func.count(Message.id)).where(Message.to_phone == second))
        assert kept == 2


def test_many_debtors_at_once_never_overbook(
    postgres_only: None,
    client: TestClient,
    tenant: Tenant,
    clock: FixedClock,
    db: Database,
    app: Any,
) -> None:
    put_calendar(client, tenant, capacity=2)
    first, *others = debtors_with_menus(client, tenant, clock, 6)
    engine: InboundHandler = app.state.inbound
    now = clock.now() + timedelta(seconds=1)
    errors: list[BaseException] = []
    first_booked, release_first = threading.Event(), threading.Event()
    holder = threading.Thread(
        target=choose_in_own_transaction,
        args=(db, engine, first, now),
        kwargs={"before_commit": release_first, "booked": first_booked, "errors": errors},
    )
    holder.start()
    assert first_booked.wait(timeout=30), errors
    start = threading.Barrier(len(others))

    def race(phone: str) -> None:
        start.wait(timeout=30)
        choose_in_own_transaction(db, engine, phone, now, errors=errors)

    threads = [threading.Thread(target=race, args=(phone,)) for phone in others]
    for thread in threads:
        thread.start()
    # Every other booking is under way at the same time, each waiting behind the first.
    wait_for_lock_wait(db, waiting=len(others))
    release_first.set()
    holder.join(timeout=60)
    assert not holder.is_alive()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert errors == []

    at_slot = [c for c in callbacks(db) if c.starts_at == RACED_SLOT]
    assert sorted(c.seat or 0 for c in at_slot) == [1, 2]
    answers = [last_body(db, phone) for phone in (first, *others)]
    assert answers[0].startswith("Acme Finance: we will call you on")
    assert sum(a.startswith("Acme Finance: we will call you on") for a in answers) == 2
    assert answers.count(TAKEN_MESSAGE) == 4


def book_in_own_transaction(
    db: Database,
    phone: str,
    slot: Slot,
    now: datetime,
    results: dict[str, str | None],
    errors: list[BaseException],
    *,
    booked: threading.Event | None = None,
    before_commit: threading.Event | None = None,
) -> None:
    """service.book_callback for the debtor with `phone`, in its own transaction."""
    try:
        with db.transaction() as session:
            debtor = session.scalars(select(Debtor).where(Debtor.phone == phone)).one()
            creditor = session.get(Creditor, debtor.creditor_id)
            calendar = service.get_calendar(session, debtor.creditor_id)
            assert creditor is not None and calendar is not None
            callback = service.book_callback(
                session,
                calendar=calendar,
                creditor=creditor,
                debtor=debtor,
                debt=None,
                slot=slot,
                now=now,
                actor="debtor",
            )
            results[phone] = callback.id if callback else None
            if booked is not None:
                booked.set()
            if before_commit is not None:
                assert before_commit.wait(timeout=30)
    except BaseException as error:  # reported by the main thread
        errors.append(error)


def test_overlapping_bookings_at_different_starts_have_one_winner(
    postgres_only: None,
    client: TestClient,
    tenant: Tenant,
    clock: FixedClock,
    db: Database,
) -> None:
    """After a change of slot length, 13:00-14:00 and 13:30-14:00 start at different
    times, so the unique seat index cannot tell they share the one agent: the calendar
    lock makes the second booking wait and count the first."""
    put_calendar(client, tenant, capacity=1)
    first, second = debtors_with_menus(client, tenant, clock, 2)
    now = clock.now()
    hour = Slot(
        datetime(2026, 11, 25, 18, 0, tzinfo=UTC), datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
    )
    half = Slot(datetime(2026, 11, 25, 18, 30, tzinfo=UTC), hour.ends_at)
    results: dict[str, str | None] = {}
    errors: list[BaseException] = []
    first_booked, release_first = threading.Event(), threading.Event()
    winner = threading.Thread(
        target=book_in_own_transaction,
        args=(db, first, hour, now, results, errors),
        kwargs={"booked": first_booked, "before_commit": release_first},
    )
    winner.start()
    assert first_booked.wait(timeout=30), errors
    loser = threading.Thread(
        target=book_in_own_transaction, args=(db, second, half, now, results, errors)
    )
    loser.start()
    wait_for_lock_wait(db)
    release_first.set()
    join(winner, loser)
    assert errors == []

    assert results[first] is not None and results[second] is None
    [held] = [c for c in callbacks(db) if c.seat is not None]
    assert (held.id, held.starts_at, held.ends_at) == (results[first], hour.starts_at, hour.ends_at)
