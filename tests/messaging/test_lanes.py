"""Sending lanes: claim priority (answers > reminders > statements), a lane's budgets
(messages per second, segments per day) and the account's rate, a lane pausing itself
when Twilio says it goes too fast, and the deliverability guard. The real twilio client
against the local Twilio-compatible server; an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import FixedClock
from app.config import Settings
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debtor
from app.main import create_app
from app.messaging.gateway import TwilioGateway
from app.messaging.models import Message, SendingLane, SendPriority
from app.messaging.service import enqueue_message
from app.worker import OutboxWorker
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Tenant, make_tenant
from tests.fake_twilio import FakeTwilio, status_callback_params, twilio_signature
from tests.helpers import import_debt, send_sms

# 08:00 in Los Angeles: the window opens.
LA_OPENS = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


@pytest.fixture
def tenant(db: Database, clock: FixedClock) -> Tenant:
    return make_tenant(
        db, clock, "Acme Finance", contact_phone="+14155550100", send_spread_minutes=0
    )


def lane_settings(twilio_settings: Settings, **budgets: Any) -> Settings:
    return twilio_settings.model_copy(update=budgets)


@pytest.fixture
def budgets() -> dict[str, Any]:
    return {}


@pytest.fixture
def tw_settings(twilio_settings: Settings, budgets: dict[str, Any]) -> Settings:
    return lane_settings(twilio_settings, **budgets)


@pytest.fixture
def tw_client(db: Database, tw_settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(tw_settings, clock=clock, gateway=TwilioGateway(tw_settings), database=db)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def tw_worker(db: Database, tw_settings: Settings, clock: FixedClock) -> OutboxWorker:
    return OutboxWorker(db, TwilioGateway(tw_settings), clock, tw_settings)


def outbound(db: Database) -> list[Message]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.direction == "outbound")
                .order_by(Message.created_at, Message.id)
            )
        )


def statements(client: TestClient, tenant: Tenant, count: int, first: int = 0) -> list[str]:
    ids = []
    for i in range(first, first + count):
        debt_id = import_debt(client, tenant, external_id=f"L-{i}", debtor_phone=f"+1415555{i:04d}")
        response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
        assert response.status_code == 202, response.text
        ids.append(response.json()["message"]["id"])
    return ids


def post_status(client: TestClient, params: dict[str, str]) -> None:
    url = f"{PUBLIC_URL}/webhooks/twilio/status"
    headers = {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params)}
    assert client.post("/webhooks/twilio/status", data=params, headers=headers).status_code == 204


def sending(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    response = client.get("/api/v1/sending", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_claim_takes_answers_then_reminders_then_statements(
    tw_client: TestClient, tenant: Tenant, tw_worker: OutboxWorker, clock: FixedClock, db: Database
) -> None:
    clock.set(LA_OPENS)
    statements(tw_client, tenant, 3)
    import_debt(tw_client, tenant, external_id="R-1", debtor_phone="+14155550003")
    clock.advance(timedelta(seconds=1))
    with db.transaction() as session:
        creditor = session.get(Creditor, tenant.creditor_id)
        debtor = session.scalars(select(Debtor).where(Debtor.phone == "+14155550003")).one()
        assert creditor is not None
        reminder = enqueue_message(
            session,
            creditor=creditor,
            debtor=debtor,
            body="Reminder: your installment is due tomorrow.",
            kind="installment_reminder",
            now=clock.now(),
            actor="test",
        )
        reminder_id = reminder.id
    clock.advance(timedelta(seconds=1))
    send_sms(tw_client, "+14155550002", "HELP")
    rows = outbound(db)
    answer = next(r for r in rows if r.is_reply)
    priorities = {r.id: r.priority for r in rows}
    assert priorities[answer.id] == SendPriority.ANSWER
    assert priorities[reminder_id] == SendPriority.REMINDER
    assert {r.priority for r in rows if r.kind == "statement"} == {SendPriority.BULK}
    first, second, *_ = tw_worker.claim(limit=3)
    assert [first.sms.message_id, second.sms.message_id] == [answer.id, reminder_id]


@pytest.mark.parametrize("budgets", [{"lane_messages_per_second": 2}])
def test_a_lane_sends_no_more_than_its_rate_and_answers_go_first(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    db: Database,
    fake_twilio: FakeTwilio,
) -> None:
    clock.set(LA_OPENS)
    statements(tw_client, tenant, 5)
    assert tw_worker.run_once() == 2
    held = [r for r in outbound(db) if r.status == "scheduled"]
    assert len(held) == 3
    assert {(r.held_reason, r.send_after) for r in held} == {
        ("lane_budget", LA_OPENS + timedelta(seconds=1))
    }
    assert tw_worker.run_once() == 0  # the second is spent
    assert sending(tw_client, tenant)["held"] == {"lane_budget": 3}
    send_sms(tw_client, "+14155550004", "HELP")
    clock.advance(timedelta(seconds=1))
    assert tw_worker.run_once() == 2
    answer = next(r for r in outbound(db) if r.is_reply)
    assert answer.status == "submitted"
    # In the first pair of its second (the two go from parallel send threads).
    assert answer.body in {m["body"] for m in fake_twilio.messages[2:4]}
    clock.advance(timedelta(seconds=1))
    assert tw_worker.run_once() == 2
    to = [m["to"] for m in fake_twilio.messages]
    assert len(to) == 6 and len(set(to)) == 5


@pytest.mark.parametrize("budgets", [{"account_messages_per_second": 3}])
def test_the_account_rate_holds_across_lanes(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    db: Database,
    fake_twilio: FakeTwilio,
) -> None:
    other = make_tenant(db, clock, "Other Lender", send_spread_minutes=0)
    with db.transaction() as session:
        creditor = session.get(Creditor, other.creditor_id)
        assert creditor is not None
        creditor.twilio_from = "+12025550102"
    clock.set(LA_OPENS)
    statements(tw_client, tenant, 3)
    statements(tw_client, other, 3, first=10)
    assert tw_worker.run_once() == 3
    assert {r.held_reason for r in outbound(db) if r.status == "scheduled"} == {"lane_budget"}
    clock.advance(timedelta(seconds=1))
    assert tw_worker.run_once() == 3
    assert len({m["from"] for m in fake_twilio.messages}) == 2


def test_a_lane_over_its_daily_segments_holds_initiated_texts_not_answers(
    db: Database,
    twilio_settings: Settings,
    tenant: Tenant,
    clock: FixedClock,
    fake_twilio: FakeTwilio,
) -> None:
    clock.set(LA_OPENS)
    probe = create_app(twilio_settings, clock=clock, database=db)
    with TestClient(probe) as client:
        [first, *_] = statements(client, tenant, 3)
    with db.transaction() as session:
        message = session.get(Message, first)
        assert message is not None
        segments = message.segments
    settings = lane_settings(twilio_settings, lane_segments_per_day=segments + 1)
    worker = OutboxWorker(db, TwilioGateway(settings), clock, settings)
    app = create_app(settings, clock=clock, gateway=TwilioGateway(settings), database=db)
    with TestClient(app) as client:
        assert worker.run_once() == 1
        held = [r for r in outbound(db) if r.status == "scheduled"]
        tomorrow = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
        assert {(r.held_reason, r.send_after) for r in held} == {("lane_budget", tomorrow)}
        send_sms(client, "+14155550001", "HELP")
        assert worker.run_once() == 1  # the answer goes, the budget spent or not
        assert next(r for r in outbound(db) if r.is_reply).status == "submitted"
        assert sending(client, tenant)["lane"]["segments_today"] > segments


@pytest.mark.parametrize(
    "failure", [{"status": 429, "code": 20429}, {"status": 400, "code": 63017}]
)
def test_a_lane_pauses_itself_when_twilio_says_too_fast(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    db: Database,
    fake_twilio: FakeTwilio,
    tw_settings: Settings,
    failure: dict[str, int],
) -> None:
    clock.set(LA_OPENS)
    statements(tw_client, tenant, 3)
    fake_twilio.fail_next(1, **failure)
    tw_worker.settings = tw_settings.model_copy(update={"send_concurrency": 1})
    tw_worker.run_once()
    until = LA_OPENS + timedelta(seconds=tw_settings.lane_pause_seconds)
    rows = outbound(db)
    failed = next(r for r in rows if r.error_code == failure["code"])
    assert (failed.status, failed.held_reason, failed.send_after) == (
        "queued",
        "lane_paused",
        until,
    )
    status = sending(tw_client, tenant)
    assert status["lane"]["paused"] is True
    assert status["lane"]["paused_until"].startswith("2026-11-25T16:01:00")
    assert status["lane"]["pause_code"] == failure["code"]
    # What the batch had not sent yet waits for the pause; so does the next claim.
    tw_worker.run_once()
    waiting = [r for r in outbound(db) if r.status in ("queued", "scheduled")]
    assert {(r.held_reason, r.send_after) for r in waiting} == {("lane_paused", until)}
    sent_before = len(fake_twilio.messages)
    assert sent_before < 3
    clock.set(until)
    tw_worker.run_once()
    assert len(fake_twilio.messages) == 3
    assert sending(tw_client, tenant)["lane"]["paused"] is False


def test_a_queue_overflow_reported_by_a_status_callback_pauses_the_lane(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    db: Database,
    fake_twilio: FakeTwilio,
) -> None:
    clock.set(LA_OPENS)
    statements(tw_client, tenant, 1)
    tw_worker.run_once()
    [sent] = outbound(db)
    post_status(tw_client, status_callback_params(sent.provider_sid or "", "failed", 30001))
    statements(tw_client, tenant, 1, first=1)
    assert tw_worker.run_once() == 0
    with db.transaction() as session:
        [lane] = session.scalars(select(SendingLane)).all()
        assert lane.key == "from:+15005550006" and lane.pause_code == 30001
    assert next(r for r in outbound(db) if r.status == "scheduled").held_reason == "lane_paused"


@pytest.mark.parametrize(
    "budgets", [{"deliverability_sample": 4, "deliverability_max_filtered_rate": 0.3}]
)
def test_carrier_filtering_pauses_initiated_texts_until_a_person_resumes(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    db: Database,
    fake_twilio: FakeTwilio,
) -> None:
    clock.set(LA_OPENS)
    statements(tw_client, tenant, 4)
    assert tw_worker.run_once() == 4
    assert sending(tw_client, tenant)["deliverability"]["paused"] is False
    for row in outbound(db)[:2]:
        post_status(tw_client, status_callback_params(row.provider_sid or "", "undelivered", 30007))
    clock.advance(timedelta(minutes=1))
    [held_id] = statements(tw_client, tenant, 1, first=4)
    send_sms(tw_client, "+14155550003", "HELP")
    assert tw_worker.run_once() == 1  # the answer
    rows = {r.id: r for r in outbound(db)}
    assert next(r for r in rows.values() if r.is_reply).status == "submitted"
    held = rows[held_id]
    assert (held.status, held.held_reason) == ("scheduled", "deliverability")
    status = sending(tw_client, tenant)["deliverability"]
    assert status["paused"] is True and status["filtered_rate"] == 0.5
    assert "30007" in status["reason"]
    listed = tw_client.get(f"/api/v1/debts/{held.debt_id}/messages", headers=tenant.headers).json()
    assert [m["held_reason"] for m in listed["items"]] == ["deliverability"]
    # Still paused later: the guard does not lift itself.
    clock.advance(timedelta(hours=1))
    assert tw_worker.run_once() == 0
    viewer = make_tenant(db, clock, "Viewer Co", role="viewer")
    refused = tw_client.post("/api/v1/sending/deliverability/resume", headers=viewer.headers)
    assert refused.status_code == 403
    resumed = tw_client.post("/api/v1/sending/deliverability/resume", headers=tenant.headers)
    assert resumed.status_code == 200 and resumed.json() == {"resumed": True, "released": 1}
    assert tw_worker.run_once() == 1
    assert sending(tw_client, tenant)["deliverability"]["paused"] is False


@pytest.mark.parametrize(
    "budgets", [{"deliverability_sample": 3, "deliverability_max_opt_out_rate": 0.05}]
)
def test_opt_outs_after_texts_pause_initiated_texts(
    tw_client: TestClient,
    tenant: Tenant,
    tw_worker: OutboxWorker,
    clock: FixedClock,
    db: Database,
) -> None:
    clock.set(LA_OPENS)
    statements(tw_client, tenant, 3)
    assert tw_worker.run_once() == 3
    clock.advance(timedelta(minutes=1))
    send_sms(tw_client, "+14155550000", "STOP")
    tw_worker.run_once()  # the one confirmation goes
    [held_id] = statements(tw_client, tenant, 1, first=5)
    tw_worker.run_once()
    held = next(r for r in outbound(db) if r.id == held_id)
    assert held.held_reason == "deliverability"
    status = sending(tw_client, tenant)["deliverability"]
    assert status["paused"] and round(status["opt_out_rate"], 2) == 0.33
