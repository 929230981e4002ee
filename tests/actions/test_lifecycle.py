"""The lifecycle decision tables, pinned: every entry point that settles, closes, disputes,
pauses, resumes, moves or re-prices a debt, or blocks a number, leaves the end state its
row of DEBT_CASCADES / NUMBER_CASCADES says — the same whichever way the change came
(API, a reply through the signed webhook, a Twilio error on a send, a status callback, a
payment, a re-import, a periodic job)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.actions.lifecycle import (
    DEBT_CASCADES,
    NUMBER_CASCADES,
    DebtChange,
    NumberChange,
    change_debt,
)
from app.callbacks.models import Callback
from app.clock import FixedClock
from app.config import Settings
from app.conversations.models import Conversation, Promise
from app.db import Database
from app.debts.models import Debt, Debtor
from app.main import periodic_jobs
from app.messaging.gateway import TwilioGateway
from app.messaging.models import PENDING_STATUSES, Message
from app.offers.models import Plan
from app.payments.models import PaymentCode
from app.worker import OutboxWorker
from tests.callbacks_support import put_calendar
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Tenant
from tests.fake_twilio import FakeTwilio, status_callback_params, twilio_signature
from tests.helpers import debt_row, import_debt, send_sms
from tests.payments_support import create_offer_rule, payment_body, post_payment

NY = "+12125550100"


@dataclass(frozen=True)
class State:
    """What a change may touch, for one debt and its debtor."""

    status: str
    needs_review: bool
    callbacks: frozenset[str]
    promises: frozenset[str]
    plan: str | None
    live_codes: frozenset[str]  # ids of active payment codes
    pending: frozenset[str]  # ids of outbound texts still waiting to go
    initiated: frozenset[str]  # ids of all initiated texts
    statements: frozenset[str]  # ids of all statements
    menu_kind: str | None
    needs_attention: bool
    contact_status: str


def read_state(db: Database, debt_id: str) -> State:
    with db.transaction() as session:
        debt = session.get(Debt, debt_id)
        assert debt is not None
        debtor = session.get(Debtor, debt.debtor_id)
        assert debtor is not None
        messages = list(
            session.scalars(
                select(Message).where(Message.debt_id == debt_id, Message.direction == "outbound")
            )
        )
        conversation = session.scalars(
            select(Conversation).where(Conversation.debtor_id == debtor.id)
        ).first()
        plan = session.scalars(
            select(Plan).where(Plan.debt_id == debt_id).order_by(Plan.created_at.desc())
        ).first()
        return State(
            status=debt.status,
            needs_review=debt.needs_review,
            callbacks=frozenset(
                session.scalars(select(Callback.status).where(Callback.debt_id == debt_id))
            ),
            promises=frozenset(
                session.scalars(select(Promise.status).where(Promise.debt_id == debt_id))
            ),
            plan=plan.status if plan else None,
            live_codes=frozenset(
                session.scalars(
                    select(PaymentCode.id).where(
                        PaymentCode.debt_id == debt_id, PaymentCode.status == "active"
                    )
                )
            ),
            pending=frozenset(m.id for m in messages if m.status in PENDING_STATUSES),
            initiated=frozenset(m.id for m in messages if m.initiated),
            statements=frozenset(m.id for m in messages if m.kind == "statement"),
            menu_kind=conversation.menu_kind if conversation else None,
            needs_attention=conversation.needs_attention if conversation else False,
            contact_status=debtor.contact_status,
        )


def expect_debt_change(before: State, after: State, change: DebtChange) -> None:
    """`after` is what DEBT_CASCADES[change] makes of `before`."""
    row = DEBT_CASCADES[change]
    if row.status is not None:
        assert after.status == row.status
    prior = before.pending
    still = prior & after.pending
    if row.outbox == "all":
        assert still == frozenset()
    elif row.outbox == "initiated":
        assert still == prior - before.initiated
    elif row.outbox == "statements":
        assert still == prior - before.statements
    else:
        assert still == prior
    assert after.callbacks == (
        frozenset({"canceled"}) if row.callbacks and before.callbacks else before.callbacks
    )
    if row.promises == "keep":
        assert after.promises == before.promises
    elif row.promises == "canceled":
        assert after.promises == {"canceled"}
    else:
        assert after.promises == {"kept"}
    if row.plan == "keep":
        # (A plan being agreed is the desk's doing, not the cascade's.)
        assert after.plan == before.plan or change is DebtChange.PLAN_AGREED
    elif before.plan == "active":
        assert after.plan == ("canceled" if row.plan == "cancel" else "broken")
    prior_codes = before.live_codes & after.live_codes
    assert prior_codes == (before.live_codes if row.codes == "keep" else frozenset())
    if row.menus:
        assert after.menu_kind is None
    else:
        assert after.menu_kind == before.menu_kind
    if row.needs_review is not None:
        assert after.needs_review is row.needs_review
    assert after.needs_attention is (row.flag is not None or before.needs_attention)
    assert after.contact_status == before.contact_status


def expect_number_change(before: State, after: State, change: NumberChange) -> None:
    """`after` is what NUMBER_CASCADES[change] makes of `before` (the debt itself is
    untouched: a number change is about reaching the debtor, not what is owed)."""
    row = NUMBER_CASCADES[change]
    assert after.contact_status == row.contact_status
    assert before.pending & after.pending == frozenset()
    assert after.callbacks == (frozenset({"canceled"}) if row.callbacks else before.callbacks)
    assert after.menu_kind is None if row.menus else after.menu_kind == before.menu_kind
    assert after.needs_attention is (row.flag is not None or before.needs_attention)
    assert (after.status, after.promises, after.plan, after.live_codes) == (
        before.status,
        before.promises,
        before.plan,
        before.live_codes,
    )


@dataclass
class World:
    client: TestClient
    tenant: Tenant
    db: Database
    clock: FixedClock
    debt_id: str

    def text(self, body: str) -> None:
        self.clock.advance(timedelta(seconds=1))
        send_sms(self.client, NY, body)

    def debt(self) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/debts/{self.debt_id}", headers=self.tenant.headers)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def live_code(self) -> dict[str, Any]:
        items = self.client.get(
            f"/api/v1/debts/{self.debt_id}/payment-codes", headers=self.tenant.headers
        ).json()["items"]
        [code] = [c for c in items if c["status"] == "active"]
        result: dict[str, Any] = code
        return result


@pytest.fixture
def world(client: TestClient, tenant: Tenant, db: Database, clock: FixedClock) -> World:
    """A New York debtor (10:00 there) with everything a change may touch: a payment
    code, an open promise, a booked call whose cancel menu is open, a statement and
    answers waiting in the outbox."""
    put_calendar(client, tenant)
    debt_id = import_debt(client, tenant, debtor_phone=NY)
    w = World(client, tenant, db, clock, debt_id)
    w.text("PAY")
    w.text("I will pay on Friday")
    w.text("CALL")
    w.text("A")
    response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
    assert response.status_code == 202, response.text
    state = read_state(db, debt_id)
    assert state.callbacks == {"booked"} and state.promises == {"open"}
    assert len(state.live_codes) == 1 and state.menu_kind == "callback"
    assert state.pending & state.initiated and state.pending - state.initiated
    assert not state.needs_attention and state.contact_status == "active"
    return w


def twilio_worker(db: Database, clock: FixedClock, settings: Settings) -> OutboxWorker:
    return OutboxWorker(db, TwilioGateway(settings), clock, settings, periodic_jobs())


# --------------------------------------------------------------- entry points


def pay_in_full(w: World) -> None:
    code = w.live_code()
    response = post_payment(w.client, payment_body(code["reference"], code["amount"]))
    assert response.status_code == 200, response.text


def reimport_already_paid(w: World) -> None:
    # 2,000 paid, then the creditor corrects the amount to what was paid.
    code = w.live_code()
    response = post_payment(w.client, payment_body(code["reference"], 2000, payment_id="part"))
    assert response.status_code == 200, response.text
    w.clock.advance(timedelta(seconds=1))
    import_debt(w.client, w.tenant, debtor_phone=NY, amount=2000)


def close_by_api(w: World) -> None:
    response = w.client.patch(
        f"/api/v1/debts/{w.debt_id}", json={"status": "closed"}, headers=w.tenant.headers
    )
    assert response.status_code == 200, response.text


def reply(body: str) -> Callable[[World], None]:
    def entry(w: World) -> None:
        w.text(body)

    entry.__name__ = f"reply {body!r}"
    return entry


DEBT_ENTRIES: list[tuple[DebtChange, Callable[[World], None]]] = [
    (DebtChange.SETTLED, pay_in_full),
    (DebtChange.SETTLED, reimport_already_paid),
    (DebtChange.CLOSED, close_by_api),
    (DebtChange.DISPUTED, reply("this is not my debt")),
    (DebtChange.PAUSED, reply("I already paid this")),
]


@pytest.mark.parametrize(
    ("change", "entry"), DEBT_ENTRIES, ids=[f"{c.value}-{e.__name__}" for c, e in DEBT_ENTRIES]
)
def test_debt_changes_follow_the_decision_table(
    world: World, change: DebtChange, entry: Callable[[World], None]
) -> None:
    before = read_state(world.db, world.debt_id)
    entry(world)
    expect_debt_change(before, read_state(world.db, world.debt_id), change)


def test_resuming_a_paused_debt_changes_only_its_status(world: World) -> None:
    world.text("I already paid this")
    paused = read_state(world.db, world.debt_id)
    response = world.client.patch(
        f"/api/v1/debts/{world.debt_id}", json={"status": "open"}, headers=world.tenant.headers
    )
    assert response.status_code == 200, response.text
    after = read_state(world.db, world.debt_id)
    expect_debt_change(paused, after, DebtChange.RESUMED)
    assert after == replace(paused, status="open")


def reimport(w: World, **overrides: Any) -> None:
    w.clock.advance(timedelta(seconds=1))
    response = w.client.post(
        "/api/v1/debts", json={"items": [debt_row(**overrides)]}, headers=w.tenant.headers
    )
    assert response.json()["results"][0]["status"] == "updated", response.text


def test_reimport_to_another_number(world: World) -> None:
    before = read_state(world.db, world.debt_id)
    reimport(world, debtor_phone="+12125550199")
    after = read_state(world.db, world.debt_id)
    # The new number has no conversation yet; the old one's menu about the debt closed.
    expect_debt_change(before, replace(after, menu_kind=None), DebtChange.MOVED)
    with world.db.transaction() as session:
        old = session.scalars(select(Debtor).where(Debtor.phone == NY)).one()
        conversation = session.scalars(
            select(Conversation).where(Conversation.debtor_id == old.id)
        ).one()
        assert conversation.menu_kind is None


def test_reimport_with_a_new_amount(world: World) -> None:
    before = read_state(world.db, world.debt_id)
    reimport(world, debtor_phone=NY, amount=15000)
    expect_debt_change(before, read_state(world.db, world.debt_id), DebtChange.REPRICED)


def test_plan_agreed_by_reply_then_broken_by_the_periodic_job(
    world: World, settings: Settings
) -> None:
    create_offer_rule(world.client, world.tenant, lump_sum_discount_pct="0")
    world.text("PLAN")
    before = read_state(world.db, world.debt_id)
    assert before.menu_kind == "plan"
    world.text("1")
    agreed = read_state(world.db, world.debt_id)
    expect_debt_change(before, agreed, DebtChange.PLAN_AGREED)
    assert agreed.plan == "active"
    # Nothing paid: past the first installment's break period the job breaks the plan.
    world.clock.advance(timedelta(days=45))
    with world.db.transaction() as session:
        for job in periodic_jobs():
            job(session, world.clock.now(), settings)
    broken = read_state(world.db, world.debt_id)
    expect_debt_change(agreed, broken, DebtChange.PLAN_BROKEN)
    assert broken.plan == "broken"


# ----------------------------------------------------------------- numbers


def twilio_error_on_send(code: int) -> Callable[[World, FakeTwilio, Settings], None]:
    def entry(w: World, fake: FakeTwilio, settings: Settings) -> None:
        fake.fail_next(50, status=400, code=code)
        twilio_worker(w.db, w.clock, settings).run_once()

    entry.__name__ = f"send error {code}"
    return entry


def status_callback_error(code: int) -> Callable[[World, FakeTwilio, Settings], None]:
    def entry(w: World, fake: FakeTwilio, settings: Settings) -> None:
        sid = "SM" + "b" * 32
        with w.db.transaction() as session:
            message = session.scalars(
                select(Message)
                .where(Message.debt_id == w.debt_id, Message.kind == "payment_code")
                .limit(1)
            ).one()
            message.status, message.provider_sid = "submitted", sid
            message.sent_at = w.clock.now()
        params = status_callback_params(sid, "undelivered", error_code=code, to=NY)
        url = f"{PUBLIC_URL}/webhooks/twilio/status"
        response = w.client.post(
            "/webhooks/twilio/status",
            data=params,
            headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params)},
        )
        assert response.status_code == 204, response.text

    entry.__name__ = f"status callback {code}"
    return entry


def reply_with(body: str) -> Callable[[World, FakeTwilio, Settings], None]:
    def entry(w: World, fake: FakeTwilio, settings: Settings) -> None:
        w.text(body)

    entry.__name__ = f"reply {body!r}"
    return entry


NUMBER_ENTRIES: list[tuple[NumberChange, Callable[[World, FakeTwilio, Settings], None]]] = [
    (NumberChange.OPTED_OUT, reply_with("STOP")),
    (NumberChange.OPTED_OUT, reply_with("please stop texting me")),
    (NumberChange.OPTED_OUT, twilio_error_on_send(21610)),
    (NumberChange.OPTED_OUT, status_callback_error(21610)),
    (NumberChange.WRONG_NUMBER, reply_with("wrong number")),
    (NumberChange.INVALID, twilio_error_on_send(21211)),
    (NumberChange.INVALID, status_callback_error(21614)),
]


@pytest.mark.parametrize(
    ("change", "entry"),
    NUMBER_ENTRIES,
    ids=[f"{c.value}-{e.__name__}" for c, e in NUMBER_ENTRIES],
)
def test_number_changes_follow_the_decision_table(
    world: World,
    fake_twilio: FakeTwilio,
    twilio_settings: Settings,
    change: NumberChange,
    entry: Callable[[World, FakeTwilio, Settings], None],
) -> None:
    before = read_state(world.db, world.debt_id)
    entry(world, fake_twilio, twilio_settings)
    expect_number_change(before, read_state(world.db, world.debt_id), change)


def test_start_after_stop_reopens_the_number_and_nothing_else(world: World) -> None:
    before = read_state(world.db, world.debt_id)
    world.text("STOP")
    stopped = read_state(world.db, world.debt_id)
    world.text("START")
    started = read_state(world.db, world.debt_id)
    assert started.contact_status == NUMBER_CASCADES[NumberChange.OPTED_IN].contact_status
    assert started.callbacks == stopped.callbacks == {"canceled"}
    # What STOP canceled stays canceled.
    assert before.pending & started.pending == frozenset()


# ------------------------------------------------------- answers in every state


def last_answer(w: World) -> str:
    with w.db.transaction() as session:
        body = session.scalars(
            select(Message.body)
            .where(Message.to_phone == NY, Message.direction == "outbound")
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        ).one()
        return str(body)


def test_a_disputed_debt_is_answered_under_review_and_can_still_book_a_call(
    world: World,
) -> None:
    world.text("this is not my debt")
    assert world.debt()["status"] == "disputed"
    world.text("PAY")
    assert "under review" in last_answer(world)
    world.text("I want to pay in installments")
    assert "under review" in last_answer(world)
    assert "no balance due" not in last_answer(world)
    world.text("call me")
    assert "Reply A" in last_answer(world) or "A:" in last_answer(world)
    world.text("A")
    with world.db.transaction() as session:
        statuses = list(
            session.scalars(select(Callback.status).where(Callback.debt_id == world.debt_id))
        )
    assert "booked" in statuses


def test_nothing_due_only_when_nothing_is_due(world: World) -> None:
    pay_in_full(world)
    world.text("PAY")
    assert "no balance due" in last_answer(world)


def test_disputed_then_resumed_debt_is_collected_again(world: World) -> None:
    world.text("this is not my debt")
    response = world.client.patch(
        f"/api/v1/debts/{world.debt_id}",
        json={"status": "open", "needs_review": False},
        headers=world.tenant.headers,
    )
    assert response.status_code == 200, response.text
    world.clock.set(datetime(2026, 11, 25, 16, 0, 5, tzinfo=UTC))
    world.text("PAY")
    assert world.live_code()["amount"] == world.debt()["balance"]


def test_the_reported_defects_stay_fixed(
    world: World, fake_twilio: FakeTwilio, twilio_settings: Settings
) -> None:
    """Spelled out, not derived from the table: 21610 on a send ends the booked call, as
    STOP does; a re-import that settles the debt ends its call and its promise."""
    twilio_error_on_send(21610)(world, fake_twilio, twilio_settings)
    state = read_state(world.db, world.debt_id)
    assert (state.contact_status, state.callbacks) == ("opted_out", {"canceled"})


def test_a_settling_reimport_ends_the_call_and_the_promise(world: World) -> None:
    reimport_already_paid(world)
    state = read_state(world.db, world.debt_id)
    assert (state.status, state.callbacks, state.promises) == ("settled", {"canceled"}, {"kept"})
    assert state.live_codes == frozenset() and state.pending == frozenset()


def test_a_closed_debt_still_owed_is_not_answered_nothing_due(world: World) -> None:
    close_by_api(world)
    world.text("PAY")
    assert "closed" in last_answer(world) and "no balance due" not in last_answer(world)


def test_a_person_pausing_a_debt_does_not_queue_it_for_a_person(world: World) -> None:
    before = read_state(world.db, world.debt_id)
    with world.db.transaction() as session:
        debt = session.get(Debt, world.debt_id)
        assert debt is not None
        change_debt(session, debt, DebtChange.PAUSED, now=world.clock.now(), actor="user:agent-1")
    after = read_state(world.db, world.debt_id)
    assert after.status == "paused" and after.needs_review
    assert after.needs_attention is before.needs_attention is False
