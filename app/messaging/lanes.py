"""Sending lanes and the deliverability guard.

A lane is one sender: a creditor's `twilio_from` or messaging service, or the global
one (creditors sharing a sender share its lane). Every outbound text belongs to its
sender's lane; the worker claims each lane's texts in SendPriority order, so answers
never wait behind reminders, nor reminders behind a statement wave. A lane has budgets
(messages per second, segments per UTC day) and the account has an overall rate
(settings, 0 = no limit); a text over a budget waits with `held_reason=lane_budget`. A
lane that Twilio tells to slow down (HTTP 429 / error 20429, 30001 queue overflow, 63017
rate limit) pauses itself for `lane_pause_seconds` (`lane_paused`); the pause is a
`sending_lanes` row, shown by `GET /api/v1/sending`.

The deliverability guard pauses a creditor's initiated texts (`deliverability`) once,
over its last N initiated texts, too many were followed by an opt-out or filtered by a
carrier (30007). It stays paused until a person resumes it; answers still go."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.creditors.models import Creditor
from app.db import insert_for, is_postgres
from app.events import record_event
from app.messaging.gateway import OPTED_OUT_CODES
from app.messaging.models import DeliverabilityGuard, Message, PhoneOptOut, SendingLane

logger = logging.getLogger("parley.lanes")

ACCOUNT_LANE = "account"
DEFAULT_LANE = "default"
# What Twilio says when a sender goes too fast: too many requests (HTTP 429, error
# 20429), a sender's queue overflowing (30001), a rate limit (63017).
LANE_PAUSE_CODES = frozenset({20429, 30001, 63017})
FILTERED_CODES = frozenset({30007})
# A text's outcome is known once it has left the outbox.
_WEIGHED_STATUSES = ("submitted", "sent", "delivered", "undelivered", "failed", "read")


def lane_key(creditor: Creditor | None, settings: Settings) -> str:
    """The lane a creditor's texts go out in: its own sender, else the global one."""
    service_sid = creditor.twilio_messaging_service_sid if creditor else None
    from_number = creditor.twilio_from if creditor else None
    if service_sid:
        return f"service:{service_sid}"
    if from_number:
        return f"from:{from_number}"
    if settings.twilio_messaging_service_sid:
        return f"service:{settings.twilio_messaging_service_sid}"
    if settings.twilio_from:
        return f"from:{settings.twilio_from}"
    return DEFAULT_LANE


def is_pause_signal(code: int | None, http_status: int | None) -> bool:
    """Whether a provider answer says the sender goes too fast."""
    return http_status == 429 or code in LANE_PAUSE_CODES


def budgets_on(settings: Settings) -> bool:
    return bool(
        settings.lane_messages_per_second
        or settings.lane_segments_per_day
        or settings.account_messages_per_second
    )


def _ensure_rows(session: Session, keys: list[str], now: datetime) -> None:
    """Create the lanes' rows if they are missing (two workers at once store one)."""
    statement = insert_for(session, SendingLane).values(
        [{"key": key, "rate_count": 0, "day_segments": 0, "updated_at": now} for key in keys]
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["key"]))


def pause_lane(
    session: Session, key: str, *, now: datetime, settings: Settings, code: int | None, reason: str
) -> datetime:
    """Pause a lane for `lane_pause_seconds` from now (never shortening a pause);
    returns until when it is paused."""
    _ensure_rows(session, [key], now)
    postgres = is_postgres(session)
    lane = session.get(SendingLane, key, with_for_update=postgres, populate_existing=True)
    assert lane is not None
    until = now + timedelta(seconds=settings.lane_pause_seconds)
    if lane.paused_until is None or _aware(lane.paused_until) < until:
        lane.paused_until = until
    lane.pause_code = code
    lane.pause_reason = reason[:200]
    lane.updated_at = now
    logger.warning("sending lane paused", extra={"lane": key, "code": code})
    return _aware(lane.paused_until)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Hold:
    """Why a claimed text must wait, and until when."""

    reason: str
    until: datetime


