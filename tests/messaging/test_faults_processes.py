"""Exactly once under provider faults, with real processes: `parley serve` and several
`parley worker`s on the test database (PostgreSQL when PARLEY_TEST_DATABASE_URL is set,
else SQLite), the real twilio client, and a local Twilio-compatible server injecting
faults. Time is a file clock the test moves; nothing waits on wall-clock timing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import Database
from app.messaging.models import Message
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.fake_twilio import FakeTwilio, Fault, RecordedRequest
from tests.processes import FileTestClock, Parley, running, wait_until

# 10:00 in Los Angeles (the debtors' +1 415 numbers): inside the contact window.
START = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
SETTLED = ("submitted", "sent", "delivered")
STUCK = ("failed", "expired", "needs_review", "canceled")


@pytest.fixture
def file_clock(tmp_path: Path) -> FileTestClock:
    return FileTestClock(tmp_path / "clock", START)


@pytest.fixture
def fake(file_clock: FileTestClock) -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, now=file_clock.now) as f:
        yield f


@pytest.fixture
def parley(
    db: Database, database_url: str, fake: FakeTwilio, file_clock: FileTestClock, tmp_path: Path
) -> Iterator[Parley]:
    with running(database_url, fake, file_clock, tmp_path) as processes:
        yield processes


def outbound(db: Database) -> list[Message]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.direction == "outbound")
                .order_by(Message.created_at, Message.id)
            )
        )


def creates(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if r.method == "POST" and r.path.endswith("/Messages.json")]


def lists(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if r.method == "GET" and r.path.endswith("/Messages.json")]


def phones(count: int) -> list[str]:
    return [f"+1415555{index:04d}" for index in range(count)]


def assert_each_sent_exactly_once(db: Database, fake: FakeTwilio, expected: int) -> None:
    rows = outbound(db)
    assert len(rows) == expected
    assert {r.status for r in rows} <= set(SETTLED), [(r.status, r.error_message) for r in rows]
    sids = [r.provider_sid for r in rows]
    assert None not in sids and len(set(sids)) == expected
    provider = fake.messages
    assert len(provider) == expected, "a text went out twice or not at all"
    assert {m["sid"] for m in provider} == set(sids)
    # Each row's copy carries that row's text to that row's number.
    by_sid = {m["sid"]: m for m in provider}
    for row in rows:
        assert by_sid[row.provider_sid]["to"] == row.to_phone
        assert by_sid[row.provider_sid]["body"] == row.body


def settle_all(db: Database, clock: FileTestClock, expected: int, what: str) -> None:
    """Move time on (30 s a step) until every outbound row is settled."""

    def done() -> bool:
        rows = outbound(db)
        if len(rows) == expected and all(r.status in SETTLED for r in rows):
            return True
        stuck = [(r.status, r.error_message) for r in rows if r.status in STUCK]
        assert not stuck, stuck
        if not any(r.status == "sending" for r in rows):
            clock.advance(timedelta(seconds=30))
        return False

    wait_until(done, 90, what)


@pytest.mark.parametrize("second", ["answered", "also_kept_after_timeout"])
def test_same_text_pairs_whose_first_send_timed_out_but_was_kept_go_once_each(
    parley: Parley, fake: FakeTwilio, db: Database, file_clock: FileTestClock, second: str
) -> None:
    numbers = phones(6)

    def policy(request: RecordedRequest, nth: int) -> Fault | None:
        if nth == 0 or (nth == 1 and second == "also_kept_after_timeout"):
            return Fault.kept_timeout(1.5)  # the client gives up after 0.5 s
        return None

    fake.set_create_policy(policy)
    parley.start_serve()
    parley.start_worker("w1")
    parley.start_worker("w2")
    parley.import_debts(numbers)
    for number in numbers:
        assert parley.text_in(number, "HELP").status_code == 200
    assert fake.wait_for_messages(len(numbers), timeout=30)
    wait_until(
        lambda: sum(1 for r in outbound(db) if r.needs_reconcile) == len(numbers),
        30,
        "the timed-out first answers to wait for a look-up",
    )
    for number in numbers:
        assert parley.text_in(number, "HELP").status_code == 200
    assert fake.wait_for_messages(2 * len(numbers), timeout=30)
    rows = outbound(db)
    # The same words twice to each number: body and time alone cannot tell them apart.
    for number in numbers:
        bodies = {r.body for r in rows if r.to_phone == number}
        assert len(bodies) == 1
    settle_all(db, file_clock, 2 * len(numbers), "every answer to be accounted for")
    assert_each_sent_exactly_once(db, fake, 2 * len(numbers))


@pytest.mark.parametrize("first_fault", ["slow_500", "reset"])
def test_a_failed_first_send_never_adopts_the_other_same_text_send_in_flight(
    parley: Parley, fake: FakeTwilio, db: Database, file_clock: FileTestClock, first_fault: str
) -> None:
    numbers = phones(3)

    def policy(request: RecordedRequest, nth: int) -> Fault | None:
        if nth == 0:  # not kept: a slow 500, or the connection reset
            if first_fault == "reset":
                return Fault(reset=True)
            return Fault(status=500, delay=0.2)
        if nth == 1:  # kept at once, its answer slow to come
            return Fault(keep=True, hang=True)
        return None

    fake.set_create_policy(policy)
    # The client waits long enough for the slow answer: that send stays in flight.
    parley.env["PARLEY_SEND_TIMEOUT_SECONDS"] = "30"
    parley.env["PARLEY_WORKER_LEASE_SECONDS"] = "900"
    parley.start_serve()
    parley.start_worker("w1")
    parley.start_worker("w2")
    parley.import_debts(numbers)
    for index, number in enumerate(numbers):
        assert parley.text_in(number, "HELP").status_code == 200
        wait_until(
            lambda number=number: any(
                r.to_phone == number and r.needs_reconcile and r.status == "queued"
                for r in outbound(db)
            ),
            30,
            "the first send to fail",
        )
        assert parley.text_in(number, "HELP").status_code == 200
        assert fake.wait_for_hung(1, timeout=30)  # the second one is accepted, unanswered
        before = len(lists(fake.requests))
        # The first one's retry looks up while the other is still in flight.
        file_clock.advance(timedelta(minutes=1))
        assert fake.wait_for_requests(lambda rs, before=before: len(lists(rs)) > before, timeout=30)
        wait_until(
            lambda number=number: any(
                r.to_phone == number and r.needs_reconcile and r.status == "queued"
                for r in outbound(db)
            ),
            30,
            "the look-up to wait for the send in flight",
        )
        fake.release_hung()
        assert fake.wait_for_hung(0, timeout=30)
        settle_all(db, file_clock, 2 * (index + 1), "both answers to this number")
    assert_each_sent_exactly_once(db, fake, 2 * len(numbers))


def test_messages_list_failures_are_retried_not_left_for_the_lease(
    parley: Parley, fake: FakeTwilio, db: Database, file_clock: FileTestClock
) -> None:
    numbers = phones(4)
    fake.set_create_policy(lambda _r, nth: Fault.kept_timeout(1.5) if nth == 0 else None)
    failures = [Fault(status=503), Fault(status=429, code=20429), Fault(reset=True)]
    fake.set_list_policy(lambda _r, nth: failures[nth] if nth < len(failures) else None)
    parley.start_serve()
    parley.start_worker("w1")
    parley.import_debts(numbers)
    for number in numbers:
        assert parley.text_in(number, "HELP").status_code == 200
    assert fake.wait_for_messages(len(numbers), timeout=30)
    wait_until(
        lambda: sum(1 for r in outbound(db) if r.needs_reconcile) == len(numbers),
        30,
        "the timed-out answers to wait for a look-up",
    )
    # Well inside the 300 s lease: a failed look-up hands the message back at once.
    settle_all(db, file_clock, len(numbers), "the look-ups to get through")
    assert len(lists(fake.requests)) >= len(numbers) * (len(failures) + 1)
    assert_each_sent_exactly_once(db, fake, len(numbers))


@pytest.mark.parametrize("stopped", ["serve", "worker"])
def test_sigterm_while_the_provider_hangs_hands_the_leases_back(
    parley: Parley, fake: FakeTwilio, db: Database, file_clock: FileTestClock, stopped: str
) -> None:
    numbers = phones(4)
    fake.set_create_policy(lambda _r, nth: Fault(hang=True) if nth == 0 else None)
    parley.env["PARLEY_SEND_TIMEOUT_SECONDS"] = "30"  # the hang outlasts the stop
    parley.env["PARLEY_WORKER_LEASE_SECONDS"] = "900"
    parley.start_serve(worker=stopped == "serve")
    if stopped == "worker":
        parley.start_worker("worker")
    parley.import_debts(numbers)
    for number in numbers:
        assert parley.text_in(number, "HELP").status_code == 200
    assert fake.wait_for_hung(1, timeout=30)
    hung = {r.id for r in outbound(db) if r.status == "sending"}
    assert hung
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    assert parley.terminate(stopped, timeout=15) in (0, -15)
    assert "claims handed back" in parley.log(stopped)
    rows = outbound(db)
    # No lease left to run out (900 s): every claim is back in the queue, and the ones
    # whose request had gone out are marked for a look-up.
    assert {r.status for r in rows} == {"queued"}
    assert all(r.lease_expires_at is None for r in rows)
    assert {r.id for r in rows if r.needs_reconcile} == hung
    # Twilio finishes the hung requests after all: the look-up must find them.
    fake.release_hung()
    assert fake.wait_for_messages(len(hung), timeout=30)
    parley.start_worker("w1")
    settle_all(db, file_clock, len(numbers), "the released answers to be found")
    assert_each_sent_exactly_once(db, fake, len(numbers))


def test_a_twenty_minute_outage_pauses_sending_and_loses_nothing(
    parley: Parley, fake: FakeTwilio, db: Database, file_clock: FileTestClock
) -> None:
    numbers = phones(12)
    parley.start_serve()
    parley.start_worker("w1")
    debts = parley.import_debts(numbers)
    fake.set_outage(Fault(status=503))
    for debt_id in debts[:6]:
        parley.queue_statement(debt_id)
    for number in numbers[6:]:
        assert parley.text_in(number, "HELP").status_code == 200
    wait_until(lambda: len(outbound(db)) == len(numbers), 30, "everything queued")
    outage_end = file_clock.now() + timedelta(minutes=20)
    while file_clock.now() < outage_end:
        wait_until(
            lambda: not any(r.status == "sending" for r in outbound(db)), 30, "a quiet queue"
        )
        file_clock.advance(timedelta(seconds=30))
    during = len(creates(fake.requests)) + len(lists(fake.requests))
    rows = outbound(db)
    assert not [r for r in rows if r.status in ("failed", "expired", "needs_review")]
    # Paused and probing, not retrying every message: without the breaker each of the
    # 12 messages would have tried about ten times in 20 minutes.
    assert during < 2 * (5 + 12) + len(numbers)
    fake.set_outage(None)
    settle_all(db, file_clock, len(numbers), "the queue to drain after the outage")
    assert_each_sent_exactly_once(db, fake, len(numbers))


def test_answers_queued_behind_a_statement_wave_go_within_two_batches(
    parley: Parley, fake: FakeTwilio, db: Database, file_clock: FileTestClock
) -> None:
    batch = 10
    parley.env["PARLEY_WORKER_BATCH_SIZE"] = str(batch)
    parley.env["PARLEY_SEND_CONCURRENCY"] = "4"
    numbers = phones(120)
    # Each create takes a moment, so the wave lasts while the answers are queued.
    fake.set_create_policy(lambda _r, _nth: Fault(delay=0.05))
    parley.start_serve()
    parley.start_worker("w1")
    debts = parley.import_debts(numbers)
    workers = 2
    for debt_id in debts:
        parley.queue_statement(debt_id)
    assert fake.wait_for_requests(lambda rs: len(creates(rs)) >= 2 * batch, timeout=60)
    answered = numbers[:5]
    marks: dict[str, int] = {}
    for number in answered:
        assert parley.text_in(number, "PAY").status_code == 200
        # The answer is queued once the webhook's transaction has committed, that is when
        # its request returns (statements sent while it was being answered were claimed
        # before the answer existed).
        marks[number] = len(creates(fake.requests))
    total = len(numbers) + len(answered)
    wait_until(
        lambda: len(outbound(db)) == total and all(r.status in SETTLED for r in outbound(db)),
        120,
        "every statement and answer to be sent and recorded",
    )
    order = creates(fake.requests)
    answers = {r.to_phone: r.body for r in outbound(db) if r.is_reply}
    assert set(answers) == set(answered)
    for number in answered:
        answer_at = next(
            i
            for i, r in enumerate(order)
            if r.form["To"] == [number] and r.form["Body"] == [answers[number]]
        )
        # Statements sent after the answer was queued and before it: at most the two
        # batches each worker already had in hand (the one going out and the next,
        # claimed meanwhile), far fewer than the wave.
        behind = answer_at - marks[number]
        assert behind <= workers * 2 * batch, (number, behind)
    assert_each_sent_exactly_once(db, fake, total)
