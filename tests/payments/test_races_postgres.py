"""Concurrency on PostgreSQL: the same payment_id delivered twice at once is applied
exactly once; two payments of one debt both apply, one after the other (the debt row
lock), without a deadlock; PAY replies at once share a code and sequences never repeat;
a PAY racing a payment asks for what is left; the periodic job never un-pays a code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.actions.codes import issue_current_code
from app.actions.payments import receive_payment
from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debt
from app.offers.service import pay_terms
from app.payments.models import PaymentCode
from app.payments.service import (
    PaymentOutcome,
    PaymentReport,
    issue_code,
    reconcile_codes,
)
from tests.conftest import T0, Tenant
from tests.helpers import import_debt
from tests.payments_support import (
    US_PHONE,
    codes,
    get_code,
    get_debt_row,
    issue_now,
    outbound,
    payments,
)

WAIT_SECONDS = 20.0
Result = TypeVar("Result")


def report(reference: str, amount: int, payment_id: str) -> PaymentReport:
    raw = {"payment_id": payment_id, "reference": reference, "amount": amount}
    return PaymentReport(
        payment_id=payment_id,
        reference=reference,
        amount=amount,
        currency="USD",
        paid_at=datetime(2026, 11, 25, 14, 0, tzinfo=UTC),
        raw=raw,
    )


def wait_for_a_lock_wait(db: Database) -> None:
    """Return once another backend is blocked on a lock (the second delivery waiting
    for the first one's transaction). Polls the server, bounded by WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    with db.engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting: int = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            connection.rollback()
            if waiting:
                return
    raise AssertionError("the second delivery never blocked on the first one")


def overlapping(
    db: Database, first: Callable[[Session], Result], second: Callable[[Session], Result]
) -> tuple[Result, Result]:
    """Run `first` in a transaction that stays open until `second` (in its own thread and
    transaction) is blocked behind it, then commit `first` and let `second` finish."""
    processed = threading.Event()

    def run_first() -> Result:
        with db.transaction() as session:
            outcome = first(session)
            processed.set()
            wait_for_a_lock_wait(db)
            return outcome

    def run_second() -> Result:
        assert processed.wait(WAIT_SECONDS)
        with db.transaction() as session:
            return second(session)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures: list[Future[Result]] = [pool.submit(job) for job in (run_first, run_second)]
        a, b = (f.result(timeout=WAIT_SECONDS * 2) for f in futures)
    return a, b


def deliver_overlapping(
    db: Database, first: PaymentReport, second: PaymentReport
) -> tuple[PaymentOutcome, PaymentOutcome]:
    """Two deliveries, the second arriving while the first is still uncommitted."""
    return overlapping(
        db,
        lambda session: receive_payment(session, first, now=T0),
        lambda session: receive_payment(session, second, now=T0),
    )


def test_the_same_payment_delivered_twice_at_once_applies_once(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    payment = report(code.reference, 2360, "pay_concurrent")

    first, second = deliver_overlapping(db, payment, payment)

    assert (first.replay, first.payment.status) == (False, "applied")
    assert (second.replay, second.payment.status) == (True, "applied")
    assert second.payment.applied_amount == 2360
    assert len(payments(db)) == 1
    assert get_debt_row(db, debt_id).balance == 10000
    assert len(outbound(db, US_PHONE, kind="payment_thanks")) == 1


def test_two_payments_of_one_debt_at_once_both_apply(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    first, second = deliver_overlapping(
        db, report(code.reference, 6000, "pay_a"), report(code.reference, 6360, "pay_b")
    )

    assert not first.replay and not second.replay
    assert first.payment.applied_amount + second.payment.applied_amount == 12360
    debt = get_debt_row(db, debt_id)
    assert (debt.balance, debt.status) == (0, "settled")
    assert len(payments(db)) == 2


def test_many_threads_posting_the_same_payment_through_the_api_apply_it_once(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    from tests.payments_support import payment_body, post_payment

    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    body = payment_body(code.reference, 12360, payment_id="pay_storm")
    start = threading.Barrier(6)

    def deliver() -> tuple[int, bool]:
        start.wait(WAIT_SECONDS)
        response = post_payment(client, body)
        return response.status_code, bool(response.json()["replay"])

    call: Callable[[], tuple[int, bool]] = deliver
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = [
            f.result(timeout=WAIT_SECONDS * 2) for f in [pool.submit(call) for _ in range(6)]
        ]

    assert all(status == 200 for status, _ in results)
    assert sorted(replay for _, replay in results) == [False] + [True] * 5
    assert len(payments(db)) == 1
    assert get_debt_row(db, debt_id).status == "settled"
    assert len(outbound(db, US_PHONE, kind="payment_thanks")) == 1


def issue_in(session: Session, tenant: Tenant, debt_id: str) -> str:
    creditor = session.get(Creditor, tenant.creditor_id)
    debt = session.get(Debt, debt_id)
    assert creditor is not None and debt is not None
    terms = pay_terms(session, debt, T0)
    assert terms is not None
    return issue_code(session, creditor, debt, terms, T0).reference


def test_two_pay_replies_at_once_share_one_code(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database
) -> None:
    debt_id = import_debt(client, tenant)

    first, second = overlapping(
        db, lambda s: issue_in(s, tenant, debt_id), lambda s: issue_in(s, tenant, debt_id)
    )
    assert first == second
    assert len(codes(db, debt_id)) == 1


def test_codes_issued_at_once_for_two_debts_get_distinct_sequences(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database
) -> None:
    one = import_debt(client, tenant, external_id="ONE")
    two = import_debt(client, tenant, external_id="TWO", debtor_phone="+14155550124")

    first, second = overlapping(
        db, lambda s: issue_in(s, tenant, one), lambda s: issue_in(s, tenant, two)
    )
    assert first != second
    with db.transaction() as session:
        sequences = sorted(session.scalars(select(PaymentCode.sequence)))
        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        assert sequences == [1, 2] and creditor.next_payment_sequence == 3


def test_pay_racing_a_payment_asks_for_what_is_left(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)

    def pay(session: Session) -> int:
        return receive_payment(
            session, report(code.reference, 2360, "pay_race"), now=T0
        ).payment.applied_amount

    def answer_pay(session: Session) -> int:
        creditor = session.get(Creditor, tenant.creditor_id)
        debt = session.get(Debt, debt_id)
        assert creditor is not None and debt is not None
        # Read while the payment is not yet committed.
        assert debt.balance == 12360
        issued = issue_current_code(session, creditor, debt, T0)
        assert issued is not None
        return issued.amount

    applied, asked = overlapping(db, pay, answer_pay)

    assert (applied, asked) == (2360, 10000)
    assert get_debt_row(db, debt_id).balance == 10000
    assert [(c.amount, c.status) for c in codes(db, debt_id)] == [
        (12360, "superseded"),
        (10000, "active"),
    ]


def test_the_periodic_job_does_not_expire_a_code_paid_meanwhile(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    debt_id = import_debt(client, tenant)
    code = issue_now(db, clock, tenant, debt_id)
    later = T0 + timedelta(days=10)  # past the code's expiry

    def pay(session: Session) -> int:
        outcome = receive_payment(session, report(code.reference, 12360, "pay_late"), now=later)
        session.flush()
        return outcome.payment.applied_amount

    def reconcile(session: Session) -> int:
        return reconcile_codes(session, later)

    applied, changed = overlapping(db, pay, reconcile)

    assert (applied, changed) == (12360, 0)
    assert get_code(db, code.id).status == "paid"
    assert get_debt_row(db, debt_id).status == "settled"
