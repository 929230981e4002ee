"""A dry run of a creditor's current rules over its portfolio (`parley simulate`, and
`POST /api/v1/simulations`).

The creditor, its offer rules, calendar, debtors, debts, suppressions and the opt-outs
of its numbers are copied into a throw-away SQLite database. The real worker, periodic
jobs (cadence, reminders, plan and promise checks), contact governor and inbound
handling then run there on a simulated clock, against a gateway that delivers at once
and a seeded model of debtors who answer: some pay, some ask for plans or a call, some
promise, some say STOP, most stay silent. Nothing reaches Twilio or the real database.

The report counts what went out (per day, per debtor-local hour), what was held and
why, segments and their cost (PARLEY_SMS_SEGMENT_PRICE_MICRO_USD a segment), the load
on each sending lane against its capacity, and lists every violation: an initiated text
outside the window, over the daily cap of a number, to a number after it opted out, to
a suppressed debtor, or from an agency to a US or Canadian number.

Lane capacity is the sender lane's budget, PARLEY_LANE_MESSAGES_PER_SECOND (no more than
PARLEY_ACCOUNT_MESSAGES_PER_SECOND when that is set). With no budget set (0, the
default) it is an estimate, marked provisional: the worker's guaranteed rate,
PARLEY_SEND_CONCURRENCY sends per PARLEY_SEND_TIMEOUT_SECONDS (each concurrent send
finishes within its timeout). The report says which in `lane_capacity.source`.
"""

from __future__ import annotations

import heapq
import random
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from app.access.deps import CanConfigure
from app.clock import FixedClock
from app.config import Settings
from app.consent.models import ConsentEntry, Suppression
from app.creditors.models import Creditor
from app.db import Base, Database
from app.debts.models import Debt, Debtor, Event
from app.deps import SessionDep, SettingsDep
from app.messaging.gateway import OneByOne, OutboundSMS, ProviderMessage, SendResult
from app.messaging.governor import agency_may_text
from app.messaging.models import Message, PhoneOptOut, SendPriority
from app.payments.models import PaymentCode

MAX_DAYS = 62
SENT = ("submitted", "sent", "delivered", "read", "undelivered")
# The simulated clock jumps to the next thing due (a text, a reply), at least `step` and
# at most JOBS_EVERY at a time; the periodic jobs run every JOBS_EVERY.
JOBS_EVERY = timedelta(hours=1)
# Where each lane's capacity comes from (see the module's docstring).
LANE_CAPACITY_SOURCE = (
    "the worker's guaranteed rate, PARLEY_SEND_CONCURRENCY sends per "
    "PARLEY_SEND_TIMEOUT_SECONDS, shared by every lane (provisional: no lane budget, "
    "PARLEY_LANE_MESSAGES_PER_SECOND, is set)"
)
LANE_BUDGET_SOURCE = (
    "the sender lane's budget, PARLEY_LANE_MESSAGES_PER_SECOND "
    "(no more than PARLEY_ACCOUNT_MESSAGES_PER_SECOND when set)"
)


@dataclass(frozen=True)
class Persona:
    """How one simulated debtor answers the first text they get."""

    name: str
    weight: float
    replies: tuple[str, ...]
    pays: bool = False


PERSONAS = (
    Persona("silent", 0.55, ()),
    Persona("payer", 0.10, ("PAY",), pays=True),
    Persona("planner", 0.10, ("PLAN", "1")),
    Persona("promiser", 0.08, ("I'll pay on Friday",)),
    Persona("caller", 0.07, ("CALL", "A")),
    Persona("stopper", 0.07, ("STOP",)),
    Persona("helper", 0.03, ("who is this?",)),
)


class SimulationGateway(OneByOne):
    """Delivers every text at once and lets the debtor model see it."""

    name = "simulation"

    def __init__(self, on_sent: Callable[[OutboundSMS], None]) -> None:
        self._on_sent = on_sent
        self._count = 0

    def send(self, sms: OutboundSMS) -> SendResult:
        self._count += 1
        self._on_sent(sms)
        return SendResult(f"SMsim{self._count:027d}", "delivered")

    def find_copies(self, sms: OutboundSMS, since: datetime) -> list[ProviderMessage]:
        return []


@dataclass(order=True)
class _Due:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    phone: str = field(compare=False)
    body: str = field(compare=False, default="")