class LaneBook:
    """The lanes of one claim, read (and, with budgets on, locked in key order) once
    per batch: `admit` says whether each text may go now and spends the budgets."""

    def __init__(self, session: Session, settings: Settings, now: datetime, keys: set[str]) -> None:
        self.settings = settings
        self.now = now
        self.tracking = budgets_on(settings)
        wanted = sorted(keys | ({ACCOUNT_LANE} if self.tracking else set()))
        postgres = is_postgres(session)
        if self.tracking:
            _ensure_rows(session, wanted, now)
        query = select(SendingLane).where(SendingLane.key.in_(wanted)).order_by(SendingLane.key)
        if self.tracking and postgres:
            # One claim at a time spends a lane's budget (key order: no deadlock).
            query = query.with_for_update()
        self.lanes = {
            lane.key: lane
            for lane in session.scalars(query.execution_options(populate_existing=True))
        }
        self._second = now.replace(microsecond=0)
        self._day = now.astimezone(UTC).date().isoformat()

    def _rate_full(self, lane: SendingLane, per_second: int) -> bool:
        if per_second <= 0:
            return False
        if lane.rate_second is None or _aware(lane.rate_second) != self._second:
            return False
        return lane.rate_count >= per_second

    def _spend_rate(self, lane: SendingLane) -> None:
        if lane.rate_second is None or _aware(lane.rate_second) != self._second:
            lane.rate_second = self._second
            lane.rate_count = 0
        lane.rate_count += 1
        lane.updated_at = self.now

    def _segments_today(self, lane: SendingLane) -> int:
        return lane.day_segments if lane.day == self._day else 0

    def admit(self, key: str, *, segments: int, initiated: bool) -> Hold | None:
        """None when the text may go now (its budgets spent), else why it waits."""
        lane = self.lanes.get(key)
        if lane is not None and lane.paused_until is not None:
            until = _aware(lane.paused_until)
            if until > self.now:
                return Hold("lane_paused", until)
        if not self.tracking:
            return None
        assert lane is not None
        account = self.lanes[ACCOUNT_LANE]
        next_second = self._second + timedelta(seconds=1)
        if self._rate_full(account, self.settings.account_messages_per_second):
            return Hold("lane_budget", next_second)
        if self._rate_full(lane, self.settings.lane_messages_per_second):
            return Hold("lane_budget", next_second)
        budget = self.settings.lane_segments_per_day
        used = self._segments_today(lane)
        if initiated and budget and used and used + segments > budget:
            tomorrow = datetime.combine(
                self.now.astimezone(UTC).date() + timedelta(days=1), time(0), tzinfo=UTC
            )
            return Hold("lane_budget", tomorrow)
        self._spend_rate(account)
        self._spend_rate(lane)
        if lane.day != self._day:
            lane.day = self._day
            lane.day_segments = 0
        lane.day_segments += segments
        return None


# ---------------------------------------------------------------- deliverability guard
@dataclass(frozen=True)
class Deliverability:
    """A creditor's last initiated texts as the guard weighs them."""

    sample: int
    opted_out: int
    filtered: int

    @property
    def opt_out_rate(self) -> float:
        return self.opted_out / self.sample if self.sample else 0.0

    @property
    def filtered_rate(self) -> float:
        return self.filtered / self.sample if self.sample else 0.0


def weigh_deliverability(
    session: Session, creditor_id: str, settings: Settings, since: datetime | None
) -> Deliverability:
    """Over the creditor's last `deliverability_sample` initiated texts that left the
    outbox (after `since`): how many were followed by an opt-out of their number (or
    refused as opted out) and how many a carrier filtered (30007). One query."""
    recent = select(Message.to_phone, Message.sent_at, Message.error_code).where(
        Message.creditor_id == creditor_id,
        Message.initiated.is_(True),
        Message.direction == "outbound",
        Message.sent_at.is_not(None),
        Message.status.in_(_WEIGHED_STATUSES),
    )
    if since is not None:
        recent = recent.where(Message.sent_at > since)
    last = recent.order_by(Message.sent_at.desc()).limit(settings.deliverability_sample).subquery()
    opted = or_(
        last.c.error_code.in_(OPTED_OUT_CODES),
        exists().where(
            and_(PhoneOptOut.phone == last.c.to_phone, PhoneOptOut.opted_out_at >= last.c.sent_at)
        ),
    )
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((opted, 1), else_=0)), 0),
            func.coalesce(func.sum(case((last.c.error_code.in_(FILTERED_CODES), 1), else_=0)), 0),
        ).select_from(last)
    ).one()
    return Deliverability(sample=int(row[0]), opted_out=int(row[1]), filtered=int(row[2]))


