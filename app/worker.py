"""The outbox worker: claims due messages (answers first), asks the contact governor
once more, sends them through the gateway, and records the outcome.

Claiming and recording are separate short transactions; the provider call happens in
between, outside any transaction. A claim is a lease: a worker that dies mid-send leaves
a `sending` row whose lease runs out; a worker stopped gracefully hands its leases back.

Exactly once without trusting texts to be unique: after an attempt that may have reached
the provider (a timeout, a reset, a 5xx, a crash) the message is looked up before it is
sent again, and the look-up decides only what it can prove:
- the provider's own answer to the create call, or a status callback (its URL carries
  `?mid=<message id>`), names the provider message for sure;
- otherwise the provider's copies with the same text to the same number, minus those
  other rows already hold, are weighed against the other rows with that text that may
  have reached it: none left means not sent; copies and no rival means this one; as many
  copies as uncertain rows means all of them went; a rival still in flight means wait;
  anything else waits for callbacks and then parks the message (`needs_review`, with
  the reason) for a person. Body and time alone never decide.

Provider outages: failures the provider causes (5xx, 429, timeouts, no connection) do
not spend a message's attempts; they open a circuit breaker that pauses sending and
probes, and a message only expires (`expired`, with why) once its retry window has
passed. The contact rules still decide at every claim, so a retry never goes outside
the debtor's window, and an answer that is no longer fresh waits for the window.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.actions.delivery import record_delivery
from app.actions.inbox import InboundProcessor
from app.clock import Clock
from app.config import Settings
from app.conversations.inbox import INBOUND_CHANNEL
from app.creditors.models import Creditor
from app.db import Database, bulk_update, bulk_update_where, try_lock_keys, update_dirty_in_bulk
from app.debts.models import Debtor
from app.events import record_event
from app.jobs import PeriodicJob
from app.messaging.breaker import CircuitBreaker
from app.messaging.gateway import (
    GatewayError,
    OutboundSMS,
    ProviderMessage,
    SendResult,
    SendStream,
    SmsGateway,
)
from app.messaging.governor import REPLY_FRESHNESS, ContactPolicy, validity_seconds
from app.messaging.lanes import (
    LaneBook,
    deliverability_guard,
    is_pause_signal,
    lane_key,
    pause_lane,
)
from app.messaging.models import NEUTRAL_KIND, PENDING_STATUSES, DeliverabilityGuard, Message
from app.messaging.service import (
    BatchFacts,
    contact_verdict,
    forward_status,
    opted_out_phones,
    sender_key,
)
from app.segments import count_segments

logger = logging.getLogger("parley.worker")

# Advisory-lock keys of the periodic jobs (PostgreSQL), one per job position.
JOBS_LOCK_BASE = 0x5041524C  # "PARL"
# Advisory-lock space (two-key form) of the per-number daily cap locks.
NUMBER_LOCK_SPACE = 0x50484F4E - 2**31  # "PHON", as a signed 32-bit key
# The provider's clock and ours may differ a little; its copy of an attempt is searched
# from this long before the attempt.
LOOKBACK = timedelta(minutes=5)
# Statuses of rows that may still own an unrecorded provider copy.
_UNSETTLED = ("queued", "scheduled", "sending", "needs_review")
MESSAGES = cast(Table, Message.__table__)
# A batch's successes are recorded in groups of this many while the rest still goes out.
RECORD_EVERY = 16


@dataclass(frozen=True)
class Claimed:
    """A message this worker holds the lease on, with what it needs to send it."""

    sms: OutboundSMS
    # An earlier attempt may have reached the provider: look it up before sending.
    reconcile: bool
    # The attempt number this claim made; a result is recorded only while it still
    # matches, so a send that outlived its lease cannot overwrite a newer claim.
    attempt: int
    # Search the provider's copies from here on (None: no look-up needed).
    search_since: datetime | None = None
    # Past this the provider has had its chance: the message expires instead of going.
    retry_until: datetime | None = None
    # When the lease this claim wrote runs out.
    lease_until: datetime | None = None


class Verdict(Enum):
    """What a look-up of earlier attempts concluded."""

    NOT_SENT = "not_sent"  # no attempt reached the provider: send now
    SETTLED = "settled"  # the provider has it; recorded
    WAIT = "wait"  # cannot tell yet: look again later
    PARKED = "parked"  # cannot tell, and waited long enough: a person decides
    STALE = "stale"  # the claim is no longer ours


# Writes a message's body again at send time (other domains register one per message
# kind): the new body, or None when the text no longer has a reason to go.
BodyRenderer = Callable[[Session, Message, datetime], str | None]


def _settled(
    status: str,
    sent_at: datetime | None,
    delivered_at: datetime | None,
    reported: str,
    now: datetime,
) -> dict[str, object]:
    """The columns of a message the provider has (its create call answered, or a
    look-up found its copy): submitted unless a callback already moved it on, its lease
    and look-up cleared, then the provider's status applied as every delivery status
    is (forward only)."""
    if status in _UNSETTLED:
        status = "submitted"
    status, delivered_at, sent_at = forward_status(
        status, reported, delivered_at=delivered_at, sent_at=sent_at or now, now=now
    )
    return {
        "status": status,
        "lease_expires_at": None,
        "needs_reconcile": False,
        "reconcile_since": None,
        "error_code": None,
        "error_message": None,
        "sent_at": sent_at,
        "delivered_at": delivered_at,
        "updated_at": now,
    }


def _settle(message: Message, reported: str, now: datetime) -> None:
    """_settled, written on a loaded row."""
    for name, value in _settled(
        message.status, message.sent_at, message.delivered_at, reported, now
    ).items():
        setattr(message, name, value)


def _unclaim(message: Message, now: datetime) -> None:
    """A claimed row back in the queue: no lease, not counted as sent."""
    message.status = "queued"
    message.lease_expires_at = None
    message.sent_at = None
    message.updated_at = now


class OutboxWorker:
    """Sends what the outbox holds. Safe to run several at once (on PostgreSQL)."""

    def __init__(
        self,
        db: Database,
        gateway: SmsGateway,
        clock: Clock,
        settings: Settings,
        jobs: list[PeriodicJob] | None = None,
        renderers: Mapping[str, BodyRenderer] | None = None,
        *,
        inbound: InboundProcessor | None = None,
    ) -> None:
        self.db = db
        # Handles the inbound texts the webhook stored, before each tick's sending.
        self.inbound = inbound
        self.inbound_handled = 0
        self.gateway = gateway
        self.clock = clock
        self.settings = settings
        self.jobs = jobs or []
        self.renderers = dict(renderers or {})
        # Set by whoever queues work, so an idle worker does not wait a full poll (and,
        # on PostgreSQL, by the listener on every NOTIFY of a stored inbound text).
        self.wakeup = threading.Event()
        # Observable states of run_forever: LISTEN is in place; waiting for work.
        self.listening = threading.Event()
        self.idle = threading.Event()
        self.breaker = CircuitBreaker(
            clock,
            failures=settings.breaker_failures,
            pause=timedelta(seconds=settings.breaker_pause_seconds),
            max_pause=timedelta(seconds=settings.retry_max_delay_seconds),
        )
        self._rng = random.Random()
        self._jobs_ran_at: datetime | None = None
        # Claims not yet recorded (message id -> claim), and which of them already went
        # to the provider: a graceful stop hands them back (see release_held).
        self._held_lock = threading.Lock()
        self._held: dict[str, Claimed] = {}
        self._started: set[str] = set()
        # The next batch, claimed while the last one went out (see _send_batch).
        self._ahead: list[Claimed] = []
        self._stopping = threading.Event()

    def status_callback_url(self, message_id: str) -> str:
        """Where Twilio reports delivery; the message id lets a callback find a row whose
        send result was never recorded."""
        return f"{self.settings.public_base}/webhooks/twilio/status?mid={message_id}"

    @property
    def _reconcile_after(self) -> timedelta:
        return timedelta(seconds=self.settings.reconcile_after_seconds)

    def release_expired_leases(self) -> int:
        """Return `sending` rows whose worker vanished to the queue, marked for a lookup."""
        now = self.clock.now()
        with self.db.transaction() as session:
            query = select(Message).where(
                Message.status == "sending", Message.lease_expires_at < now
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            stale = list(session.scalars(query))
            for message in stale:
                message.status = "queued"
                message.needs_reconcile = True
                if message.reconcile_since is None:
                    message.reconcile_since = message.sent_at or now
                message.lease_expires_at = None
                message.send_after = now
                message.updated_at = now
            return len(stale)

    def claim(self, limit: int | None = None) -> list[Claimed]:
        """Lease up to `limit` due messages that the contact rules let go now, answers to
        the debtors' own texts first (SendPriority), then the longest waiting."""
        now = self.clock.now()
        limit = limit or self.settings.worker_batch_size
        claimed: list[Claimed] = []
        with self.db.transaction() as session:
            query = (
                select(Message)
                .where(
                    Message.direction == "outbound",
                    Message.status.in_(PENDING_STATUSES),
                    Message.send_after <= now,
                )
                .order_by(Message.priority, Message.send_after, Message.id)
                .limit(limit)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            messages = list(session.scalars(query))
            if not messages:
                return []
            debtor_ids = sorted({m.debtor_id for m in messages if m.debtor_id})
            # Lock the debtors so two workers cannot both spend one debtor's daily cap.
            # SKIP LOCKED: a debtor busy elsewhere (a STOP being recorded) keeps its
            # messages queued for the next tick instead of waiting, so a worker holding
            # message locks never waits on a debtor lock (no deadlock with webhooks).
            # NO KEY UPDATE does not conflict with the key-share locks of inserts.
            debtor_query = select(Debtor).where(Debtor.id.in_(debtor_ids)).order_by(Debtor.id)
            if self.db.is_postgres:
                debtor_query = debtor_query.with_for_update(skip_locked=True, key_share=True)
            debtors = {d.id: d for d in session.scalars(debtor_query)}
            creditor_ids = {m.creditor_id for m in messages if m.creditor_id}
            creditors = {
                c.id: c
                for c in session.scalars(select(Creditor).where(Creditor.id.in_(creditor_ids)))
            }
            # Creditors sharing a sender have one debtor row each for a shared number:
            # the number itself is locked too, so their workers never both spend its cap.
            # A number another worker holds waits for the next tick (a try-lock, so a
            # claim never waits and never deadlocks).
            capped_phones = try_lock_keys(
                session, NUMBER_LOCK_SPACE, {m.to_phone for m in messages if m.initiated}
            )
            facts = BatchFacts(session, phones=capped_phones, debtor_ids=debtor_ids, now=now)
            lanes = LaneBook(
                session,
                self.settings,
                now,
                {lane_key(c, self.settings) for c in creditors.values()},
            )
            guards: dict[str, DeliverabilityGuard | None] = {}
            for message in messages:
                debtor = debtors.get(message.debtor_id or "")
                creditor = creditors.get(message.creditor_id or "")
                if message.debtor_id and debtor is None and self.db.is_postgres:
                    continue  # its debtor is locked by another transaction: next tick
                if message.initiated and message.to_phone not in capped_phones:
                    continue  # another worker is spending this number's cap: next tick
                if debtor is None or creditor is None:
                    if message.debtor_id is None and message.kind == NEUTRAL_KIND:
                        neutral = self._claim_neutral(session, message, now)
                        if neutral is not None:
                            claimed.append(neutral)
                        continue
                    message.status = "canceled"
                    message.error_message = "no debtor for this message"
                    continue
                decision = contact_verdict(
                    session,
                    creditor=creditor,
                    debtor=debtor,
                    kind=message.kind,
                    initiated=message.initiated,
                    is_reply=message.is_reply and now - message.created_at <= REPLY_FRESHNESS,
                    now=now,
                    planning=False,
                    exclude_id=message.id,
                    message_id=message.id,
                    facts=facts,
                )
                message.updated_at = now
                message.held_reason = decision.held_reason
                if decision.send_at is None:
                    message.status = "canceled"
                    message.error_message = decision.reason
                    continue
                if decision.send_at > now:
                    message.status = "scheduled"
                    message.send_after = decision.send_at
                    continue
                if message.initiated:
                    if creditor.id not in guards:
                        guards[creditor.id] = deliverability_guard(
                            session, creditor.id, self.settings, now
                        )
                    if guards[creditor.id] is not None:
                        message.status = "scheduled"
                        message.held_reason = "deliverability"
                        message.send_after = now + timedelta(
                            seconds=self.settings.deliverability_recheck_seconds
                        )
                        continue
                validity: int | None = None
                if message.initiated:
                    validity = validity_seconds(
                        at=now,
                        zones=[
                            ZoneInfo(debtor.timezone),
                            *(ZoneInfo(z) for z in debtor.other_timezones or ()),
                        ],
                        policy=ContactPolicy.for_debtor(creditor, debtor),
                    )
                renderer = self.renderers.get(message.kind)
                if renderer is not None and not message.needs_reconcile:
                    # Wording that depends on the day ("due today", "N days ago", the
                    # balance) is written now, not when the text was queued.
                    body = renderer(session, message, now)
                    if body is None:
                        message.status = "canceled"
                        message.held_reason = "canceled"
                        message.error_message = "nothing left to say (debt no longer due)"
                        continue
                    if body != message.body:
                        info = count_segments(body)
                        message.body = body
                        message.segments = info.segments
                        message.encoding = info.encoding
                hold = lanes.admit(
                    lane_key(creditor, self.settings),
                    segments=message.segments,
                    initiated=message.initiated,
                )
                if hold is not None:
                    message.status = "scheduled"
                    message.held_reason = hold.reason
                    message.send_after = hold.until
                    continue
                service_sid, from_number = sender_key(creditor)
                if not service_sid:
                    # Which of our numbers wrote to the debtor: their answer comes back
                    # to it, and inbound routing reads it.
                    message.from_phone = from_number or (
                        None
                        if self.settings.twilio_messaging_service_sid
                        else self.settings.twilio_from
                    )
                message.status = "sending"
                message.attempts += 1
                message.lease_expires_at = now + timedelta(
                    seconds=self.settings.worker_lease_seconds
                )
                # Counted against the cap from the moment it is claimed.
                message.sent_at = now
                facts.counted(message)
                claimed.append(
                    Claimed(
                        OutboundSMS(
                            message_id=message.id,
                            to=message.to_phone,
                            body=message.body,
                            media_urls=tuple(message.media_urls or ()),
                            status_callback=self.status_callback_url(message.id),
                            validity_period=validity,
                            from_number=from_number,
                            messaging_service_sid=service_sid,
                        ),
                        reconcile=message.needs_reconcile,
                        attempt=message.attempts,
                        search_since=(message.reconcile_since or message.created_at) - LOOKBACK
                        if message.needs_reconcile
                        else None,
                        retry_until=message.retry_until,
                        lease_until=message.lease_expires_at,
                    )
                )
            # The batch's leases (and holds) in one statement per shape of change, not
            # an UPDATE per row at the commit's flush.
            update_dirty_in_bulk(session, (Message,))
        with self._held_lock:
            for item in claimed:
                self._held[item.sms.message_id] = item
        return claimed

    def _claim_neutral(self, session: Session, message: Message, now: datetime) -> Claimed | None:
        """Lease the answer to a sender Parley does not know (a row with no debtor). It
        answers their own text, so no window or daily cap applies; a number that opted
        out gets nothing, and an answer no longer fresh is dropped (their time zone is
        unknown, so it cannot wait for a lawful hour). It leaves from the number they
        wrote to."""
        message.updated_at = now
        if opted_out_phones(session, [message.to_phone]):
            message.status = "canceled"
            message.held_reason = "opted_out"
            message.error_message = "the number opted out"
            return None
        if now - message.created_at > REPLY_FRESHNESS:
            message.status = "canceled"
            message.held_reason = "canceled"
            message.error_message = "an answer to an unknown sender no longer fresh"
            return None
        message.held_reason = None
        from_number = message.from_phone or self.settings.twilio_from
        service_sid = None if message.from_phone else self.settings.twilio_messaging_service_sid
        message.status = "sending"
        message.attempts += 1
        message.lease_expires_at = now + timedelta(seconds=self.settings.worker_lease_seconds)
        message.sent_at = now
        session.flush()
        return Claimed(
            OutboundSMS(
                message_id=message.id,
                to=message.to_phone,
                body=message.body,
                status_callback=self.status_callback_url(message.id),
                from_number=None if service_sid else from_number,
                messaging_service_sid=service_sid,
            ),
            reconcile=message.needs_reconcile,
            attempt=message.attempts,
            search_since=(message.reconcile_since or message.created_at) - LOOKBACK
            if message.needs_reconcile
            else None,
            retry_until=message.retry_until,
            lease_until=message.lease_expires_at,
        )

    # ------------------------------------------------------------------ delivering
    def deliver(self, item: Claimed) -> None:
        """Send one claimed message (looking first if an earlier attempt may have
        reached the provider) and record the outcome."""
        try:
            self._deliver(item)
        finally:
            self._release(item)

    def _release(self, item: Claimed) -> None:
        with self._held_lock:
            self._held.pop(item.sms.message_id, None)
            self._started.discard(item.sms.message_id)

    def _deliver(self, item: Claimed) -> None:
        """Send `item` and record what happened."""
        if not self._may_send(item):
            return
        with self._held_lock:
            self._started.add(item.sms.message_id)
        try:
            result = self.gateway.send(item.sms)
        except GatewayError as error:
            self._failed(item, error)
            return
        self.breaker.record_success()
        self._record_success(item, result)

    def _may_send(self, item: Claimed) -> bool:
        """Whether `item` goes to the provider now: an earlier attempt that may have
        reached it is looked up first (and decides), and a message past its retry window
        expires instead."""
        if self.breaker.is_paused():
            # The provider went down while this batch was out: wait for it, unsent.
            self._requeue(item, self.breaker.open_until or self.clock.now(), "provider paused")
            return False
        if item.reconcile:
            try:
                copies = self.gateway.find_copies(item.sms, item.search_since or self.clock.now())
            except GatewayError as error:
                if error.provider_down:
                    self.breaker.record_failure()
                self._requeue(item, self.clock.now() + self.backoff(item.attempt), str(error))
                return False
            self.breaker.record_success()
            verdict = self._decide(item, copies)
            if verdict is not Verdict.NOT_SENT:
                return False
        if item.retry_until is not None and self.clock.now() >= item.retry_until:
            self._expire(item)
            self.breaker.release_probe()  # the provider was not asked
            return False
        return True

    def _failed(self, item: Claimed, error: GatewayError) -> None:
        if error.provider_down:
            self.breaker.record_failure()
        self._record_failure(item, error)

    def _locked(self, session: Session, message_id: str) -> Message | None:
        # Row lock on PostgreSQL: status callbacks and results never interleave.
        return session.get(
            Message, message_id, with_for_update=self.db.is_postgres, populate_existing=True
        )

    def _own(self, session: Session, item: Claimed) -> Message | None:
        """The claimed row, locked, while this claim still holds it."""
        message = self._locked(session, item.sms.message_id)
        if message is None or message.status != "sending" or message.attempts != item.attempt:
            return None
        return message

    def _decide(self, item: Claimed, copies: list[ProviderMessage]) -> Verdict:
        """Weigh the provider's copies of this text against the rows that may own them
        (see the module docstring). A unique-index race on the provider id (another
        worker recording the same copy at this instant) means: look again."""
        try:
            with self.db.transaction() as session:
                return self._decide_in(session, item, copies)
        except IntegrityError:
            logger.warning(
                "provider id recorded by another message meanwhile; looking again",
                extra={"message_id": item.sms.message_id},
            )
            self._requeue(item, self.clock.now(), "provider id race", reconcile=True)
            return Verdict.WAIT
        except OperationalError:
            # A deadlock or lock timeout against another look-up of the same group.
            logger.warning(
                "look-up collided with another; looking again",
                extra={"message_id": item.sms.message_id},
            )
            self._requeue(item, self._look_again(self.clock.now()), "look-up collision")
            return Verdict.WAIT

    def _look_again(self, now: datetime) -> datetime:
        """When an undecided look-up is tried again (jittered, so rivals drift apart)."""
        return now + self._reconcile_after * self._rng.uniform(1.0, 1.5)

    def _decide_in(self, session: Session, item: Claimed, copies: list[ProviderMessage]) -> Verdict:
        now = self.clock.now()
        message = self._own(session, item)
        if message is None:
            return Verdict.STALE
        held: set[str] = set()
        if copies:
            held = {
                sid
                for sid in session.scalars(
                    select(Message.provider_sid).where(
                        Message.provider_sid.in_([c.provider_sid for c in copies])
                    )
                )
                if sid is not None
            }
        free = [c for c in copies if c.provider_sid not in held]
        if not free:
            return Verdict.NOT_SENT
        since = item.search_since or message.created_at
        rival_filter = (
            Message.direction == "outbound",
            Message.to_phone == message.to_phone,
            Message.body == message.body,
            Message.id != message.id,
            Message.provider_sid.is_(None),
            Message.status.in_(_UNSETTLED),
            Message.created_at >= since - LOOKBACK,
        )
        media = list(message.media_urls or ())
        candidates = [
            m
            for m in session.scalars(select(Message).where(*rival_filter))
            if (m.status == "sending" or m.needs_reconcile) and list(m.media_urls or ()) == media
        ]
        if not candidates:
            if len(free) > 1:
                logger.error(
                    "the provider holds several unrecorded copies of one message",
                    extra={"message_id": message.id, "copies": len(free)},
                )
            self._adopt(session, message, free[0], now)
            return Verdict.SETTLED
        if any(m.status == "sending" and not m.needs_reconcile for m in candidates):
            # A rival's first send is in flight: its own answer will name its copy.
            self._wait(message, now, self._look_again(now), "a same-text send in flight")
            return Verdict.WAIT
        key = (message.created_at, message.id)
        if any(m.status == "sending" and (m.created_at, m.id) < key for m in candidates):
            # An older row of the group is being looked up right now: it decides for all
            # (one decider, so two look-ups never wait on each other for ever).
            self._wait(message, now, self._look_again(now), "an older same-text row decides")
            return Verdict.WAIT
        group_query = (
            select(Message)
            .where(Message.id.in_([m.id for m in candidates]))
            .order_by(Message.created_at, Message.id)
        )
        if self.db.is_postgres:
            group_query = group_query.with_for_update()
        rivals = list(session.scalars(group_query.execution_options(populate_existing=True)))
        rivals = [
            m
            for m in rivals
            if m.provider_sid is None
            and m.status in _UNSETTLED
            and (m.status == "sending" or m.needs_reconcile)
        ]
        if len(rivals) != len(candidates):
            # One of them was settled meanwhile: weigh again with what is known now.
            self._wait(message, now, now, "a same-text row changed meanwhile")
            return Verdict.WAIT
        group = sorted([message, *rivals], key=lambda m: (m.created_at, m.id))
        if len(free) == len(group):
            # Every uncertain row reached the provider once: all of them went. Which copy
            # is whose among identical texts to one number does not change what the
            # debtor got; a status callback names its own row in any case.
            for row, copy in zip(group, free, strict=True):
                self._adopt(session, row, copy, now)
            logger.info(
                "same-text messages accounted for together",
                extra={"message_id": message.id, "messages": len(group)},
            )
            return Verdict.SETTLED
        started = message.reconcile_since or now
        reason = (
            f"{len(group)} messages with this text to this number may have reached the "
            f"provider, which holds {len(free)} unrecorded copies: which went cannot be told"
        )
        if now < started + timedelta(seconds=self.settings.review_after_seconds):
            self._wait(message, now, self._look_again(now), reason)
            return Verdict.WAIT
        message.status = "needs_review"
        message.lease_expires_at = None
        message.error_message = reason[:500]
        message.updated_at = now
        if message.creditor_id:
            record_event(
                session,
                creditor_id=message.creditor_id,
                actor="worker",
                kind="message.needs_review",
                now=now,
                debt_id=message.debt_id,
                debtor_id=message.debtor_id,
                to_value=message.id,
                data={"reason": reason},
            )
        logger.warning(
            "message parked for review", extra={"message_id": message.id, "rows": len(group)}
        )
        return Verdict.PARKED

    def _adopt(
        self, session: Session, message: Message, copy: ProviderMessage, now: datetime
    ) -> None:
        """Record that `copy` is this message's send (found by the look-up)."""
        message.provider_sid = copy.provider_sid
        session.flush()  # a provider id another row holds fails here, in _decide's care
        _settle(message, copy.status, now)

    def _wait(self, message: Message, now: datetime, until: datetime, reason: str) -> None:
        message.status = "queued"
        message.lease_expires_at = None
        message.send_after = until
        message.sent_at = None
        message.updated_at = now
        logger.info("look-up undecided, will look again", extra={"message_id": message.id})

    def _requeue(
        self, item: Claimed, until: datetime, reason: str, *, reconcile: bool = False
    ) -> None:
        """Give a claim back to the queue without a verdict (list failed, provider
        paused, a race): nothing is known that was not known before."""
        now = self.clock.now()
        with self.db.transaction() as session:
            message = self._own(session, item)
            if message is None:
                return
            message.status = "queued"
            message.lease_expires_at = None
            message.send_after = until
            message.sent_at = None
            message.needs_reconcile = message.needs_reconcile or reconcile
            message.updated_at = now
        logger.info("claim handed back", extra={"message_id": item.sms.message_id, "why": reason})

    def _expire(self, item: Claimed) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            message = self._own(session, item)
            if message is None:
                return
            reason = (
                "expired: the provider did not take it before its retry deadline "
                f"({item.retry_until:%Y-%m-%d %H:%M} UTC)"
                + (f"; last error: {message.error_message}" if message.error_message else "")
            )
            message.status = "expired"
            message.lease_expires_at = None
            message.sent_at = None
            message.error_message = reason[:500]
            message.updated_at = now
            if message.creditor_id:
                record_event(
                    session,
                    creditor_id=message.creditor_id,
                    actor="worker",
                    kind="message.expired",
                    now=now,
                    debt_id=message.debt_id,
                    debtor_id=message.debtor_id,
                    to_value=message.id,
                    data={"reason": reason},
                )
        logger.warning("message expired unsent", extra={"message_id": item.sms.message_id})

    def _record_success(self, item: Claimed, result: SendResult) -> None:
        """The provider's answer to the create call: this copy is this message's. Two
        rows recording one provider id at once hit the unique index: try again, and
        the second sees the first."""
        for _ in range(3):
            try:
                self._record_batch([(item, result)], careful=True)
                return
            except IntegrityError:
                logger.warning(
                    "provider id recorded twice at once; retrying",
                    extra={"message_id": item.sms.message_id},
                )
        self._record_batch([(item, result)], careful=True)

    def _record_successes(self, sent: list[tuple[Claimed, SendResult]]) -> None:
        """Record a batch's successes in one transaction (see _record_batch). Should the
        batch fail (a provider id recorded by another row at this instant), each is
        recorded on its own, with the provider ids checked first."""
        if not sent:
            return
        try:
            self._record_batch(sent)
            return
        except (IntegrityError, OperationalError):
            logger.warning("recording a batch of sends failed; recording them one by one")
        for item, result in sent:
            try:
                self._record_success(item, result)
            except Exception:
                # Its lease runs out and a look-up finds the provider's copy.
                logger.exception(
                    "could not record a send", extra={"message_id": item.sms.message_id}
                )

    def _record_batch(
        self, sent: list[tuple[Claimed, SendResult]], *, careful: bool = False
    ) -> None:
        """The provider's answers to create calls, in one transaction: first the rows
        still as their claim left them (_record_fresh, unless `careful`), then the rest
        (a status callback came first, the claim was taken over), and every row when
        `careful`, in three statements over plain rows: the rows locked (in id order,
        as every multi-row lock here), the provider ids checked, and one UPDATE of them
        all."""
        now = self.clock.now()
        by_id = {item.sms.message_id: (item, result) for item, result in sent}
        with self.db.transaction() as session:
            if not careful:
                for message_id in self._record_fresh(session, by_id, now):
                    del by_id[message_id]
                if not by_id:
                    return
            query = (
                select(
                    Message.id,
                    Message.status,
                    Message.attempts,
                    Message.provider_sid,
                    Message.segments,
                    Message.sent_at,
                    Message.delivered_at,
                )
                .where(Message.id.in_(sorted(by_id)))
                .order_by(Message.id)
            )
            if self.db.is_postgres:
                query = query.with_for_update()
            rows = session.execute(query).all()
            holders = {
                sid: owner
                for sid, owner in session.execute(
                    select(Message.provider_sid, Message.id).where(
                        Message.provider_sid.in_({r.provider_sid for _, r in by_id.values()})
                    )
                )
            }
            updates: list[dict[str, object]] = []
            for message_id, status, attempts, provider_sid, segments, sent_at, delivered in rows:
                item, result = by_id[message_id]
                if provider_sid is None:
                    holder = holders.get(result.provider_sid)
                    if holder is not None and holder != message_id:
                        logger.error(
                            "provider id already held by another message",
                            extra={"message_id": message_id},
                        )
                    else:
                        provider_sid = result.provider_sid
                if status == "sending" and attempts != item.attempt:
                    logger.error(
                        "a send outlived its lease and was claimed again",
                        extra={"message_id": message_id, "attempt": item.attempt},
                    )
                updates.append(
                    {
                        "id": message_id,
                        "provider_sid": provider_sid,
                        "segments": result.segments or segments,
                        **_settled(status, sent_at, delivered, result.status, now),
                    }
                )
            bulk_update(session, MESSAGES, updates)

    def _record_fresh(
        self,
        session: Session,
        by_id: Mapping[str, tuple[Claimed, SendResult]],
        now: datetime,
    ) -> set[str]:
        """One UPDATE of the rows still as their claim left them (this claim's attempt,
        still sending, no provider id yet): nothing about them needs reading. Returns
        the ids it recorded. A row that two sends answer with one provider id fails the
        whole statement on the unique index (the caller then records each on its own,
        the careful way)."""
        # Grouped by whether the provider counted the segments (one gateway always
        # does, or never): the rows of one statement have the same columns.
        fresh: dict[bool, list[dict[str, object]]] = {}
        for message_id, (item, result) in sorted(by_id.items()):
            row: dict[str, object] = {
                "id": message_id,
                "attempts": item.attempt,
                "provider_sid": result.provider_sid,
                **_settled("sending", None, None, result.status, now),
            }
            if result.segments is not None:
                row["segments"] = result.segments
            fresh.setdefault(result.segments is not None, []).append(row)
        recorded: set[str] = set()
        for rows in fresh.values():
            recorded |= bulk_update_where(
                session,
                MESSAGES,
                rows,
                match=("attempts",),
                only={"status": "sending", "provider_sid": None},
                fill=("sent_at", "delivered_at"),
            )
        return recorded

    def _record_failure(self, item: Claimed, error: GatewayError) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            message = self._own(session, item)
            if message is None:
                return
            message.lease_expires_at = None
            message.updated_at = now
            if error.maybe_sent:
                message.needs_reconcile = True
                message.reconcile_since = message.reconcile_since or message.sent_at or now
            if is_pause_signal(error.code, error.http_status):
                # Twilio says this sender goes too fast: its whole lane waits a while.
                creditor = session.get(Creditor, message.creditor_id or "")
                until = pause_lane(
                    session,
                    lane_key(creditor, self.settings),
                    now=now,
                    settings=self.settings,
                    code=error.code or error.http_status,
                    reason=error.message,
                )
                if message.retry_until is None:
                    message.retry_until = now + timedelta(
                        seconds=self.settings.retry_window_seconds
                    )
                message.status = "queued"
                message.error_code = error.code
                message.error_message = error.message[:500]
                message.send_after = min(until, max(message.retry_until, now))
                message.held_reason = "lane_paused"
                message.sent_at = None
                return
            counted_out = (
                not error.provider_down and message.attempts >= self.settings.max_send_attempts
            )
            if error.retryable and not counted_out:
                if message.retry_until is None:
                    message.retry_until = now + timedelta(
                        seconds=self.settings.retry_window_seconds
                    )
                delay = self.backoff(message.attempts)
                if error.maybe_sent and error.http_status is None:
                    # No answer at all: let a slow provider finish before looking it up.
                    delay = max(delay, self._reconcile_after)
                message.status = "queued"
                message.error_code = error.code
                message.error_message = error.message[:500]
                message.send_after = min(now + delay, max(message.retry_until, now))
                message.held_reason = "provider_retry"
                message.sent_at = None
                logger.warning(
                    "send failed, will retry",
                    extra={
                        "message_id": message.id,
                        "attempt": message.attempts,
                        "code": error.code,
                        "http_status": error.http_status,
                    },
                )
                return
            logger.warning(
                "send failed for good",
                extra={
                    "message_id": message.id,
                    "code": error.code,
                    "http_status": error.http_status,
                },
            )
            # The shared path also applies what the error code says about the number.
            record_delivery(
                session,
                message,
                "failed",
                now=now,
                error_code=error.code,
                error_message=error.message[:500],
                actor="worker",
            )

    def backoff(self, attempt: int) -> timedelta:
        """Exponential backoff with full jitter: base * 2^(attempt-1) up to
        retry_max_delay_seconds, randomised between half and the whole, so failing
        sends don't retry in lockstep."""
        ceiling = self.settings.retry_base_seconds * (2 ** min(max(attempt - 1, 0), 30))
        ceiling = min(ceiling, self.settings.retry_max_delay_seconds)
        return timedelta(seconds=self._rng.uniform(ceiling / 2, ceiling))

    def run_jobs(self) -> None:
        """Run each registered periodic job in its own transaction. On PostgreSQL a job
        runs in one worker at a time (an advisory lock), so several workers never send
        the same reminder twice; SQLite's write lock serialises them anyway."""
        for index, job in enumerate(self.jobs):
            try:
                with self.db.transaction() as session:
                    if self.db.is_postgres and not session.scalar(
                        text("SELECT pg_try_advisory_xact_lock(:key)"),
                        {"key": JOBS_LOCK_BASE + index},
                    ):
                        continue
                    job(session, self.clock.now(), self.settings)
            except Exception:
                logger.exception("periodic job failed", extra={"job": getattr(job, "__name__", "")})

    def handle_inbound(self) -> int:
        """Handle a batch of the inbound texts the webhook stored (app.actions.inbox):
        per number, in arrival order, each marked processed with its effects."""
        self.inbound_handled = 0
        if self.inbound is None or self._stopping.is_set():
            return 0
        try:
            self.inbound_handled = self.inbound.process_batch(
                self.settings.worker_batch_size, stop=self._stopping.is_set
            )
        except Exception:
            logger.exception("inbound step failed")
        return self.inbound_handled

    def run_once(self) -> int:
        """One tick: release dead leases, run the jobs when their interval has passed,
        handle a batch of inbound texts, claim and send a batch (a single probe while
        the provider is paused). Returns how many messages it claimed to send
        (`inbound_handled`: how many inbound texts it handled)."""
        self.release_expired_leases()
        now = self.clock.now()
        interval = timedelta(seconds=self.settings.jobs_interval_seconds)
        if self._jobs_ran_at is None or now - self._jobs_ran_at >= interval:
            self._jobs_ran_at = now
            self.run_jobs()
        self.handle_inbound()
        with self._held_lock:
            # Claimed during the last tick; still ours unless handed back meanwhile.
            ahead = [item for item in self._ahead if item.sms.message_id in self._held]
            self._ahead = []
        if self._stopping.is_set():
            return 0
        full = self.settings.worker_batch_size
        allowance = len(ahead) or self.breaker.allowance(full)
        if allowance == 0:
            return 0
        if not ahead:
            batch = self.claim(allowance)
        elif self._leases_have_room(ahead, self.clock.now()):
            batch = ahead
        else:
            batch = self._renewed(ahead)
        if not batch:
            self.breaker.release_probe()
            return 0
        # While the provider is probed (a paused breaker's allowance), nothing is
        # claimed ahead: the probe's answer decides first.
        self._send_batch(batch, claim_ahead=allowance == full)
        return len(batch)

    def _leases_have_room(self, claims: list[Claimed], now: datetime) -> bool:
        """Whether the leases of `claims` still outlast a whole batch's sends from `now`
        (as the settings check for a fresh claim). Until then no other worker can have
        taken them over: release_expired_leases only takes expired ones."""
        done_by = now + timedelta(seconds=self.settings.batch_send_limit_seconds)
        return all(item.lease_until is not None and done_by <= item.lease_until for item in claims)

    def _renewed(self, ahead: list[Claimed]) -> list[Claimed]:
        """A batch claimed during the last tick whose leases no longer have room, renewed
        as it starts to go out (so a lease still outlasts the batch's own sends, as the
        settings check), minus any claim that is no longer this worker's."""
        now = self.clock.now()
        until = now + timedelta(seconds=self.settings.worker_lease_seconds)
        claims = sorted((item.sms.message_id, item.attempt) for item in ahead)
        with self.db.transaction() as session:
            ours = set(
                session.scalars(
                    update(Message)
                    .where(
                        tuple_(Message.id, Message.attempts).in_(claims),
                        Message.status == "sending",
                    )
                    .values(lease_expires_at=until)
                    .returning(Message.id)
                    .execution_options(synchronize_session=False)
                )
            )
        for item in ahead:
            if item.sms.message_id not in ours:
                self._release(item)
        return [item for item in ahead if item.sms.message_id in ours]

    def _send_batch(self, batch: list[Claimed], *, claim_ahead: bool = False) -> None:
        """Send a batch: what may go now (_sendable), then the gateway sends it, up to
        send_concurrency at once, and hands back each outcome as it comes
        (_take_outcomes). With `claim_ahead`, the next batch is claimed while this one
        goes out (the claim's database time overlaps the provider's; the next tick
        sends it)."""
        to_send = self._sendable(batch)

        def before(sms: OutboundSMS) -> bool:
            # In the gateway's own thread, just before the provider is asked.
            if self._stopping.is_set() or self.breaker.is_paused():
                return False
            with self._held_lock:
                self._started.add(sms.message_id)
            return True

        stream = self.gateway.send_batch(
            [item.sms for item in to_send.values()],
            concurrency=self.settings.send_concurrency,
            before=before,
        )
        if claim_ahead and to_send and not self._stopping.is_set():
            try:
                ahead = self.claim()
            except Exception:
                logger.exception("claiming the next batch failed")
                ahead = []
            with self._held_lock:
                self._ahead = ahead
        self._take_outcomes(stream, to_send)

    def _sendable(self, batch: list[Claimed]) -> dict[str, Claimed]:
        """The claims of `batch` that go to the provider now, by message id: earlier
        attempts looked up first (from up to send_concurrency threads: each look-up is
        a provider call); the others (paused, settled by their look-up, expired) are
        requeued or recorded and released."""
        to_send: dict[str, Claimed] = {}
        for item in batch:
            if item.reconcile:
                continue
            go = False
            try:
                go = self._may_send(item)
            except Exception:
                logger.exception("send failed unexpectedly")  # its lease runs out
            if go:
                to_send[item.sms.message_id] = item
            else:
                self._release(item)
        for item in self._looked_up([item for item in batch if item.reconcile]):
            to_send[item.sms.message_id] = item
        return to_send

    def _take_outcomes(self, stream: SendStream, to_send: dict[str, Claimed]) -> None:
        """Record each outcome of a batch as it comes: successes in groups of
        RECORD_EVERY (one transaction each, see _record_successes) while the rest still
        goes out, failures each in their own. The wait ends early on shutdown(): a hung
        provider never holds up a stop (what is still out is handed back, see
        release_held)."""
        sent: list[tuple[Claimed, SendResult]] = []
        quiet_since = time.monotonic()
        handed_back = False
        try:
            for outcome in stream:
                if outcome is None:
                    if self._stopping.is_set():
                        break
                    if (
                        not handed_back
                        and time.monotonic() - quiet_since >= self.settings.worker_poll_seconds
                    ):
                        # The provider is slow to answer: what was claimed ahead goes
                        # to another worker rather than wait behind this batch.
                        handed_back = True
                        self._hand_back_ahead()
                    continue
                quiet_since = time.monotonic()
                sms, result = outcome
                item = to_send[sms.message_id]
                if result is None:
                    if not self._stopping.is_set():  # else handed back by release_held
                        # The provider went down while this batch was out: wait for it.
                        self._requeue(
                            item, self.breaker.open_until or self.clock.now(), "provider paused"
                        )
                        self._release(item)
                elif isinstance(result, GatewayError):
                    try:
                        self._failed(item, result)
                    except Exception:
                        logger.exception("could not record a failed send")  # lease runs out
                    finally:
                        self._release(item)
                else:
                    self.breaker.record_success()
                    sent.append((item, result))
                    if len(sent) >= RECORD_EVERY:
                        group, sent = sent, []
                        self._record_held(group)
                if self._stopping.is_set():
                    break
        finally:
            stream.close()
            self._record_held(sent)

    def _record_held(self, sent: list[tuple[Claimed, SendResult]]) -> None:
        try:
            self._record_successes(sent)
        finally:
            for item, _ in sent:
                self._release(item)

    def _looked_up(self, items: list[Claimed]) -> list[Claimed]:
        """Of `items` (each with an earlier attempt that may have reached the provider),
        those to send now: looked up from up to send_concurrency threads, the others
        settled, requeued or parked by their look-up and released."""
        if not items:
            return []
        pending = list(items)
        lock = threading.Lock()
        chosen: list[Claimed] = []

        def looker() -> None:
            while True:
                with lock:
                    if not pending or self._stopping.is_set():
                        return
                    item = pending.pop(0)
                go = False
                try:
                    go = self._may_send(item)
                except Exception:
                    logger.exception("look-up failed unexpectedly")
                with lock:
                    if go:
                        chosen.append(item)
                if not go:
                    self._release(item)

        threads = [
            threading.Thread(target=looker, name="parley-look-up", daemon=True)
            for _ in range(min(self.settings.send_concurrency, len(items)))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive() and not self._stopping.is_set():
                thread.join(timeout=0.1)
        with lock:
            return list(chosen)

    def shutdown(self) -> None:
        """Ask the worker to stop now (a signal handler may call it): no new claims, the
        current batch is abandoned, and run_forever hands back what it still holds."""
        self._stopping.set()
        self.wakeup.set()

    def _hand_back_ahead(self) -> None:
        """Give the batch claimed ahead back to the queue as if it had never been
        claimed (its attempt not spent: nothing of it reached the provider), so that
        an idle worker sends it now."""
        with self._held_lock:
            ahead, self._ahead = self._ahead, []
        if not ahead:
            return
        now = self.clock.now()
        released = 0
        try:
            with self.db.transaction() as session:
                for item in ahead:
                    message = self._own(session, item)
                    if message is not None:
                        _unclaim(message, now)
                        message.attempts -= 1
                        released += 1
        except Exception:
            # Still claimed: it goes after this batch, as without the hand-back.
            logger.exception("could not hand back the batch claimed ahead")
            with self._held_lock:
                self._ahead = ahead
            return
        for item in ahead:
            self._release(item)
        logger.info("claimed-ahead batch handed back", extra={"released": released})

    def release_held(self) -> int:
        """Hand back every claim this worker still holds (a graceful stop): unsent ones
        go straight back to the queue, ones whose provider call had started are marked
        for a look-up (it may have reached the provider), so no lease is left to run
        out."""
        with self._held_lock:
            held = list(self._held.values())
            started = set(self._started)
            self._ahead = []
        if not held:
            return 0
        now = self.clock.now()
        released = 0
        with self.db.transaction() as session:
            for item in held:
                message = self._own(session, item)
                if message is None:
                    continue
                _unclaim(message, now)
                if item.sms.message_id in started:
                    message.needs_reconcile = True
                    message.reconcile_since = message.reconcile_since or now
                    message.send_after = now + self._reconcile_after
                else:
                    message.send_after = now
                released += 1
        logger.info("worker stopped: claims handed back", extra={"released": released})
        return released

    def _listen(self, stop: threading.Event) -> None:
        """PostgreSQL: wake at once when a webhook stored an inbound text (LISTEN on the
        channel the inbox NOTIFYs after each commit); polling stays the safety net."""
        self.db.listen(INBOUND_CHANNEL, self.wakeup.set, stop, listening=self.listening)

    def run_forever(self, stop: threading.Event) -> None:
        """Tick until `stop` is set (or shutdown() is called); a tick that found nothing
        to do waits for a wake-up (work queued in this process, a NOTIFY on PostgreSQL)
        or the poll interval. On the way out every claim still held is handed back."""
        logger.info("worker started", extra={"gateway": self.gateway.name})

        def stopping() -> bool:
            return stop.is_set() or self._stopping.is_set()

        listener_stop = threading.Event()
        if self.inbound is not None and self.db.is_postgres:
            threading.Thread(
                target=self._listen, args=(listener_stop,), name="parley-listen", daemon=True
            ).start()
        try:
            while not stopping():
                # Cleared before the tick: a wake-up during it makes the next one start
                # at once instead of being lost.
                self.wakeup.clear()
                try:
                    sent = self.run_once()
                except Exception:
                    logger.exception("worker tick failed")
                    sent = 0
                if sent == 0 and self.inbound_handled == 0 and not stopping():
                    self.idle.set()
                    self.wakeup.wait(self.settings.worker_poll_seconds)
                    self.idle.clear()
        finally:
            listener_stop.set()
        self._stopping.set()
        try:
            self.release_held()
        except Exception:
            logger.exception("could not hand back claims; their leases will run out")
        logger.info("worker stopped")