class DebtorModel:
    """Seeded debtor behaviour: each number gets a persona; its replies follow the
    first text it receives, a few minutes to a few hours later."""

    def __init__(self, seed: int, clock: FixedClock) -> None:
        self.rng = random.Random(seed)
        self.clock = clock
        self.personas: dict[str, Persona] = {}
        self.queue: list[_Due] = []
        self._seq = 0

    def persona(self, phone: str) -> Persona:
        if phone not in self.personas:
            self.personas[phone] = self.rng.choices(PERSONAS, weights=[p.weight for p in PERSONAS])[
                0
            ]
        return self.personas[phone]

    def _push(self, at: datetime, kind: str, phone: str, body: str = "") -> None:
        self._seq += 1
        heapq.heappush(self.queue, _Due(at, self._seq, kind, phone, body))

    def saw(self, sms: OutboundSMS) -> None:
        first = sms.to not in self.personas
        persona = self.persona(sms.to)
        if not first:
            return
        at = self.clock.now() + timedelta(minutes=self.rng.randint(3, 360))
        for body in persona.replies:
            self._push(at, "text", sms.to, body)
            at += timedelta(minutes=self.rng.randint(1, 20))
        if persona.pays:
            self._push(at + timedelta(hours=self.rng.randint(1, 48)), "pay", sms.to)

    def due(self, now: datetime) -> list[_Due]:
        items = []
        while self.queue and self.queue[0].at <= now:
            items.append(heapq.heappop(self.queue))
        return items


def _copy_rows(source: Session, target: Session, table: Table, where: Any) -> int:
    rows = [dict(r) for r in source.execute(select(table).where(where)).mappings()]
    for start in range(0, len(rows), 500):
        target.execute(insert(table), rows[start : start + 500])
    return len(rows)


def copy_portfolio(source: Session, target: Session, creditor_id: str) -> None:
    """The creditor, its rules and its portfolio into the throw-away database."""
    tables = Base.metadata.tables
    _copy_rows(source, target, tables["creditors"], tables["creditors"].c.id == creditor_id)
    for name in ("offer_rules", "callback_calendars", "debtors"):
        _copy_rows(source, target, tables[name], tables[name].c.creditor_id == creditor_id)
    rules = select(tables["offer_rules"].c.id).where(
        tables["offer_rules"].c.creditor_id == creditor_id
    )
    versions = tables["offer_rule_versions"]
    _copy_rows(source, target, versions, versions.c.rule_id.in_(rules))
    _copy_rows(
        source,
        target,
        tables["debts"],
        (tables["debts"].c.creditor_id == creditor_id)
        & tables["debts"].c.status.in_(("open", "paused", "disputed", "settled", "closed")),
    )
    _copy_rows(source, target, tables["suppressions"], Suppression.creditor_id == creditor_id)
    phones = select(Debtor.phone).where(Debtor.creditor_id == creditor_id)
    _copy_rows(source, target, tables["phone_opt_outs"], PhoneOptOut.phone.in_(phones))


