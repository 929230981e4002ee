"""The inbound queue: the webhook stores and acknowledges; workers handle each number's
texts in order, retry failures with backoff and hand lasting ones to a person."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text, update

from app.actions.inbox import InboundProcessor, lock_number
from app.clock import FixedClock
from app.config import Settings
from app.conversations.api import EMPTY_TWIML
from app.conversations.inbox import GroupCommitInbox, IncomingText
from app.conversations.models import Conversation, InboundText, Promise
from app.db import Database
from app.debts.models import Debtor
from app.main import build_inbound_handler, create_app
from app.messaging.gateway import SmsGateway
from app.messaging.models import Message
from app.offers.models import Plan
from app.worker import OutboxWorker
from tests.conftest import T0, Tenant, make_settings, make_tenant
from tests.helpers import handle_inbound, import_debt, outbound_bodies, post_sms
from tests.offers.test_offers import post_rule
from tests.processes import wait_until

NY = "+12125550123"


def texts(db: Database) -> list[InboundText]:
    with db.transaction() as session:
        return list(session.scalars(select(InboundText).order_by(InboundText.id)))


def inbound_messages(db: Database) -> list[Message]:
    with db.transaction() as session:
        return list(session.scalars(select(Message).where(Message.direction == "inbound")))


def test_the_webhook_stores_and_acknowledges_without_handling(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    import_debt(client, tenant, debtor_phone=NY)
    response = post_sms(client, NY, "PAY", message_sid="SM" + "1" * 32)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == EMPTY_TWIML
    (stored,) = texts(db)
    assert (stored.provider_sid, stored.from_phone, stored.body) == ("SM" + "1" * 32, NY, "PAY")
    assert (stored.state, stored.attempts, stored.processed_at) == ("pending", 0, None)
    # Nothing was understood or answered in the request.
    assert inbound_messages(db) == []
    assert outbound_bodies(db, NY) == []
    with db.transaction() as session:
        assert session.scalars(select(Conversation)).first() is None
    # The in-process worker was woken after the commit.
    assert client.app.state.worker_wakeup.is_set()  # type: ignore[attr-defined]
    # A worker's step handles it: the message, its intent, the answer in the outbox.
    assert handle_inbound(client) == 1
    (stored,) = texts(db)
    assert stored.state == "processed" and stored.attempts == 1
    (message,) = inbound_messages(db)
    assert stored.message_id == message.id and message.intent == "PAY"
    assert len(outbound_bodies(db, NY)) == 1


def _webhook_writers(db: Database) -> list[int]:
    """The server processes of the webhook's own connections (the batch statement)."""
    with db.engine.connect() as connection:
        return list(
            connection.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND query LIKE 'WITH new AS (INSERT%'"
                )
            )
        )


def test_a_webhook_connection_the_server_dropped_is_replaced_and_no_text_lost(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database
) -> None:
    """The webhook's own PostgreSQL connection is killed between two texts (a restarted
    server, a dropped socket): the next text is still stored and answered, on a new
    connection, and the one after it too."""
    assert post_sms(client, NY, "PAY", message_sid="SM" + "5" * 32).status_code == 200
    (killed,) = _webhook_writers(db)
    with db.engine.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
    for sid in ("SM" + "6" * 32, "SM" + "7" * 32):
        response = post_sms(client, NY, "HELP", message_sid=sid)
        assert response.status_code == 200 and response.text == EMPTY_TWIML
    (writer,) = _webhook_writers(db)
    assert writer != killed
    assert [t.provider_sid for t in texts(db)] == ["SM" + c * 32 for c in "567"]


def test_a_webhook_connection_is_closed_with_the_event_loop_it_served(
    postgres_only: None, settings: Settings, clock: FixedClock, db: Database
) -> None:
    """A test client without its lifespan runs each request in an event loop of its own:
    the connection each loop's first batch opened is closed as that loop goes, not left
    for the garbage collector to find still open."""
    app = create_app(settings, clock=clock, database=db)
    client = TestClient(app)  # no `with`: no lifespan, a new loop per request
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for sid in ("SM" + "8" * 32, "SM" + "9" * 32):
            assert post_sms(client, NY, "HELP", message_sid=sid).status_code == 200
        gc.collect()
    assert [w for w in caught if "psycopg" in str(w.message)] == []
    assert [t.provider_sid for t in texts(db)] == ["SM" + c * 32 for c in "89"]


