"""Payment sequences reserved a block at a time (app.payments.service.SequenceBlocks),
on PostgreSQL with real threads and transactions: unique across allocators, never the
creditor's row held by the transaction that issues, a bounded wait for it, and the
inbound worker's groups using them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.creditors.models import Creditor
from app.db import Database
from app.payments.models import PaymentCode
from app.payments.service import SequenceBlocks
from tests.conftest import Tenant
from tests.helpers import import_debt, outbound_bodies, post_sms
from tests.payments.test_races_postgres import WAIT_SECONDS, issue_in


def _counter(db: Database, tenant: Tenant) -> int:
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        return creditor.next_payment_sequence


def test_two_allocators_take_distinct_sequences_a_block_at_a_time(
    postgres_only: None, tenant: Tenant, db: Database
) -> None:
    """Two allocators (as two worker processes) of one creditor: each reserves a block
    of its own, moving the creditor's counter by the block's size; many threads taking
    from both at once never get one sequence twice."""
    one, two = SequenceBlocks(db, size=4), SequenceBlocks(db, size=4)
    assert [one.take(tenant.creditor_id), two.take(tenant.creditor_id)] == [1, 5]
    assert [one.take(tenant.creditor_id), two.take(tenant.creditor_id)] == [2, 6]
    assert _counter(db, tenant) == 9

    def take_many(allocator: SequenceBlocks) -> list[int]:
        return [allocator.take(tenant.creditor_id) for _ in range(40)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = [n for batch in pool.map(take_many, [one, two] * 4) for n in batch]
    assert len(taken) == len(set(taken)) == 320
    assert not {1, 2, 5, 6} & set(taken)
    assert max(taken) < _counter(db, tenant)


def test_issuing_from_blocks_leaves_the_creditors_row_unlocked(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database
) -> None:
    """A transaction that issued a code from blocks and is still open does not hold the
    creditor's row: a code issued the usual way meanwhile (which updates that row) does
    not wait for it, and both sequences are the creditor's own."""
    first = import_debt(client, tenant, external_id="ONE")
    second = import_debt(client, tenant, external_id="TWO", debtor_phone="+14155550124")
    blocks = SequenceBlocks(db)
    issued = threading.Event()

    def usual_way() -> str:
        assert issued.wait(WAIT_SECONDS)
        with db.transaction() as session:
            return issue_in(session, tenant, second)

    with ThreadPoolExecutor(max_workers=1) as pool, db.transaction() as session:
        blocks.use_in(session)
        issue_in(session, tenant, first)
        later = pool.submit(usual_way)
        issued.set()
        # Still inside the first transaction: the second one finishes on its own.
        later.result(timeout=WAIT_SECONDS)
    with db.transaction() as session:
        sequences = dict(session.execute(select(PaymentCode.debt_id, PaymentCode.sequence)).all())
    assert sequences == {first: 1, second: 33}


def test_a_reservation_waits_for_the_creditors_row_no_longer_than_its_lock_timeout(
    postgres_only: None, tenant: Tenant, db: Database
) -> None:
    """While another transaction holds the creditor's row, a reservation fails after its
    lock timeout (the caller's transaction then fails and is retried) and reserves
    nothing; once the row is free it reserves as usual."""
    blocks = SequenceBlocks(db, size=8, lock_timeout="100ms")
    with db.transaction() as session:
        session.scalars(
            select(Creditor).where(Creditor.id == tenant.creditor_id).with_for_update()
        ).one()
        with pytest.raises(OperationalError, match="lock"):
            blocks.take(tenant.creditor_id)
    assert _counter(db, tenant) == 1
    assert blocks.take(tenant.creditor_id) == 1
    assert _counter(db, tenant) == 9


def test_the_inbound_workers_groups_take_sequences_from_blocks(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database
) -> None:
    """PAY from three numbers, handled in one group: three codes with the sequences of
    one block (the creditor's counter moved past the block once, not once a code), each
    in its answer."""
    phones = ["+14155550131", "+14155550132", "+14155550133"]
    for index, phone in enumerate(phones):
        import_debt(client, tenant, external_id=f"INV-{index}", debtor_phone=phone)
    for phone in phones:
        post_sms(client, phone, "PAY")
    processor = client.app.state.inbound_processor  # type: ignore[attr-defined]
    assert processor.process_pending() == 3
    with db.transaction() as session:
        references = dict(
            session.execute(select(PaymentCode.sequence, PaymentCode.reference)).all()
        )
    assert sorted(references) == [1, 2, 3]
    assert _counter(db, tenant) == 33
    answers = [" ".join(outbound_bodies(db, phone)) for phone in phones]
    assert sorted(
        next(sequence for sequence, reference in references.items() if reference in answer)
        for answer in answers
    ) == [1, 2, 3]
