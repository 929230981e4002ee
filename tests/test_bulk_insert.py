"""app.db.bulk_insert, the one multi-row insert of the import and the webhook's store:
every value type the models use arrives as it went (on PostgreSQL through one JSON
document of rows), and what a column cannot take is refused, not cut or coerced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, select, text
from sqlalchemy.exc import DBAPIError, StatementError

from app.clock import FixedClock
from app.conversations.models import Promise
from app.creditors.service import create_creditor
from app.db import (
    Database,
    bulk_insert,
    bulk_update_where,
    insert_new_in_bulk,
    new_id,
    update_dirty_in_bulk,
)
from app.debts.models import Debt, Debtor, Event
from app.messaging.models import Message, SendPriority
from tests.conftest import T0

EVENTS = cast(Table, Event.__table__)
DEBTORS = cast(Table, Debtor.__table__)
DEBTS = cast(Table, Debt.__table__)
MESSAGES = cast(Table, Message.__table__)


def _creditor(db: Database) -> str:
    with db.transaction() as session:
        return create_creditor(session, FixedClock(T0), "Bulk Creditor").id


def _event(creditor_id: str, data: Any, **values: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "creditor_id": creditor_id,
        "actor": "test",
        "kind": "bulk.test",
        "to_value": values.pop("to_value", None),
        "data": data,
        "created_at": values.pop("created_at", T0),
        **values,
    }


def _debtor(debtor_id: str, creditor_id: str, **values: Any) -> dict[str, Any]:
    return {
        "id": debtor_id,
        "creditor_id": creditor_id,
        "name": "Debtor",
        "phone": "+14155550999",
        "language": "en",
        "timezone": "America/Los_Angeles",
        "contact_status": "active",
        "contact_weekdays_only": False,
        "created_at": T0,
        "updated_at": T0,
        **values,
    }


def test_rows_arrive_as_they_went(db: Database) -> None:
    """Text with quotes, a backslash, a newline and non-ASCII; a JSON object and list;
    an aware timestamp in another zone (stored as the same instant); a date; and the
    ids of the rows inserted returned."""
    creditor_id = _creditor(db)
    odd = 'say "PAY"\\ now\nou já paguei ✓'
    later = datetime(2026, 11, 25, 16, 30, tzinfo=timezone(timedelta(hours=-3)))
    rows = [
        _event(
            creditor_id, {"rule": "v1", "amounts": [1, 2], "nested": {"ok": True}}, to_value=odd
        ),
        _event(creditor_id, ["a", None], created_at=later),
    ]
    with db.transaction() as session:
        ids = bulk_insert(session, EVENTS, rows, returning="id")
        debtor_id = new_id()
        bulk_insert(
            session,
            DEBTORS,
            [
                _debtor(
                    debtor_id,
                    creditor_id,
                    name="Ana",
                    phone="+12125550123",
                    language="pt-BR",
                    timezone="America/New_York",
                    contact_weekdays_only=True,
                )
            ],
        )
        bulk_insert(
            session,
            DEBTS,
            [
                {
                    "id": new_id(),
                    "creditor_id": creditor_id,
                    "debtor_id": debtor_id,
                    "external_id": "INV-1",
                    "amount": 123_456,
                    "balance": 123_456,
                    "currency": "BRL",
                    "status": "open",
                    "needs_review": False,
                    "due_date": date(2026, 12, 15),
                    "created_at": T0,
                    "updated_at": T0,
                }
            ],
        )
    assert sorted(ids) == sorted(row["id"] for row in rows)
    with db.transaction() as session:
        stored = {e.id: e for e in session.scalars(select(Event))}
        debt = session.scalars(select(Debt)).one()
        debtor = session.scalars(select(Debtor)).one()
    first, second = stored[rows[0]["id"]], stored[rows[1]["id"]]
    assert first.to_value == odd
    assert first.data == {"rule": "v1", "amounts": [1, 2], "nested": {"ok": True}}
    assert second.data == ["a", None]
    assert second.created_at == later.astimezone(UTC)
    assert (debt.amount, debt.currency, debt.due_date) == (123_456, "BRL", date(2026, 12, 15))
    assert debt.needs_review is False
    assert (debtor.language, debtor.contact_weekdays_only) == ("pt-BR", True)


def test_a_json_column_left_empty_holds_json_null_as_the_orm_stores_it(db: Database) -> None:
    creditor_id = _creditor(db)
    with db.transaction() as session:
        bulk_insert(session, EVENTS, [_event(creditor_id, None)])
        session.add(
            Event(creditor_id=creditor_id, actor="test", kind="orm.test", data=None, created_at=T0)
        )
    with db.transaction() as session:
        kinds = session.execute(text("SELECT kind, data IS NULL FROM events ORDER BY kind")).all()
    assert [tuple(row) for row in kinds] == [("bulk.test", False), ("orm.test", False)]


def test_conflicting_rows_are_skipped_and_only_new_ids_returned(db: Database) -> None:
    creditor_id = _creditor(db)
    row = _event(creditor_id, {})
    with db.transaction() as session:
        assert bulk_insert(session, EVENTS, [row], returning="id") == [row["id"]]
        again = bulk_insert(
            session, EVENTS, [row, _event(creditor_id, {})], conflict=("id",), returning="id"
        )
    assert len(again) == 1 and again != [row["id"]]


def test_a_naive_timestamp_is_refused(db: Database) -> None:
    creditor_id = _creditor(db)
    with pytest.raises((ValueError, StatementError), match="naive"), db.transaction() as session:
        bulk_insert(session, EVENTS, [_event(creditor_id, {}, created_at=datetime(2026, 11, 25))])


def test_a_value_too_long_for_its_column_is_refused_not_cut(
    postgres_only: None, db: Database
) -> None:
    """(SQLite does not enforce VARCHAR lengths.)"""
    creditor_id = _creditor(db)
    with pytest.raises(DBAPIError), db.transaction() as session:
        bulk_insert(session, EVENTS, [_event(creditor_id, {}, actor="x" * 65)])
    with db.transaction() as session:
        assert session.scalars(select(Event)).all() == []


def test_a_conditional_update_changes_only_the_rows_still_as_expected(db: Database) -> None:
    """bulk_update_where: a row whose `match` column moved on, or whose `only` column
    no longer holds the value, is left as it was and not among the keys returned; a
    `fill` column is written only where it was empty; the others are written."""
    creditor_id = _creditor(db)
    rows = [
        _event(creditor_id, None, kind="sending", actor="a1", from_value=None),
        _event(creditor_id, None, kind="sending", actor="a1", from_value="kept"),
        _event(creditor_id, None, kind="sending", actor="a2", from_value=None),  # moved on
        _event(creditor_id, None, kind="done", actor="a1", from_value=None),  # not sending
        _event(creditor_id, None, kind="sending", actor="a1", from_value=None, to_value="x"),
    ]
    with db.transaction() as session:
        bulk_insert(session, EVENTS, rows)
    later = T0 + timedelta(hours=1)
    changes = [
        {
            "id": row["id"],
            "actor": "a1",
            "kind": "sent",
            "from_value": "filled",
            "to_value": f"new {index}",
            "created_at": later,
        }
        for index, row in enumerate(rows)
    ]
    with db.transaction() as session:
        updated = bulk_update_where(
            session,
            EVENTS,
            changes,
            match=("actor",),
            only={"kind": "sending", "debtor_id": None},
            fill=("from_value",),
        )
    assert updated == {rows[0]["id"], rows[1]["id"], rows[4]["id"]}
    with db.transaction() as session:
        found = {
            event.id: (event.kind, event.from_value, event.to_value, event.created_at)
            for event in session.scalars(select(Event))
        }
    assert found[rows[0]["id"]] == ("sent", "filled", "new 0", later)
    assert found[rows[1]["id"]] == ("sent", "kept", "new 1", later)
    assert found[rows[2]["id"]] == ("sending", None, None, T0)
    assert found[rows[3]["id"]] == ("done", None, None, T0)
    assert found[rows[4]["id"]] == ("sent", "filled", "new 4", later)


def test_a_conditional_update_checks_a_null_column(db: Database) -> None:
    """`only` with None: the row must hold null there (a row whose column is set is left
    alone), also on PostgreSQL, where the check is IS NOT DISTINCT FROM."""
    creditor_id = _creditor(db)
    with db.transaction() as session:
        debtor_id = new_id()
        bulk_insert(session, DEBTORS, [_debtor(debtor_id, creditor_id, name="Null Check")])
    rows = [
        _event(creditor_id, None, kind="k", debtor_id=None),
        _event(creditor_id, None, kind="k", debtor_id=debtor_id),
    ]
    with db.transaction() as session:
        bulk_insert(session, EVENTS, rows)
        updated = bulk_update_where(
            session,
            EVENTS,
            [{"id": row["id"], "kind": "changed"} for row in rows],
            only={"debtor_id": None},
        )
    assert updated == {rows[0]["id"]}
    with db.transaction() as session:
        kinds = {
            event.id: event.kind
            for event in session.scalars(
                select(Event).where(Event.id.in_(updated | {rows[1]["id"]}))
            )
        }
    assert kinds == {rows[0]["id"]: "changed", rows[1]["id"]: "k"}


def _unsent(creditor_id: str, body: str, **values: Any) -> Message:
    """A new outbound message setting only some columns (the rest take defaults)."""
    return Message(
        creditor_id=creditor_id,
        direction="outbound",
        kind="agent",
        body=body,
        to_phone="+14155550998",
        status="queued",
        media_urls=["https://example.com/a.png"],
        created_at=T0,
        updated_at=T0,
        **values,
    )


def test_new_objects_written_in_bulk_hold_what_the_orm_flush_writes(db: Database) -> None:
    """insert_new_in_bulk: the row of a new object that leaves columns to their defaults
    (a callable id, scalar defaults, nulls, a JSON list) is the row the ORM's flush
    writes for its twin; the objects stay in the session, persistent, and a later change
    to one is written by the flush as usual."""
    creditor_id = _creditor(db)
    with db.transaction() as session:
        twin = _unsent(creditor_id, "twin")
        session.add(twin)
        session.flush()
        bulk = [_unsent(creditor_id, "bulk"), _unsent(creditor_id, "bulk 2", initiated=True)]
        other = Event(creditor_id=creditor_id, actor="test", kind="bulk.test", created_at=T0)
        session.add_all([*bulk, other])
        assert insert_new_in_bulk(session, (Message,)) == 2
        assert all(obj in session and obj not in session.new for obj in bulk)
        assert other in session.new  # not one of the models: left to the flush
        bulk[1].status = "canceled"
        ids = [twin.id, bulk[0].id, bulk[1].id]
    assert len(set(ids)) == 3 and all(ids)
    columns = [c.name for c in MESSAGES.columns if c.name not in ("id", "body")]
    with db.transaction() as session:
        found = {
            row.id: row for row in session.execute(select(MESSAGES).where(MESSAGES.c.id.in_(ids)))
        }
        events = session.scalar(
            select(func.count()).select_from(EVENTS).where(Event.kind == "bulk.test")
        )
    assert events == 1
    expected = {name: getattr(found[twin.id], name) for name in columns}
    assert {name: getattr(found[ids[1]], name) for name in columns} == expected
    assert {name: getattr(found[ids[2]], name) for name in columns} == {
        **expected,
        "initiated": True,
        "status": "canceled",
    }
    assert found[ids[1]].media_urls == ["https://example.com/a.png"]
    assert found[ids[1]].priority == int(SendPriority.BULK) and found[ids[1]].segments == 1


def test_a_row_the_flush_writes_may_reference_a_row_written_in_bulk(db: Database) -> None:
    """insert_new_in_bulk writes only its models' new rows; a new row of another model
    that references one of them (a promise naming the text it came from) is written by
    the flush afterwards, its foreign key satisfied (PRAGMA foreign_keys on SQLite);
    and a new row of the models that references a row the flush has not written yet
    is refused, not reordered behind it."""
    creditor_id = _creditor(db)
    debtor_id, debt_id = new_id(), new_id()
    with db.transaction() as session:
        bulk_insert(session, DEBTORS, [_debtor(debtor_id, creditor_id)])
        bulk_insert(
            session,
            DEBTS,
            [
                {
                    "id": debt_id,
                    "creditor_id": creditor_id,
                    "debtor_id": debtor_id,
                    "external_id": "INV-FK",
                    "amount": 5_000,
                    "balance": 5_000,
                    "currency": "USD",
                    "status": "open",
                    "needs_review": False,
                    "due_date": date(2026, 12, 15),
                    "created_at": T0,
                    "updated_at": T0,
                }
            ],
        )
    with db.transaction() as session:
        text_in = _unsent(creditor_id, "I'll pay friday", debtor_id=debtor_id, debt_id=debt_id)
        session.add(text_in)
        assert text_in in session.new
        insert_new_in_bulk(session, (Message,))
        promise = Promise(
            creditor_id=creditor_id,
            debtor_id=debtor_id,
            debt_id=debt_id,
            promised_date=date(2026, 12, 4),
            balance_at_promise=5_000,
            source_message_id=text_in.id,
            created_at=T0,
            updated_at=T0,
        )
        session.add(promise)
    with db.transaction() as session:
        stored = session.scalars(select(Promise)).one()
        assert stored.source_message_id == text_in.id
        assert session.get(Message, text_in.id) is not None

    orphan_debt = new_id()  # a debt added to the session, not yet written
    with pytest.raises((DBAPIError, StatementError)), db.transaction() as session:
        session.add(
            Debt(
                id=orphan_debt,
                creditor_id=creditor_id,
                debtor_id=debtor_id,
                external_id="INV-LATER",
                amount=1_000,
                balance=1_000,
                currency="USD",
                status="open",
                needs_review=False,
                due_date=date(2026, 12, 20),
                created_at=T0,
                updated_at=T0,
            )
        )
        session.add(_unsent(creditor_id, "about the later debt", debt_id=orphan_debt))
        insert_new_in_bulk(session, (Message,))
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(MESSAGES)) == 1


def test_changed_objects_written_in_bulk_hold_what_the_orm_flush_writes(db: Database) -> None:
    """update_dirty_in_bulk: the changed columns of stored objects (a status, a
    timestamp, a JSON column set to None) are written as the ORM's flush writes the
    same change to a twin; an unchanged object is not written; afterwards the objects
    hold no history, and a later change is written by the flush as usual. With a new
    object in the session (a changed row may reference it) it writes nothing and the
    flush writes all."""
    creditor_id = _creditor(db)
    with db.transaction() as session:
        stored = [_unsent(creditor_id, f"text {i}") for i in range(4)]
        session.add_all(stored)
        session.flush()
        twin_id, bulk_id, other_id, same_id = (message.id for message in stored)
    later = T0 + timedelta(hours=1)

    def change(message: Message) -> None:
        message.status = "canceled"
        message.media_urls = None
        message.updated_at = later

    with db.transaction() as session:
        twin = session.get(Message, twin_id)
        assert twin is not None
        change(twin)
    with db.transaction() as session:
        bulk, other, same = (session.get(Message, i) for i in (bulk_id, other_id, same_id))
        assert bulk is not None and other is not None and same is not None
        change(bulk)
        other.status = "failed"
        assert update_dirty_in_bulk(session, (Message,)) == 2
        assert not any(session.is_modified(obj) for obj in (bulk, other, same))
        other.error_message = "later"  # after the bulk write: the flush's
    columns = [c.name for c in MESSAGES.columns if c.name not in ("id", "body")]
    with db.transaction() as session:
        found = {row.id: row for row in session.execute(select(MESSAGES))}
    expected = {name: getattr(found[twin_id], name) for name in columns}
    assert expected["status"] == "canceled" and expected["updated_at"] == later
    assert {name: getattr(found[bulk_id], name) for name in columns} == expected
    assert (found[other_id].status, found[other_id].error_message) == ("failed", "later")
    assert found[same_id].status == "queued" and found[same_id].updated_at == T0

    with db.transaction() as session:
        other = session.get(Message, other_id)
        assert other is not None
        other.status = "sent"
        session.add(_unsent(creditor_id, "new"))
        assert update_dirty_in_bulk(session, (Message,)) == 0
        assert session.is_modified(other)
    with db.transaction() as session:
        assert session.scalar(select(MESSAGES.c.status).where(MESSAGES.c.id == other_id)) == "sent"
        assert session.scalar(select(func.count()).select_from(MESSAGES)) == 5