class SimulationRequest(BaseModel):
    """`POST /api/v1/simulations`."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(ge=1, le=MAX_DAYS)
    start: date | None = None
    seed: int = 0


def run_simulation(
    source: Database | Session,
    creditor_name: str,
    *,
    days: int,
    start: date,
    seed: int,
    settings: Settings,
    step: timedelta = timedelta(minutes=10),
) -> dict[str, Any]:
    """Dry-run `creditor_name`'s rules for `days` from `start` (00:00 UTC) and report.
    `source` is the real database, or a session already open on it (the request's)."""
    from app.main import body_renderers, build_inbound_handler, periodic_jobs
    from app.worker import OutboxWorker

    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}")
    with tempfile.TemporaryDirectory(prefix="parley-sim-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'simulation.db'}"
        sim_settings = settings.model_copy(
            update={
                "database_url": url,
                "sms_gateway": "simulator",
                "jobs_interval_seconds": JOBS_EVERY.total_seconds(),
                "send_concurrency": 1,
            }
        )
        target = Database(url)
        try:
            Base.metadata.create_all(target.engine)
            with target.transaction() as dst:
                if isinstance(source, Session):
                    creditor_id = _copy_named(source, dst, creditor_name)
                else:
                    with source.transaction() as src:
                        creditor_id = _copy_named(src, dst, creditor_name)
            return _simulate(
                target,
                creditor_id,
                days,
                start,
                seed,
                sim_settings,
                step,
                periodic_jobs(),
                body_renderers(),
                build_inbound_handler(sim_settings),
                OutboxWorker,
                report_settings=settings,
            )
        finally:
            target.dispose()


def _copy_named(source: Session, target: Session, creditor_name: str) -> str:
    creditor = source.scalars(select(Creditor).where(Creditor.name == creditor_name)).first()
    if creditor is None:
        raise LookupError(f"no creditor called {creditor_name!r}")
    copy_portfolio(source, target, creditor.id)
    return creditor.id


def _simulate(
    db: Database,
    creditor_id: str,
    days: int,
    start: date,
    seed: int,
    settings: Settings,
    step: timedelta,
    jobs: Any,
    renderers: Any,
    handler: Any,
    worker_class: Any,
    *,
    report_settings: Settings,
) -> dict[str, Any]:
    """Run the copy in `db` on `settings` (the throw-away ones); the report prices and
    sizes lanes with `report_settings` (the real ones)."""
    from app.actions.debts import queue_statement
    from app.actions.payments import receive_payment
    from app.payments.service import PaymentReport

    begin = datetime.combine(start, time(0), tzinfo=UTC)
    clock = FixedClock(begin)
    model = DebtorModel(seed, clock)
    worker = worker_class(db, SimulationGateway(model.saw), clock, settings, jobs, renderers)
    with db.transaction() as session:
        creditor = session.get(Creditor, creditor_id)
        assert creditor is not None
        mode = "cadence" if creditor.cadence_enabled else "one statement to every open debt"
        if not creditor.cadence_enabled:
            for debt in session.scalars(select(Debt).where(Debt.status == "open")):
                debtor = session.get(Debtor, debt.debtor_id)
                if debt.balance > 0 and debtor is not None and debtor.contact_status == "active":
                    queue_statement(session, creditor, debt, now=begin, actor="simulation")
    end = begin + timedelta(days=days)
    sender = settings.twilio_from or "+15005550006"
    inbound_count = 0
    payments = 0
    while clock.now() < end:
        for item in model.due(clock.now()):
            with db.transaction() as session:
                if item.kind == "text":
                    inbound_count += 1
                    handler.handle(
                        session,
                        provider_sid=f"SMin{inbound_count:028d}",
                        from_phone=item.phone,
                        to_phone=sender,
                        body=item.body,
                        now=clock.now(),
                    )
                elif _pay(session, item.phone, clock.now(), receive_payment, PaymentReport):
                    payments += 1
        while worker.run_once():
            pass
        now = clock.now()
        with db.transaction() as session:
            next_send = session.scalar(
                select(func.min(Message.send_after)).where(
                    Message.status.in_(("queued", "scheduled")), Message.send_after > now
                )
            )
        candidates = [now + JOBS_EVERY]
        if next_send is not None:
            candidates.append(next_send)
        if model.queue:
            candidates.append(model.queue[0].at)
        clock.set(max(now + step, min(candidates)))
    return report(
        db, creditor_id, begin, days, mode, inbound_count, payments, settings=report_settings
    )


def _pay(session: Session, phone: str, now: datetime, receive: Any, report_class: Any) -> bool:
    code = session.scalars(
        select(PaymentCode)
        .join(Debt, Debt.id == PaymentCode.debt_id)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .where(Debtor.phone == phone, PaymentCode.status == "active")
        .order_by(PaymentCode.created_at.desc())
    ).first()
    if code is None:
        return False
    receive(
        session,
        report_class(
            payment_id=f"sim-{code.id}",
            reference=code.reference,
            amount=code.amount,
            currency=code.currency,
            paid_at=now,
            raw={},
        ),
        now=now,
    )
    return True


def _local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))


