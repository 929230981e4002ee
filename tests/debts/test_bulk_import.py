"""The bulk import path: multi-row statements per chunk, with the per-row semantics of
one row at a time (duplicates in one file, re-imports beside new rows in one chunk,
errors among good rows, chunk boundaries, chunk commits and a failure midway)."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, event, func, select
from sqlalchemy.exc import OperationalError

from app.actions.debts import import_debts_csv, on_reimport
from app.clock import FixedClock
from app.consent.models import ConsentEntry
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debt, Debtor, Event
from app.debts.service import CHUNK_SIZE, import_rows
from app.messaging.models import Message
from tests.conftest import T0, Tenant, make_tenant
from tests.helpers import debt_row, import_debt

CSV_HEADER = "external_id,name,phone,language,timezone,amount,currency,due_date,consent\n"


def post(client: TestClient, tenant: Tenant, rows: list[Any]) -> list[dict[str, Any]]:
    response = client.post("/api/v1/debts", json={"items": rows}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def phone(i: int) -> str:
    return f"+1415555{i % 10000:04d}"


def csv_line(i: int, *, amount: int | None = None, name: str | None = None) -> str:
    return f"K-{i},{name or f'Person {i}'},{phone(i)},en,,{amount or 1000 + i},USD,2026-10-01,\n"


def event_kinds(db: Database, debt_id: str) -> Counter[str]:
    with db.transaction() as session:
        return Counter(session.scalars(select(Event.kind).where(Event.debt_id == debt_id)))


def test_an_external_id_twice_in_one_request_is_created_then_updated(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    results = post(
        client,
        tenant,
        [
            debt_row("D-1", amount=1000),
            debt_row("D-2", debtor_phone="+14155550124"),
            debt_row("D-1", amount=2000, debtor_name="Alex M. Morgan"),
            debt_row("D-1", amount=2000, debtor_name="Alex M. Morgan"),
        ],
    )
    assert [r["status"] for r in results] == ["created", "created", "updated", "updated"]
    assert results[0]["id"] == results[2]["id"] == results[3]["id"]
    debt = client.get(f"/api/v1/debts/{results[0]['id']}", headers=tenant.headers).json()
    assert (debt["amount"], debt["balance"]) == (2000, 2000)
    assert debt["debtor"]["name"] == "Alex M. Morgan"
    # The identical fourth row changes nothing and writes no event.
    assert event_kinds(db, results[0]["id"]) == Counter({"debt.created": 1, "debt.updated": 1})
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debt.id))) == 2
        assert session.scalar(select(func.count(Debtor.id))) == 2


def test_a_number_on_several_rows_is_one_debtor_with_the_last_rows_details(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    results = post(
        client,
        tenant,
        [
            debt_row("P-1", debtor_name="First", debtor_consent="web form"),
            debt_row("P-2", debtor_phone="(415) 555-0123", debtor_language="es"),
            debt_row("P-3", debtor_name="Third", debtor_timezone="America/New_York"),
            debt_row("P-4", debtor_name="Fourth", debtor_consent="signed letter"),
        ],
    )
    assert [r["status"] for r in results] == ["created"] * 4
    with db.transaction() as session:
        debtor = session.scalars(select(Debtor)).one()
        assert (debtor.name, debtor.language, debtor.timezone) == (
            "Fourth",
            "es",
            "America/New_York",
        )
        assert debtor.other_timezones is None
        owners = set(session.scalars(select(Debt.debtor_id)))
        assert owners == {debtor.id}
        # The new number once, and each later row that says how consent was obtained.
        words = sorted(
            w or "" for w in session.scalars(select(ConsentEntry.words).order_by(ConsentEntry.id))
        )
        assert words == ["signed letter", "web form"]


def test_reimports_and_new_rows_in_one_chunk_keep_their_cascades(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    kept = import_debt(client, tenant, external_id="R-1", debtor_phone="+12125550101")
    covered = import_debt(
        client, tenant, external_id="R-2", debtor_phone="+12125550102", amount=5000
    )
    moved = import_debt(client, tenant, external_id="R-3", debtor_phone="+12125550103")
    for debt_id in (covered, moved):
        assert (
            client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers).status_code
            == 202
        )
    with db.transaction() as session:
        row = session.get(Debt, covered)
        assert row is not None
        row.balance = 1000  # 4,000 paid
    results = post(
        client,
        tenant,
        [
            debt_row("N-1", debtor_phone="+12125550104"),
            debt_row("R-1", debtor_phone="+12125550101"),  # unchanged
            debt_row("R-2", debtor_phone="+12125550102", amount=4000),  # now covered
            debt_row("bad", debtor_phone="123"),
            debt_row("R-3", debtor_phone="+12125550199"),  # another number
            debt_row("N-2", debtor_phone="+12125550103"),  # the old number's new debt
        ],
    )
    assert [r["status"] for r in results] == [
        "created",
        "updated",
        "updated",
        "error",
        "updated",
        "created",
    ]
    assert results[3]["errors"][0]["field"] == "debtor.phone"
    assert [results[1]["id"], results[2]["id"], results[4]["id"]] == [kept, covered, moved]
    assert event_kinds(db, kept) == Counter({"debt.created": 1})
    settled = client.get(f"/api/v1/debts/{covered}", headers=tenant.headers).json()
    assert (settled["status"], settled["balance"]) == ("settled", 0)
    with db.transaction() as session:
        # Both cascades canceled the statements waiting for the settled and moved debts.
        statuses = set(
            session.scalars(select(Message.status).where(Message.debt_id.in_([covered, moved])))
        )
        assert statuses == {"canceled"}
        moved_row = session.get(Debt, moved)
        assert moved_row is not None
        new_owner = session.get(Debtor, moved_row.debtor_id)
        assert new_owner is not None and new_owner.phone == "+12125550199"
    assert event_kinds(db, covered)["debt.status"] == 1
    assert event_kinds(db, moved)["debt.updated"] == 1


def test_chunk_boundaries_change_nothing(db: Database, clock: FixedClock) -> None:
    """The same rows stored in chunks of 1, 2, 3 and 1,000 give the same outcomes."""
    rows = [
        debt_row("C-1", debtor_phone=phone(1)),
        debt_row("C-2", debtor_phone=phone(1)),
        debt_row("C-1", debtor_phone=phone(2), amount=500),  # moves C-1
        debt_row("C-3", amount=-1),
        debt_row("C-3", debtor_phone=phone(3)),
        debt_row("C-2", debtor_phone=phone(1)),
        debt_row("C-4", debtor_phone=phone(2), debtor_name="Renamed"),
    ]
    seen = []
    for size in (1, 2, 3, 1000):
        tenant = make_tenant(db, clock, f"Chunks of {size}")
        with db.transaction() as session:
            creditor = session.get(Creditor, tenant.creditor_id)
            assert creditor is not None
            outcomes = list(
                import_rows(
                    session,
                    creditor,
                    rows,
                    now=clock.now(),
                    actor="t",
                    on_reimport=on_reimport,
                    chunk_size=size,
                )
            )
        with db.transaction() as session:
            mine = Debt.creditor_id == tenant.creditor_id
            stored = dict(
                session.execute(
                    select(Debt.external_id, Debtor.phone + ":" + func.cast(Debt.amount, String))
                    .join(Debtor, Debtor.id == Debt.debtor_id)
                    .where(mine)
                ).all()
            )
            names = sorted(
                session.scalars(select(Debtor.name).where(Debtor.creditor_id == tenant.creditor_id))
            )
            kinds = Counter(
                session.scalars(select(Event.kind).where(Event.creditor_id == tenant.creditor_id))
            )
        assert len({o.id for o in outcomes if o.id}) == 4
        seen.append(([(o.index, o.external_id, o.status) for o in outcomes], stored, names, kinds))
    assert all(item == seen[0] for item in seen[1:]), seen
    statuses = [status for _, _, status in seen[0][0]]
    assert statuses == ["created", "created", "updated", "error", "created", "updated", "created"]
    assert seen[0][1] == {
        "C-1": f"{phone(2)}:500",
        "C-2": f"{phone(1)}:12360",
        "C-3": f"{phone(3)}:12360",
        "C-4": f"{phone(2)}:12360",
    }
    assert seen[0][2] == ["Alex Morgan", "Alex Morgan", "Renamed"]
    assert seen[0][3]["debt.created"] == 4 and seen[0][3]["debt.updated"] == 1


def test_csv_duplicates_across_a_chunk_boundary(db: Database, tenant: Tenant) -> None:
    lines = [CSV_HEADER, *(csv_line(i) for i in range(CHUNK_SIZE + 50))]
    # The first chunk's last row comes back in the second chunk with a new amount, and
    # a row of the second chunk twice; one row in the middle is refused.
    lines.append(csv_line(CHUNK_SIZE - 1, amount=7))
    lines.append(csv_line(CHUNK_SIZE + 10, amount=8, name="Again"))
    lines[500] = "K-bad,Bad,+14155550000,en,,12.5,USD,2026-10-01,\n"
    with db.transaction() as session:
        summary = import_debts_csv(
            session,
            tenant.creditor_id,
            io.StringIO("".join(lines)),
            now=T0,
            actor="t",
            checkpoint=session.commit,
        )
    assert (summary.total, summary.created, summary.updated, summary.failed) == (
        CHUNK_SIZE + 52,
        CHUNK_SIZE + 49,
        2,
        1,
    )
    assert summary.errors[0]["line"] == 501 and summary.errors[0]["external_id"] == "K-bad"
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debt.id))) == CHUNK_SIZE + 49
        amounts = dict(
            session.execute(
                select(Debt.external_id, Debt.amount).where(
                    Debt.external_id.in_([f"K-{CHUNK_SIZE - 1}", f"K-{CHUNK_SIZE + 10}"])
                )
            ).all()
        )
        assert amounts == {f"K-{CHUNK_SIZE - 1}": 7, f"K-{CHUNK_SIZE + 10}": 8}
        assert session.scalar(select(func.count(Event.id)).where(Event.kind == "debt.created")) == (
            CHUNK_SIZE + 49
        )
        assert session.scalar(select(func.count(Event.id)).where(Event.kind == "debt.updated")) == 2


class Outage(OperationalError):
    def __init__(self) -> None:
        super().__init__("INSERT", {}, Exception("the database went away"))


def test_a_failure_midway_keeps_whole_chunks_and_a_rerun_completes(
    db: Database, tenant: Tenant
) -> None:
    """With chunk commits (CLI, API upload), a failure in chunk 2 leaves chunk 1 whole
    and nothing of chunk 2: not its debtors, consent notes or events. Running the same
    file again stores the rest, nothing twice."""
    body = CSV_HEADER + "".join(csv_line(i) for i in range(2 * CHUNK_SIZE + 10))
    debt_inserts = 0

    def fail_second_chunk(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal debt_inserts
        if statement.lstrip().upper().replace('"', "").startswith("INSERT INTO DEBTS "):
            debt_inserts += 1
            if debt_inserts == 2:  # after chunk 2's debtors and consent notes went in
                raise Outage()

    event.listen(db.engine, "before_cursor_execute", fail_second_chunk)
    try:
        with pytest.raises(OperationalError), db.transaction() as session:
            import_debts_csv(
                session,
                tenant.creditor_id,
                io.StringIO(body),
                now=T0,
                actor="t",
                checkpoint=session.commit,
            )
    finally:
        event.remove(db.engine, "before_cursor_execute", fail_second_chunk)
    assert debt_inserts == 2
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debt.id))) == CHUNK_SIZE
        assert session.scalar(select(func.count(Debtor.id))) == CHUNK_SIZE
        assert session.scalar(select(func.count(ConsentEntry.id))) == CHUNK_SIZE
        assert session.scalar(select(func.count(Event.id))) == CHUNK_SIZE
    with db.transaction() as session:
        summary = import_debts_csv(
            session,
            tenant.creditor_id,
            io.StringIO(body),
            now=T0,
            actor="t",
            checkpoint=session.commit,
        )
    assert (summary.created, summary.updated, summary.failed) == (CHUNK_SIZE + 10, CHUNK_SIZE, 0)
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debt.id))) == 2 * CHUNK_SIZE + 10
        assert session.scalar(select(func.count(Debtor.id))) == 2 * CHUNK_SIZE + 10
        assert session.scalar(select(func.count(Event.id))) == 2 * CHUNK_SIZE + 10


def test_without_chunk_commits_a_failure_stores_nothing(db: Database, tenant: Tenant) -> None:
    """The console's upload and the JSON API: one transaction, all or nothing."""
    body = CSV_HEADER + "".join(csv_line(i) for i in range(CHUNK_SIZE + 10))
    calls = 0

    def fail_late(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal calls
        if statement.lstrip().upper().replace('"', "").startswith("INSERT INTO EVENTS "):
            calls += 1
            if calls == 2:
                raise Outage()

    event.listen(db.engine, "before_cursor_execute", fail_late)
    try:
        with pytest.raises(OperationalError), db.transaction() as session:
            import_debts_csv(session, tenant.creditor_id, io.StringIO(body), now=T0, actor="t")
    finally:
        event.remove(db.engine, "before_cursor_execute", fail_late)
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debt.id))) == 0
        assert session.scalar(select(func.count(Debtor.id))) == 0
        assert session.scalar(select(func.count(ConsentEntry.id))) == 0


