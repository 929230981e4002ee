"""The outbox worker: claims due messages, asks the contact governor once more, sends
them through the gateway, and records the outcome.

Claiming and recording are separate short transactions; the provider call happens in
between, outside any transaction. A claim is a lease: a worker that dies mid-send leaves
a `sending` row whose lease runs out, and the next worker first asks the provider
whether that message went out before sending it again.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.actions.delivery import record_delivery
from app.clock import Clock
from app.config import Settings
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debtor
from app.jobs import PeriodicJob
from app.messaging.gateway import GatewayError, OutboundSMS, SendResult, SmsGateway
from app.messaging.governor import REPLY_FRESHNESS, ContactPolicy, decide
from app.messaging.models import PENDING_STATUSES, Message
from app.messaging.service import initiated_counter

logger = logging.getLogger("parley.worker")

# Advisory-lock keys of the periodic jobs (PostgreSQL), one per job position.
JOBS_LOCK_BASE = 0x5041524C  # "PARL"


@dataclass(frozen=True)
class Claimed:
    """A message this worker holds the lease on, with what it needs to send it."""

    sms: OutboundSMS
    reconcile_since: datetime | None
    # The attempt number this claim made; a result is recorded only while it still
    # matches, so a send that outlived its lease cannot overwrite a newer claim.
    attempt: int = 0


def _sid_taken(session: Session, sid: str, message_id: str) -> bool:
    """Whether another message already holds this provider id."""
    owner = session.scalars(select(Message.id).where(Message.provider_sid == sid)).first()
    return owner is not None and owner != message_id


class OutboxWorker:
    """Sends what the outbox holds. Safe to run several at once (on PostgreSQL)."""

    def __init__(
        self,
        db: Database,
        gateway: SmsGateway,
        clock: Clock,
        settings: Settings,
        jobs: list[PeriodicJob] | None = None,
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.clock = clock
        self.settings = settings
        self.jobs = jobs or []
        # Set by whoever queues work, so an idle worker does not wait a full poll.
        self.wakeup = threading.Event()
        self._rng = random.Random()
        self._jobs_ran_at: datetime | None = None

    def status_callback_url(self, message_id: str) -> str:
        """Where Twilio reports delivery; the message id lets a callback find a row whose
        send result was never recorded."""
        return f"{self.settings.public_base}/webhooks/twilio/status?mid={message_id}"

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
                message.lease_expires_at = None
                message.send_after = now
                message.updated_at = now
            return len(stale)

    def claim(self, limit: int | None = None) -> list[Claimed]:
        """Lease up to `limit` due messages that the contact rules let go now."""
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
                .order_by(Message.send_after, Message.id)
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
            for message in messages:
                debtor = debtors.get(message.debtor_id or "")
                creditor = creditors.get(message.creditor_id or "")
                if message.debtor_id and debtor is None and self.db.is_postgres:
                    continue  # its debtor is locked by another transaction: next tick
                if debtor is None or creditor is None:
                    message.status = "canceled"
                    message.error_message = "no debtor for this message"
                    continue
                decision = decide(
                    now=now,
                    contact_status=debtor.contact_status,
                    timezone=debtor.timezone,
                    other_timezones=debtor.other_timezones or (),
                    policy=ContactPolicy.for_debtor(creditor, debtor),
                    kind=message.kind,
                    initiated=message.initiated,
                    is_reply=message.is_reply and now - message.created_at <= REPLY_FRESHNESS,
                    initiated_count_on=initiated_counter(
                        session, debtor, include_pending=False, exclude_id=message.id
                    ),
                )
                message.updated_at = now
                if decision.send_at is None:
                    message.status = "canceled"
                    message.error_message = decision.reason
                    continue
                if decision.send_at > now:
                    message.status = "scheduled"
                    message.send_after = decision.send_at
                    continue
                message.status = "sending"
                message.attempts += 1
                message.lease_expires_at = now + timedelta(
                    seconds=self.settings.worker_lease_seconds
                )
                # Counted against the cap from the moment it is claimed.
                message.sent_at = now
                session.flush()
                claimed.append(
                    Claimed(
                        OutboundSMS(
                            message_id=message.id,
                            to=message.to_phone,
                            body=message.body,
                            media_urls=tuple(message.media_urls or ()),
                            status_callback=self.status_callback_url(message.id),
                        ),
                        message.created_at if message.needs_reconcile else None,
                        message.attempts,
                    )
                )
        return claimed

    def deliver(self, item: Claimed) -> None:
        """Send one claimed message (looking first if an earlier attempt may have
        reached the provider) and record the outcome."""
        try:
            result: SendResult | None = None
            if item.reconcile_since is not None:
                result = self.gateway.find_sent(item.sms, item.reconcile_since)
                if result is not None:
                    with self.db.transaction() as session:
                        if _sid_taken(session, result.provider_sid, item.sms.message_id):
                            # Another message with the same words, not this one's attempt.
                            result = None
            if result is None:
                result = self.gateway.send(item.sms)
        except GatewayError as error:
            self._record_failure(item, error)
            return
        self._record_success(item, result)

    def _locked(self, session: Session, message_id: str) -> Message | None:
        # Row lock on PostgreSQL: status callbacks and results never interleave.
        return session.get(
            Message, message_id, with_for_update=self.db.is_postgres, populate_existing=True
        )

    def _record_success(self, item: Claimed, result: SendResult) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            message = self._locked(session, item.sms.message_id)
            if message is None:
                return
            if message.provider_sid is None and not _sid_taken(
                session, result.provider_sid, message.id
            ):
                message.provider_sid = result.provider_sid
            if message.status == "sending":
                if message.attempts != item.attempt:
                    logger.error(
                        "a send outlived its lease and was claimed again",
                        extra={"message_id": message.id, "attempt": item.attempt},
                    )
                message.status = "submitted"
            message.lease_expires_at = None
            message.needs_reconcile = False
            if result.segments:
                message.segments = result.segments
            message.updated_at = now
            record_delivery(session, message, result.status, now=now, actor="worker")

    def _record_failure(self, item: Claimed, error: GatewayError) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            message = self._locked(session, item.sms.message_id)
            if message is None or message.status != "sending" or message.attempts != item.attempt:
                return
            message.lease_expires_at = None
            message.updated_at = now
            message.needs_reconcile = message.needs_reconcile or error.maybe_sent
            if error.retryable and message.attempts < self.settings.max_send_attempts:
                message.status = "queued"
                message.error_code = error.code
                message.error_message = error.message[:500]
                message.send_after = now + self.backoff(message.attempts)
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
        """Exponential backoff with full jitter: base * 2^(attempt-1), randomised
        between half and the whole, so failing sends don't retry in lockstep."""
        ceiling = self.settings.retry_base_seconds * (2 ** max(attempt - 1, 0))
        ceiling = min(ceiling, 6 * 3600)
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

    def run_once(self) -> int:
        """One tick: release dead leases, run the jobs when their interval has passed,
        claim and send a batch."""
        self.release_expired_leases()
        now = self.clock.now()
        interval = timedelta(seconds=self.settings.jobs_interval_seconds)
        if self._jobs_ran_at is None or now - self._jobs_ran_at >= interval:
            self._jobs_ran_at = now
            self.run_jobs()
        batch = self.claim()
        if len(batch) > 1 and self.settings.send_concurrency > 1:
            # Provider calls are network-bound: send a batch in parallel; each result
            # is recorded in its own short transaction.
            with ThreadPoolExecutor(
                max_workers=min(self.settings.send_concurrency, len(batch)),
                thread_name_prefix="parley-send",
            ) as pool:
                list(pool.map(self.deliver, batch))
        else:
            for item in batch:
                self.deliver(item)
        return len(batch)

    def run_forever(self, stop: threading.Event) -> None:
        """Tick until `stop` is set; an empty tick waits for the poll interval."""
        logger.info("worker started", extra={"gateway": self.gateway.name})
        while not stop.is_set():
            try:
                sent = self.run_once()
            except Exception:
                logger.exception("worker tick failed")
                sent = 0
            if sent == 0 and not stop.is_set():
                self.wakeup.wait(self.settings.worker_poll_seconds)
                self.wakeup.clear()
        logger.info("worker stopped")