def report(
    db: Database,
    creditor_id: str,
    begin: datetime,
    days: int,
    mode: str,
    inbound: int,
    payments: int,
    *,
    settings: Settings,
) -> dict[str, Any]:
    """The dry run's JSON report, with every violation found in what was sent."""
    with db.transaction() as session:
        creditor = session.get(Creditor, creditor_id)
        assert creditor is not None
        debtors = {d.id: d for d in session.scalars(select(Debtor))}
        outbound = list(
            session.scalars(
                select(Message)
                .where(Message.direction == "outbound", Message.creditor_id == creditor_id)
                .order_by(Message.sent_at, Message.id)
            )
        )
        revocations: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for entry in session.scalars(
            select(ConsentEntry)
            .where(ConsentEntry.event.in_(("revocation", "opt_in")))
            .order_by(ConsentEntry.effective_at)
        ):
            revocations[entry.phone].append((entry.effective_at, entry.event))
        suppressions = list(session.scalars(select(Suppression)))
        first_hold: dict[str, str] = {}
        for event in session.scalars(
            select(Event).where(Event.kind.in_(("message.scheduled", "message.canceled")))
        ):
            reason = (event.data or {}).get("held_reason")
            if event.to_value and reason:
                first_hold.setdefault(event.to_value, reason)
        start_h, end_h = (
            time.fromisoformat(creditor.contact_window_start),
            time.fromisoformat(creditor.contact_window_end),
        )
        sent = [m for m in outbound if m.status in SENT and m.sent_at is not None]
        by_hour: Counter[str] = Counter({str(h): 0 for h in range(24)})
        by_day: Counter[str] = Counter()
        per_number_day: Counter[tuple[str, date]] = Counter()
        violations: list[dict[str, Any]] = []
        for message in sent:
            assert message.sent_at is not None
            debtor = debtors.get(message.debtor_id or "")
            zone = debtor.timezone if debtor else "UTC"
            local = _local(message.sent_at, zone)
            by_hour[str(local.hour)] += 1
            by_day[local.date().isoformat()] += 1

            def violation(rule: str, m: Message = message, at: datetime = local) -> None:
                violations.append(
                    {"rule": rule, "message_id": m.id, "kind": m.kind, "local_time": at.isoformat()}
                )

            if creditor.kind == "agency" and not agency_may_text(message.to_phone):
                violation("agency texted a US or Canadian number")
            if message.initiated:
                zones = [zone, *((debtor.other_timezones or []) if debtor else [])]
                for z in zones:
                    wall = _local(message.sent_at, z).time()
                    if not start_h <= wall < end_h:
                        violation("initiated text outside the contact window")
                        break
                per_number_day[(message.to_phone, local.date())] += 1
                if (
                    per_number_day[(message.to_phone, local.date())]
                    > creditor.max_initiated_per_day
                ):
                    violation("over the daily cap of the number")
                for s in suppressions:
                    if (
                        debtor is not None
                        and s.debtor_id == debtor.id
                        and s.starts_at <= message.sent_at
                        and (s.ends_at is None or s.ends_at > message.sent_at)
                        and (s.lifted_at is None or s.lifted_at > message.sent_at)
                    ):
                        violation("initiated text to a suppressed debtor")
            if message.kind != "opt_out_confirmation" and _opted_out_at(
                revocations[message.to_phone], message.sent_at
            ):
                violation("text to a number after it opted out")
        held: Counter[str] = Counter()
        for message in outbound:
            reason = (
                message.held_reason
                if message.status in ("canceled", "scheduled", "queued") and message.held_reason
                else first_hold.get(message.id)
            )
            if reason:
                held[reason] += 1
        segments = sum(m.segments for m in sent)
        price = settings.sms_segment_price_micro_usd
        inbound_at = list(
            session.scalars(
                select(Message.created_at).where(
                    Message.direction == "inbound", Message.creditor_id == creditor_id
                )
            )
        )
        return {
            "creditor": creditor.name,
            "kind": creditor.kind,
            "mode": mode,
            "start": begin.date().isoformat(),
            "days": days,
            "debtors": len(debtors),
            "messages": len(sent),
            "initiated": sum(1 for m in sent if m.initiated),
            "replies": sum(1 for m in sent if not m.initiated),
            "inbound": inbound,
            "payments": payments,
            "still_waiting": sum(1 for m in outbound if m.status in ("queued", "scheduled")),
            "messages_by_day": dict(sorted(by_day.items())),
            "by_local_hour": {str(h): by_hour[str(h)] for h in range(24)},
            "held_by_reason": dict(sorted(held.items())),
            "segments": segments,
            "segment_price_micro_usd": price,
            "estimated_cost_usd": _usd(segments, price),
            "segments_by_kind": _segments_by_kind(sent, price),
            "segments_by_day": _segments_by_day(sent, debtors),
            "expected_replies": {
                "inbound": len(inbound_at),
                "peak_per_hour": _peak(inbound_at, timedelta(hours=1)),
            },
            "lane_capacity": lane_capacity(settings),
            "lanes": _lanes(sent, settings),
            "violations": violations,
        }


