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

from app.clock import FixedClock
from app.conversations.engine import ConversationEngine
from app.db import Database
from app.messaging.models import Message
from tests.callbacks_support import callbacks, event_kinds, last_body, put_calendar, text
from tests.conftest import Tenant
from tests.helpers import import_debt

pytestmark = pytest.mark.postgres

# Wednesday 11:30 New York: the first slot offered at T0 + a few seconds.
RACED_SLOT = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)
TAKEN_MESSAGE = (
    "Acme Finance: sorry, that time was just taken. "
    "Reply A: Wed 12:00-12:30, B: Wed 12:30-13:00, C: Wed 13:00-13:30"
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
    engine: ConversationEngine,
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
            engine.handle_inbound(
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


def wait_for_lock_wait(db: Database, deadline_seconds: float = 20) -> None:
    """Return once some transaction of this database waits on a row or index lock."""
    deadline = time.monotonic() + deadline_seconds
    with db.engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting: int = connection.execute(
                sql(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            connection.rollback()
            if waiting:
                return
    raise AssertionError("the second booking never waited for the first one's seat")


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
    engine: ConversationEngine = app.state.engine
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
    # The first booking holds the last seat, uncommitted. The second sees the seat free,
    # tries it and must wait on the unique index until the first commits.
    loser = threading.Thread(
        target=choose_in_own_transaction, args=(db, engine, second, now), kwargs={"errors": errors}
    )
    loser.start()
    wait_for_lock_wait(db)
    release_first.set()
    winner.join(timeout=30)
    loser.join(timeout=30)
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
    racers = debtors_with_menus(client, tenant, clock, 6)
    engine: ConversationEngine = app.state.engine
    now = clock.now() + timedelta(seconds=1)
    start = threading.Barrier(len(racers))
    errors: list[BaseException] = []

    def race(phone: str) -> None:
        start.wait(timeout=30)
        choose_in_own_transaction(db, engine, phone, now, errors=errors)

    threads = [threading.Thread(target=race, args=(phone,)) for phone in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []

    at_slot = [c for c in callbacks(db) if c.starts_at == RACED_SLOT]
    assert sorted(c.seat or 0 for c in at_slot) == [1, 2]
    answers = [last_body(db, phone) for phone in racers]
    assert sum(a.startswith("Acme Finance: we will call you on") for a in answers) == 2
    assert answers.count(TAKEN_MESSAGE) == 4