def test_a_missing_message_sid_is_refused_and_nothing_stored(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    from tests.conftest import AUTH_TOKEN, PUBLIC_URL
    from tests.fake_twilio import inbound_sms_params, twilio_signature

    params = inbound_sms_params(from_=NY, to="+15005550006", body="PAY")
    for key in ("MessageSid", "SmsMessageSid", "SmsSid"):
        params.pop(key, None)
    signature = twilio_signature(AUTH_TOKEN, f"{PUBLIC_URL}/webhooks/twilio/sms", params)
    response = client.post(
        "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "MessageSid"
    assert texts(db) == []


def test_a_repeated_message_sid_is_stored_and_handled_once(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    import_debt(client, tenant, debtor_phone=NY)
    sid = "SM" + "2" * 32
    for _ in range(3):
        assert post_sms(client, NY, "HELP", message_sid=sid).text == EMPTY_TWIML
    assert len(texts(db)) == 1
    assert handle_inbound(client) == 1
    # Twilio delivering it again after it was handled changes nothing either.
    assert post_sms(client, NY, "HELP", message_sid=sid).status_code == 200
    assert handle_inbound(client) == 0
    assert len(texts(db)) == 1 and len(inbound_messages(db)) == 1
    assert len(outbound_bodies(db, NY)) == 1


def test_thirty_concurrent_deliveries_of_one_text_store_and_answer_it_once(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    """Real threads through the app (PostgreSQL or SQLite): one stored text, one
    handling, one answer, and every delivery acknowledged."""
    import_debt(client, tenant, debtor_phone=NY)
    sid = "SM" + "3" * 32
    barrier = threading.Barrier(30)
    answers: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait(timeout=30)
            response = post_sms(client, NY, "HELP", message_sid=sid)
            answers.append((response.status_code, response.text))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    assert answers == [(200, EMPTY_TWIML)] * 30
    assert len(texts(db)) == 1
    assert handle_inbound(client) == 1
    assert len(inbound_messages(db)) == 1
    assert len(outbound_bodies(db, NY)) == 1


def test_texts_arriving_together_share_one_commit_and_one_wake_up(db: Database) -> None:
    """Group commit: texts that arrive while a batch commits go into one INSERT and one
    transaction; a batch wakes the workers once."""
    inserts: list[int] = []
    wakes: list[int] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO") and "inbound_texts" in statement:
            inserts.append(1)

    event.listen(db.engine, "before_cursor_execute", executed)
    try:
        inbox = GroupCommitInbox(db, wake=lambda: wakes.append(1))

        async def arrive() -> None:
            await asyncio.gather(
                *(
                    inbox.store(
                        IncomingText(
                            provider_sid=f"SM{index:032d}",
                            from_phone=f"+1212555{index:04d}",
                            to_phone="+15005550006",
                            body="HELP",
                            received_at=T0,
                        )
                    )
                    for index in range(30)
                )
            )

        asyncio.run(arrive())
    finally:
        event.remove(db.engine, "before_cursor_execute", executed)
    stored = texts(db)
    assert [t.provider_sid for t in stored] == [f"SM{i:032d}" for i in range(30)]
    if db.is_postgres:
        # The batches are one statement each on the loop's own psycopg connection, out
        # of SQLAlchemy's sight: the rows of one transaction share its id (xmin).
        with db.engine.connect() as connection:
            transactions = connection.scalar(
                text("SELECT count(DISTINCT xmin::text) FROM inbound_texts")
            )
        inserts = [1] * int(transactions or 0)
    # 30 texts, far fewer INSERTs (each its own transaction; the first text may go alone
    # while the rest gather), and one wake-up (one NOTIFY on PostgreSQL) per batch.
    assert 1 <= len(inserts) <= 2
    assert len(wakes) == len(inserts)


def test_a_number_held_by_another_worker_is_skipped_not_raced(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database
) -> None:
    import_debt(client, tenant, debtor_phone=NY)
    post_sms(client, NY, "HELP")
    processor = client.app.state.inbound_processor  # type: ignore[attr-defined]
    holding = threading.Event()
    release = threading.Event()

    def other_worker() -> None:
        with db.transaction() as session:
            assert lock_number(session, NY)
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert holding.wait(10)
        assert processor.process_batch() == 0
        assert texts(db)[0].state == "pending"
    finally:
        release.set()
        thread.join(30)
    assert processor.process_batch() == 1


def test_each_numbers_texts_are_handled_in_order_by_two_workers(
    postgres_only: None, client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    """ "PLAN" then "2" from ten numbers, handled by two worker threads at once: every
    "2" is handled after its "PLAN" (else it finds no menu and no plan is agreed)."""
    post_rule(client, tenant)
    phones = [f"+1212555{index:04d}" for index in range(10)]
    for index, phone in enumerate(phones):
        import_debt(client, tenant, external_id=f"INV-{index}", debtor_phone=phone)
    for phone in phones:
        post_sms(client, phone, "can I pay in installments?")
    for phone in phones:
        post_sms(client, phone, "2")
    processor = client.app.state.inbound_processor  # type: ignore[attr-defined]
    barrier = threading.Barrier(2)
    handled: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=30)
            handled.append(processor.process_pending())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(handled) == 20
    assert {t.state for t in texts(db)} == {"processed"}
    with db.transaction() as session:
        plans = session.scalars(select(Plan)).all()
        assert len(plans) == 10
        assert {p.installment_count for p in plans} == {6}
        intents = session.execute(
            select(Message.from_phone, Message.intent).where(Message.direction == "inbound")
        ).all()
    assert sorted(intents) == sorted(
        [(p, "PLAN") for p in phones] + [(p, "CHOICE") for p in phones]
    )


@pytest.fixture
def failing_app(
    db: Database, clock: FixedClock, gateway: SmsGateway, database_url: str
) -> Iterator[TestClient]:
    settings = make_settings(database_url, inbound_max_attempts=3, inbound_retry_base_seconds=10)
    with TestClient(create_app(settings, clock=clock, gateway=gateway, database=db)) as client:
        yield client


def _break_debtor(db: Database) -> None:
    """A debtor row whose handling raises (a time zone that does not exist): a real
    failure inside the engine, not a stand-in."""
    with db.transaction() as session:
        session.execute(
            update(Debtor).where(Debtor.phone == NY).values(timezone="Nowhere/Atlantis")
        )


def test_a_failing_text_is_retried_with_backoff_then_given_to_a_person(
    failing_app: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    client = failing_app
    import_debt(client, tenant, debtor_phone=NY)
    _break_debtor(db)
    post_sms(client, NY, "PAY")
    post_sms(client, NY, "HELP")
    processor = client.app.state.inbound_processor  # type: ignore[attr-defined]

    assert processor.process_pending() == 1
    first, second = texts(db)
    assert (first.state, first.attempts) == ("pending", 1)
    assert "ZoneInfoNotFoundError" in (first.last_error or "")
    # Backoff: base 10 s, jittered between half and the whole.
    assert T0 + timedelta(seconds=5) <= first.next_attempt_at <= T0 + timedelta(seconds=10)
    # Rolled back: nothing of the failed try is kept; the later text waits behind it.
    assert inbound_messages(db) == [] and outbound_bodies(db, NY) == []
    assert (second.state, second.attempts) == ("pending", 0)
    assert processor.process_pending() == 0  # not due yet

    clock.advance(timedelta(seconds=10))
    assert processor.process_pending() == 1
    first = texts(db)[0]
    assert (first.state, first.attempts) == ("pending", 2)
    assert T0 + timedelta(seconds=20) <= first.next_attempt_at <= T0 + timedelta(seconds=30)

    clock.advance(timedelta(seconds=20))
    assert processor.process_pending() == 2  # the third try gives up; the next text goes on
    first, second = texts(db)
    assert (first.state, first.attempts) == ("failed", 3)
    assert "ZoneInfoNotFoundError" in (first.last_error or "")
    # In the human queue with the error, the words kept in the conversation.
    with db.transaction() as session:
        conversation = session.scalars(select(Conversation)).one()
        kept = session.scalars(
            select(Message).where(Message.provider_sid == first.provider_sid)
        ).one()
    assert conversation.needs_attention
    assert (conversation.attention_reason or "").startswith("a text could not be handled")
    assert kept.body == "PAY" and kept.direction == "inbound" and first.message_id == kept.id
    # The API lists it with the error, for this creditor only.
    listed = client.get("/api/v1/inbound-texts", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert (item["id"], item["state"], item["attempts"], item["body"]) == (
        first.id,
        "failed",
        3,
        "PAY",
    )
    assert "ZoneInfoNotFoundError" in item["last_error"]
    assert item["conversation_id"] == conversation.id and item["message_id"] == kept.id
    other = make_tenant(db, clock, "Other Creditor")
    assert client.get("/api/v1/inbound-texts", headers=other.headers).json() == {"items": []}
    bad = client.get("/api/v1/inbound-texts?state=lost", headers=tenant.headers)
    assert bad.status_code == 422 and "state" in bad.text
    # The next text of that number failed its first try in the same way (the debtor is
    # still broken); repaired, it is handled once.
    assert (second.state, second.attempts) == ("pending", 1)
    with db.transaction() as session:
        session.execute(
            update(Debtor).where(Debtor.phone == NY).values(timezone="America/New_York")
        )
    clock.advance(timedelta(minutes=5))
    assert processor.process_pending() == 1
    second = texts(db)[1]
    assert second.state == "processed"
    assert len(outbound_bodies(db, NY)) == 1
    processed = client.get("/api/v1/inbound-texts?state=processed", headers=tenant.headers)
    assert [i["id"] for i in processed.json()["items"]] == [second.id]


def test_a_notify_wakes_a_waiting_worker_at_once(
    postgres_only: None,
    client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    gateway: SmsGateway,
    database_url: str,
) -> None:
    """A worker in another process would only see the NOTIFY: this one polls once an
    hour and shares no event with the app that stores the text."""
    import_debt(client, tenant, debtor_phone=NY)
    settings: Settings = make_settings(database_url, worker_poll_seconds=3600)
    processor = client.app.state.inbound_processor  # type: ignore[attr-defined]
    worker = OutboxWorker(db, gateway, clock, settings, inbound=processor)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        assert worker.listening.wait(20)
        # Idle, with the wake-up of its listener's first connect consumed.
        wait_until(
            lambda: worker.idle.is_set() and not worker.wakeup.is_set(), 20, "an idle worker"
        )
        assert post_sms(client, NY, "HELP").status_code == 200
        wait_until(lambda: [t.state for t in texts(db)] == ["processed"], 20, "the text handled")
        assert len(outbound_bodies(db, NY)) == 1
    finally:
        stop.set()
        worker.shutdown()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_text_the_database_refuses_fails_alone_not_its_batch(
    postgres_only: None, db: Database
) -> None:
    """One row PostgreSQL refuses (a MessageSid longer than the column) makes the batch
    go again row by row: its neighbours are stored, it alone gets the error."""
    inbox = GroupCommitInbox(db)

    def incoming(sid: str) -> IncomingText:
        return IncomingText(
            provider_sid=sid,
            from_phone=NY,
            to_phone="+15005550006",
            body="HELP",
            received_at=T0,
        )

    outcomes = asyncio.run(
        inbox.write(
            [incoming("SM" + "a" * 32), incoming("SM" + "x" * 80), incoming("SM" + "b" * 32)]
        )
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert outcomes[1] is not None and "too long" in str(outcomes[1])
    assert [t.provider_sid for t in texts(db)] == ["SM" + "a" * 32, "SM" + "b" * 32]
    # Stored again: nothing changes, nothing fails.
    assert asyncio.run(inbox.write([incoming("SM" + "a" * 32)])) == [None]
    assert len(texts(db)) == 2


def _commits(db: Database) -> tuple[list[int], Any]:
    seen: list[int] = []

    def committed(_conn: Any) -> None:
        seen.append(1)

    event.listen(db.engine, "commit", committed)
    return seen, committed


@pytest.mark.parametrize("parallel", [1, 3])
def test_the_first_texts_of_many_numbers_are_handled_in_few_transactions(
    client: TestClient,
    tenant: Tenant,
    db: Database,
    clock: FixedClock,
    database_url: str,
    parallel: int,
) -> None:
    """Twelve numbers' texts: their senders' context read once per group, every text
    handled and marked processed, one commit per group (plus the look-up of the due
    numbers): one group, or on PostgreSQL `parallel` groups at once (and a block of
    payment sequences reserved once for the four PAYs, SequenceBlocks)."""
    phones = [f"+1212555{index:04d}" for index in range(12)]
    for index, phone in enumerate(phones):
        import_debt(client, tenant, external_id=f"INV-{index}", debtor_phone=phone)
    for index, phone in enumerate(phones):
        post_sms(client, phone, ("PAY", "HELP", "hmm")[index % 3])
    settings = make_settings(database_url, inbound_concurrency=parallel)
    processor = InboundProcessor(db, build_inbound_handler(settings), clock, settings)
    seen, listener = _commits(db)
    try:
        assert processor.process_batch() == 12
    finally:
        event.remove(db.engine, "commit", listener)
    groups = parallel if db.is_postgres else 1
    # On PostgreSQL one more: the block of payment sequences the PAYs take from.
    assert len(seen) == 1 + groups + (1 if db.is_postgres else 0)
    assert {t.state for t in texts(db)} == {"processed"}
    assert all(t.attempts == 1 and t.message_id for t in texts(db))
    for phone in phones:
        assert len(outbound_bodies(db, phone)) == 1
    with db.transaction() as session:
        assert session.scalar(select(func.count(Conversation.id))) == 12


def test_a_failing_text_fails_alone_not_the_others_of_its_group(
    failing_app: TestClient, tenant: Tenant, db: Database
) -> None:
    """One text of a group raises: nothing of the group is kept from that try, every
    other number's text is handled once on its own, and the failure is counted against
    that text alone."""
    client = failing_app
    phones = [NY, *(f"+1212555{index:04d}" for index in range(5))]
    for index, phone in enumerate(phones):
        import_debt(client, tenant, external_id=f"INV-{index}", debtor_phone=phone)
    _break_debtor(db)
    for phone in phones:
        post_sms(client, phone, "HELP")
    processor = client.app.state.inbound_processor  # type: ignore[attr-defined]
    assert processor.process_pending() == 6  # five handled, one try counted
    by_phone = {t.from_phone: t for t in texts(db)}
    assert (by_phone[NY].state, by_phone[NY].attempts) == ("pending", 1)
    assert "ZoneInfoNotFoundError" in (by_phone[NY].last_error or "")
    assert outbound_bodies(db, NY) == []
    for phone in phones[1:]:
        assert (by_phone[phone].state, by_phone[phone].attempts) == ("processed", 1)
        assert len(outbound_bodies(db, phone)) == 1
    assert len(inbound_messages(db)) == 5


def test_a_number_with_several_texts_has_them_handled_in_order_across_groups(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    """A group takes one text per number: "PLAN" and then "2" of each number go in two
    transactions, the second seeing the menu the first offered."""
    post_rule(client, tenant)
    phones = [f"+1212555{index:04d}" for index in range(3)]
    for index, phone in enumerate(phones):
        import_debt(client, tenant, external_id=f"INV-{index}", debtor_phone=phone)
    for phone in phones:
        post_sms(client, phone, "can I pay in installments?")
        post_sms(client, phone, "2")
    processor = client.app.state.inbound_processor  # type: ignore[attr-defined]
    assert processor.process_batch() == 6
    with db.transaction() as session:
        plans = session.scalars(select(Plan)).all()
    assert len(plans) == 3 and {p.installment_count for p in plans} == {6}


def test_a_group_writes_its_new_rows_in_bulk_and_a_promise_points_at_its_text(
    client: TestClient, tenant: Tenant, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A PAY, a text not understood and a promise, from three numbers, in one group:
    the new rows still unwritten at its end (answers and events) go in bulk, the rest
    by the flush, and the group is kept whole (no text falls back to being handled on
    its own); every text stored once, answered once, the promise pointing at its text."""
    phones = [f"+1212555{index:04d}" for index in range(3)]
    for index, phone in enumerate(phones):
        import_debt(client, tenant, external_id=f"INV-{index}", debtor_phone=phone)
    bodies = dict(zip(phones, ("PAY", "hmm", "I'll pay on friday"), strict=True))
    for phone, body in bodies.items():
        post_sms(client, phone, body)
    processor = client.app.state.inbound_processor  # type: ignore[attr-defined]
    assert processor.process_pending() == 3
    assert "a group of inbound texts failed" not in caplog.text
    assert {t.state for t in texts(db)} == {"processed"}
    by_phone = {m.from_phone: m for m in inbound_messages(db)}
    assert {phone: m.body for phone, m in by_phone.items()} == bodies
    with db.transaction() as session:
        promise = session.scalars(select(Promise)).one()
        conversations = session.scalar(select(func.count(Conversation.id)))
    assert promise.source_message_id == by_phone[phones[2]].id
    assert conversations == 3
    for phone in phones:
        assert len(outbound_bodies(db, phone)) == 1