def deliverability_guard(
    session: Session, creditor_id: str, settings: Settings, now: datetime
) -> DeliverabilityGuard | None:
    """The creditor's guard when it holds its initiated texts (None when they may go),
    pausing it now if its last texts pass a limit."""
    guard = session.get(DeliverabilityGuard, creditor_id)
    if guard is not None and guard.paused_since is not None:
        return guard
    figures = weigh_deliverability(
        session, creditor_id, settings, guard.resumed_at if guard else None
    )
    if figures.sample < settings.deliverability_sample:
        return None
    reasons = []
    if figures.opt_out_rate > settings.deliverability_max_opt_out_rate:
        reasons.append(
            f"opt-outs {figures.opted_out} of the last {figures.sample} texts "
            f"(limit {settings.deliverability_max_opt_out_rate:.1%})"
        )
    if figures.filtered_rate > settings.deliverability_max_filtered_rate:
        reasons.append(
            f"carrier-filtered (30007) {figures.filtered} of the last {figures.sample} texts "
            f"(limit {settings.deliverability_max_filtered_rate:.1%})"
        )
    if not reasons:
        return None
    if guard is None:
        guard = DeliverabilityGuard(creditor_id=creditor_id, updated_at=now)
        session.add(guard)
    guard.paused_since = now
    guard.reason = ("; ".join(reasons))[:200]
    guard.sample = figures.sample
    guard.opted_out = figures.opted_out
    guard.filtered = figures.filtered
    guard.updated_at = now
    session.flush()
    record_event(
        session,
        creditor_id=creditor_id,
        actor="worker",
        kind="sending.deliverability_paused",
        now=now,
        data={"reason": guard.reason, "sample": figures.sample},
    )
    logger.warning("initiated texts paused by the deliverability guard")
    return guard


def resume_deliverability(session: Session, creditor_id: str, *, now: datetime, actor: str) -> int:
    """A person resumes a creditor's initiated texts: the guard weighs only texts sent
    from now on, and the held ones become due. Returns how many were held."""
    guard = session.get(DeliverabilityGuard, creditor_id)
    if guard is None:
        guard = DeliverabilityGuard(creditor_id=creditor_id, updated_at=now)
        session.add(guard)
    was = guard.paused_since
    guard.paused_since = None
    guard.reason = None
    guard.resumed_at = now
    guard.updated_at = now
    held = list(
        session.scalars(
            select(Message).where(
                Message.creditor_id == creditor_id,
                Message.direction == "outbound",
                Message.status.in_(("queued", "scheduled")),
                Message.held_reason == "deliverability",
            )
        )
    )
    for message in held:
        message.send_after = now
        message.updated_at = now
    session.flush()
    record_event(
        session,
        creditor_id=creditor_id,
        actor=actor,
        kind="sending.deliverability_resumed",
        now=now,
        data={"paused_since": was.isoformat() if was else None, "held": len(held)},
    )
    return len(held)


@dataclass(frozen=True)
class LaneStatus:
    key: str
    paused_until: datetime | None
    pause_code: int | None
    pause_reason: str | None
    segments_today: int


@dataclass(frozen=True)
class SendingStatus:
    """What holds a creditor's texts now: its lane, the account lane, its guard."""

    lane: LaneStatus
    account: LaneStatus
    guard: DeliverabilityGuard | None
    figures: Deliverability
    held: dict[str, int]
    resumed_at: datetime | None


def _lane_status(session: Session, key: str, now: datetime) -> LaneStatus:
    lane = session.get(SendingLane, key)
    paused = lane.paused_until if lane and lane.paused_until and lane.paused_until > now else None
    today = now.astimezone(UTC).date().isoformat()
    return LaneStatus(
        key=key,
        paused_until=paused,
        pause_code=lane.pause_code if lane and paused else None,
        pause_reason=lane.pause_reason if lane and paused else None,
        segments_today=lane.day_segments if lane and lane.day == today else 0,
    )


def sending_status(
    session: Session, creditor: Creditor, settings: Settings, now: datetime
) -> SendingStatus:
    guard = session.get(DeliverabilityGuard, creditor.id)
    since = guard.resumed_at if guard else None
    held = {
        str(reason): int(count)
        for reason, count in session.execute(
            select(Message.held_reason, func.count())
            .where(
                Message.creditor_id == creditor.id,
                Message.direction == "outbound",
                Message.status.in_(("queued", "scheduled")),
                Message.held_reason.is_not(None),
            )
            .group_by(Message.held_reason)
        )
    }
    return SendingStatus(
        lane=_lane_status(session, lane_key(creditor, settings), now),
        account=_lane_status(session, ACCOUNT_LANE, now),
        guard=guard if guard is not None and guard.paused_since is not None else None,
        figures=weigh_deliverability(session, creditor.id, settings, since),
        held=held,
        resumed_at=since,
    )