def _usd(segments: int, price_micro_usd: int) -> float:
    return round(segments * price_micro_usd / 1_000_000, 2)


def _segments_by_kind(sent: list[Message], price: int) -> dict[str, dict[str, Any]]:
    """Per kind of text (statement, reminder, reply...): texts, segments, cost."""
    texts: Counter[str] = Counter()
    segments: Counter[str] = Counter()
    for message in sent:
        texts[message.kind] += 1
        segments[message.kind] += message.segments
    return {
        kind: {
            "messages": texts[kind],
            "segments": segments[kind],
            "estimated_cost_usd": _usd(segments[kind], price),
        }
        for kind in sorted(texts)
    }


def _segments_by_day(sent: list[Message], debtors: dict[str, Debtor]) -> dict[str, int]:
    """Segments per debtor-local day (the days of `messages_by_day`)."""
    by_day: Counter[str] = Counter()
    for message in sent:
        assert message.sent_at is not None
        debtor = debtors.get(message.debtor_id or "")
        day = _local(message.sent_at, debtor.timezone if debtor else "UTC").date()
        by_day[day.isoformat()] += message.segments
    return dict(sorted(by_day.items()))


def _peak(moments: list[datetime], width: timedelta) -> int:
    """The most of `moments` that fall in one window of `width` (a sliding window)."""
    ordered = sorted(moments)
    best = 0
    first = 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - width:
            first += 1
        best = max(best, last - first + 1)
    return best


def lane_capacity(settings: Settings) -> dict[str, Any]:
    """What one lane can send, and where that figure comes from."""
    budget = settings.lane_messages_per_second
    if budget and settings.account_messages_per_second:
        budget = min(budget, settings.account_messages_per_second)
    provisional = not budget
    per_second = (
        settings.send_concurrency / settings.send_timeout_seconds if provisional else budget
    )
    return {
        "per_second": round(per_second, 3),
        "per_minute": int(per_second * 60),
        "per_hour": int(per_second * 3600),
        "source": LANE_CAPACITY_SOURCE if provisional else LANE_BUDGET_SOURCE,
        "provisional": provisional,
    }


def _lanes(sent: list[Message], settings: Settings) -> dict[str, dict[str, Any]]:
    """Each lane's load (texts, busiest minute and hour) against its capacity: `answer`
    (answers to the debtor's own texts), `notice` (other texts nobody initiated),
    `reminder` (plan, promise and call reminders) and `bulk` (statements, cadence), the
    worker's claim order."""
    capacity = lane_capacity(settings)
    moments: dict[str, list[datetime]] = {p.name.lower(): [] for p in SendPriority}
    for message in sent:
        assert message.sent_at is not None
        try:
            name = SendPriority(message.priority).name.lower()
        except ValueError:
            name = SendPriority.BULK.name.lower()
        moments[name].append(message.sent_at)
    lanes = {}
    for name, at in moments.items():
        minute = _peak(at, timedelta(minutes=1))
        hour = _peak(at, timedelta(hours=1))
        lanes[name] = {
            "messages": len(at),
            "peak_per_minute": minute,
            "peak_per_hour": hour,
            "capacity_per_minute": capacity["per_minute"],
            "capacity_per_hour": capacity["per_hour"],
            "peak_hour_share": round(hour / capacity["per_hour"], 4)
            if capacity["per_hour"]
            else None,
            "fits": minute <= capacity["per_minute"] and hour <= capacity["per_hour"],
        }
    return lanes


def _opted_out_at(history: list[tuple[datetime, str]], at: datetime) -> bool:
    state = False
    for when, event in history:
        if when >= at:
            break
        state = event == "revocation"
    return state


router = APIRouter(prefix="/api/v1/simulations", tags=["simulation"])


@router.post("")
def simulate(
    body: SimulationRequest,
    principal: CanConfigure,
    session: SessionDep,
    request: Request,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Dry-run this creditor's current rules over its portfolio for `days` (nothing is
    sent and the real data is only read); the same report as `parley simulate`."""
    clock = request.app.state.clock
    return run_simulation(
        session,
        principal.creditor.name,
        days=body.days,
        start=body.start or clock.now().date(),
        seed=body.seed,
        settings=settings,
    )
