"""A worker process killed with SIGKILL while it handles inbound texts: nothing is lost
or handled twice (real `parley serve` and `parley worker` processes on PostgreSQL, the
real twilio client, a local Twilio-compatible server, a file clock the test moves)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.conversations.models import InboundText
from app.db import Database
from app.messaging.models import Message
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.fake_twilio import FakeTwilio, Fault, RecordedRequest
from tests.processes import FileTestClock, Parley, running, wait_until

# 10:00 in Los Angeles (the debtors' +1 415 numbers): inside the contact window.
START = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
SETTLED = ("submitted", "sent", "delivered")
NUMBERS = 12
TEXTS_EACH = 10


@pytest.fixture
def file_clock(tmp_path: Path) -> FileTestClock:
    return FileTestClock(tmp_path / "clock", START)


@pytest.fixture
def fake(file_clock: FileTestClock) -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, now=file_clock.now) as f:
        yield f


@pytest.fixture
def parley(
    postgres_only: None,
    db: Database,
    database_url: str,
    fake: FakeTwilio,
    file_clock: FileTestClock,
    tmp_path: Path,
) -> Iterator[Parley]:
    with running(database_url, fake, file_clock, tmp_path, worker_lease_seconds=15) as processes:
        yield processes


def handled(db: Database) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(select(func.count(InboundText.id)).where(InboundText.state != "pending"))
            or 0
        )


def test_a_worker_killed_while_handling_inbound_texts_loses_and_doubles_nothing(
    parley: Parley, fake: FakeTwilio, db: Database, file_clock: FileTestClock
) -> None:
    # While the first worker runs, the provider is down (503): the answers wait in the
    # outbox, so what the kill interrupts is the inbound handling, not a send.
    def down(_request: RecordedRequest, _nth: int) -> Fault:
        return Fault(status=503)

    fake.set_create_policy(down)
    phones = [f"+1415555{index:04d}" for index in range(NUMBERS)]
    parley.start_serve(worker=False)
    parley.import_debts(phones)
    for _ in range(TEXTS_EACH):
        for phone in phones:
            response = parley.text_in(phone, "HELP")
            assert response.status_code == 200, response.text
    total = NUMBERS * TEXTS_EACH
    with db.transaction() as session:
        sids = list(session.scalars(select(InboundText.provider_sid)))
    assert len(set(sids)) == total
    assert handled(db) == 0  # the webhook only stored them

    parley.start_worker("w1")
    wait_until(lambda: handled(db) >= 10, 120, "the first worker to be handling texts")
    parley.kill("w1")
    at_kill = handled(db)
    assert 10 <= at_kill < total, "the kill must land while texts are being handled"

    fake.set_create_policy(None)
    parley.start_worker("w2")

    def settled() -> bool:
        with db.transaction() as session:
            pending = session.scalar(
                select(func.count(InboundText.id)).where(InboundText.state == "pending")
            )
            rows = list(
                session.scalars(select(Message.status).where(Message.direction == "outbound"))
            )
        if pending == 0 and len(rows) == total and all(s in SETTLED for s in rows):
            return True
        if pending == 0:
            # Then let the send backoffs and the killed worker's leases run out.
            file_clock.advance(timedelta(seconds=30))
        return False

    wait_until(settled, 300, "every text handled and answered")

    with db.transaction() as session:
        queue = list(session.scalars(select(InboundText)))
        inbound = list(session.scalars(select(Message).where(Message.direction == "inbound")))
        outbound = list(session.scalars(select(Message).where(Message.direction == "outbound")))
    # Nothing lost: every text stored once and handled once, in the same transaction as
    # its effects (the one the kill interrupted was rolled back and handled again).
    assert len(queue) == total
    assert {t.state for t in queue} == {"processed"}
    assert {t.attempts for t in queue} == {1}
    assert sorted(t.provider_sid for t in queue) == sorted(sids)
    assert len(inbound) == total
    assert {m.provider_sid for m in inbound} == set(sids)
    assert {t.message_id for t in queue} == {m.id for m in inbound}
    # Nothing doubled: one answer per text, each handed to the provider once.
    assert len(outbound) == total
    per_number = {phone: 0 for phone in phones}
    for message in outbound:
        per_number[message.to_phone] += 1
    assert set(per_number.values()) == {TEXTS_EACH}
    provider = fake.messages
    assert len(provider) == total
    assert {m["sid"] for m in provider} == {m.provider_sid for m in outbound}