def test_tenants_never_share_debtors_or_debts(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    other = make_tenant(db, clock, "Other Co")
    mine = post(client, tenant, [debt_row("T-1"), debt_row("T-2")])
    theirs = post(client, other, [debt_row("T-1", amount=999), debt_row("T-2")])
    assert [r["status"] for r in theirs] == ["created", "created"]
    assert {r["id"] for r in mine}.isdisjoint({r["id"] for r in theirs})
    with db.transaction() as session:
        assert session.scalar(select(func.count(Debtor.id))) == 2
        amounts = sorted(session.scalars(select(Debt.amount).where(Debt.external_id == "T-1")))
        assert amounts == [999, 12360]


@pytest.mark.usefixtures("postgres_only")
def test_rows_another_import_stored_meanwhile_become_reimports(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    """Between the chunk's look-ups and its INSERTs another transaction commits the same
    number and the same external_id: ON CONFLICT DO NOTHING skips them, and the rows
    update what the other import stored instead of failing or duplicating."""
    other = Database(db.url)
    raced: dict[str, str] = {}

    def commit_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if raced or not statement.lstrip().upper().replace('"', "").startswith(
            "INSERT INTO DEBTORS "
        ):
            return
        with other.transaction() as session:
            creditor = session.get(Creditor, tenant.creditor_id)
            assert creditor is not None
            outcomes = list(
                import_rows(
                    session,
                    creditor,
                    [debt_row("X-1", debtor_phone=phone(1), amount=111, debtor_name="Theirs")],
                    now=clock.now(),
                    actor="other",
                    on_reimport=on_reimport,
                )
            )
            raced["X-1"] = outcomes[0].id or ""

    event.listen(db.engine, "before_cursor_execute", commit_first)
    try:
        with db.transaction() as session:
            creditor = session.get(Creditor, tenant.creditor_id)
            assert creditor is not None
            outcomes = list(
                import_rows(
                    session,
                    creditor,
                    [
                        debt_row("X-1", debtor_phone=phone(1), amount=222, debtor_name="Ours"),
                        debt_row("X-2", debtor_phone=phone(1)),
                    ],
                    now=clock.now(),
                    actor="t",
                    on_reimport=on_reimport,
                )
            )
    finally:
        event.remove(db.engine, "before_cursor_execute", commit_first)
        other.dispose()
    assert [(o.external_id, o.status) for o in outcomes] == [("X-1", "updated"), ("X-2", "created")]
    assert outcomes[0].id == raced["X-1"]
    with db.transaction() as session:
        debtor = session.scalars(select(Debtor)).one()
        assert debtor.name == "Alex Morgan"  # the last row naming the number
        debts = dict(session.execute(select(Debt.external_id, Debt.amount)).all())
        assert debts == {"X-1": 222, "X-2": 12360}
        assert set(session.scalars(select(Debt.debtor_id))) == {debtor.id}
    assert event_kinds(db, raced["X-1"]) == Counter({"debt.created": 1, "debt.updated": 1})
