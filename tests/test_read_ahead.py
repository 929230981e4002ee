"""Look-ups read ahead for a group of texts (app.read_ahead): answered from memory, and
never once this session has written what they were read from."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from app.clock import FixedClock
from app.consent.models import Suppression
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debt, Debtor
from app.messaging.service import active_suppression, read_ahead_suppressions
from app.offers.service import pay_terms
from app.payments.service import LIVE_CODE_STATUSES, debt_codes, issue_code, read_ahead_codes
from app.read_ahead import MISSING, recall, remember, wrote
from tests.conftest import Tenant
from tests.helpers import import_debt

NY = "+12125550123"


def _debtor(session: Session) -> Debtor:
    return session.scalars(select(Debtor).where(Debtor.phone == NY)).one()


def _suppression(debtor: Debtor, clock: FixedClock) -> Suppression:
    return Suppression(
        creditor_id=debtor.creditor_id,
        debtor_id=debtor.id,
        reason="bankruptcy",
        evidence_note="test",
        starts_at=clock.now(),
        created_by="test",
        created_at=clock.now(),
    )


def _counting(db: Database) -> tuple[list[str], object]:
    seen: list[str] = []

    def executed(_c: object, _cur: object, statement: str, *_a: object) -> None:
        if "FROM suppressions" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", executed)
    return seen, executed


def test_an_answer_read_ahead_is_given_without_a_query(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    import_debt(client, tenant, debtor_phone=NY)
    seen, listener = _counting(db)
    try:
        with db.transaction() as session:
            debtor = _debtor(session)
            read_ahead_suppressions(session, [debtor.id], clock.now())
            assert len(seen) == 1
            assert active_suppression(session, debtor.id, clock.now()) is None
            assert active_suppression(session, debtor.id, clock.now()) is None
            assert len(seen) == 1
            # Read for another moment: queried.
            later = clock.now().replace(year=2030)
            assert active_suppression(session, debtor.id, later) is None
            assert len(seen) == 2
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def test_a_write_of_this_session_makes_the_look_up_query_again(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    """Pending, flushed, or by an UPDATE statement: each is seen."""
    import_debt(client, tenant, debtor_phone=NY)
    with db.transaction() as session:
        debtor = _debtor(session)
        now = clock.now()
        read_ahead_suppressions(session, [debtor.id], now)
        session.add(_suppression(debtor, clock))  # not flushed yet
        assert active_suppression(session, debtor.id, now) == "bankruptcy"

        read_ahead_suppressions(session, [debtor.id], now)
        assert active_suppression(session, debtor.id, now) == "bankruptcy"
        session.execute(update(Suppression).values(lifted_at=now))
        assert active_suppression(session, debtor.id, now) is None

        read_ahead_suppressions(session, [debtor.id], now)
        session.add(_suppression(debtor, clock))
        session.flush()
        assert active_suppression(session, debtor.id, now) == "bankruptcy"


def test_answers_last_only_for_their_transaction(db: Database) -> None:
    with db.transaction() as session:
        remember(session, "debts", "id", {"x": "answer"})
        assert recall(session, "debts", "x") == "answer"
        assert recall(session, "debts", "y") is MISSING
        assert recall(session, "plans", "x") is MISSING
    with db.transaction() as session:
        assert recall(session, "debts", "x") is MISSING


def test_a_write_on_the_sessions_connection_drops_what_it_names(db: Database) -> None:
    """wrote(): a write the session does not see (run on its connection) drops the
    answers of the key it names, or of every key of the table."""
    with db.transaction() as session:
        remember(session, "debts", "id", {"x": "answer", "y": "other"})
        wrote(session, "debts", "x")
        assert recall(session, "debts", "x") is MISSING
        assert recall(session, "debts", "y") == "other"
        wrote(session, "plans")  # nothing remembered there: nothing happens
        wrote(session, "debts")
        assert recall(session, "debts", "y") is MISSING


def test_a_code_issued_is_seen_by_the_debts_codes_read_ahead(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    """A payment code is inserted on the session's connection: the debt's live codes
    read ahead before it are read again, and hold it."""
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    with db.transaction() as session:
        read_ahead_codes(session, [debt_id])
        assert debt_codes(session, debt_id, LIVE_CODE_STATUSES) == []
        creditor = session.get(Creditor, tenant.creditor_id)
        debt = session.get(Debt, debt_id)
        assert creditor is not None and debt is not None
        terms = pay_terms(session, debt, clock.now())
        assert terms is not None
        code = issue_code(session, creditor, debt, terms, clock.now())
        assert [c.id for c in debt_codes(session, debt_id, LIVE_CODE_STATUSES)] == [code.id]


def test_a_changed_or_deleted_object_not_yet_flushed_makes_the_look_up_query_again(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    """A stored row changed, or deleted, in this session and not flushed yet: its answer
    read ahead is not given (the look-up queries, and sees the change)."""
    import_debt(client, tenant, debtor_phone=NY)
    with db.transaction() as session:
        session.add(_suppression(_debtor(session), clock))
    now = clock.now()
    with db.transaction() as session:
        debtor = _debtor(session)
        read_ahead_suppressions(session, [debtor.id], now)
        assert active_suppression(session, debtor.id, now) == "bankruptcy"
        stored = session.scalars(select(Suppression)).one()
        stored.reason = "deceased"  # changed, not flushed
        assert active_suppression(session, debtor.id, now) == "deceased"

        read_ahead_suppressions(session, [debtor.id], now)
        assert active_suppression(session, debtor.id, now) == "deceased"
        session.delete(stored)  # deleted, not flushed
        assert active_suppression(session, debtor.id, now) is None
