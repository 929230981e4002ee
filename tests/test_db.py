"""The one commit point: work registered during a transaction runs after it commits,
never before and never after a rollback."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database, after_commit, set_on_queued
from app.debts.models import Debt, Debtor
from app.messaging.models import Message
from app.messaging.service import enqueue_message
from tests.conftest import Tenant
from tests.helpers import import_debt


def visible_messages(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count(Message.id))) or 0


def test_after_commit_work_sees_what_the_transaction_wrote(
    db: Database, tenant: Tenant, clock: FixedClock, client: TestClient
) -> None:
    debt_id = import_debt(client, tenant)
    before = visible_messages(db)
    seen: list[int] = []
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        creditor = session.get(Creditor, debt.creditor_id)
        debtor = session.get(Debtor, debt.debtor_id)
        assert creditor is not None and debtor is not None
        # What the web process does: wake the worker once a text is queued.
        set_on_queued(session, lambda: seen.append(visible_messages(db)))
        message = enqueue_message(
            session,
            creditor=creditor,
            debtor=debtor,
            debt=debt,
            body="Hello",
            kind="agent",
            now=clock.now(),
            actor="test",
            initiated=False,
            is_reply=True,  # an answer goes at once, whatever the hour
        )
        assert message.status == "queued"
        assert seen == []  # not before the commit
    assert seen == [before + 1]


def test_after_commit_work_never_runs_after_a_rollback(db: Database) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), db.transaction() as session:
        after_commit(session, lambda: ran.append("ran"))
        raise RuntimeError("the request failed")
    assert ran == []
    with db.transaction() as session:
        pass  # the next transaction on a pooled session starts clean
    assert ran == []


def test_the_same_callback_runs_once_per_transaction(db: Database) -> None:
    ran: list[str] = []

    def wake() -> None:
        ran.append("woken")

    with db.transaction() as session:
        after_commit(session, wake)
        after_commit(session, wake)
    assert ran == ["woken"]
