"""Twilio delivery-status callbacks, and a person's verdict on a parked message."""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.access.deps import CanConfigure, CanView, CanWork
from app.actions.delivery import record_delivery
from app.creditors.models import Creditor
from app.db import is_postgres
from app.deps import ClockDep, SessionDep, SettingsDep, TwilioFormDep
from app.errors import Conflict, NotFound
from app.messaging.gateway import provider_status
from app.messaging.lanes import (
    LaneStatus,
    is_pause_signal,
    lane_key,
    pause_lane,
    resume_deliverability,
    sending_status,
)
from app.messaging.models import Message
from app.messaging.schemas import (
    DeliverabilityOut,
    LaneOut,
    ResumedOut,
    ReviewDecision,
    ReviewedMessage,
    SendingOut,
)
from app.messaging.service import review_parked_message

logger = logging.getLogger("parley.webhooks")

router = APIRouter(tags=["webhooks"])

# Twilio's error codes are five digits; anything that is not a small decimal number is
# ignored rather than stored (the column is a 32-bit integer).
ERROR_CODE = re.compile(r"[0-9]{1,9}")


def twilio_error_code(raw: str | None) -> int | None:
    """The callback's ErrorCode as a number, or None when absent, zero or malformed."""
    if raw is None or not ERROR_CODE.fullmatch(raw.strip()):
        return None
    return int(raw.strip()) or None


@router.post("/webhooks/twilio/status", status_code=204, response_class=Response)
def twilio_status_callback(
    form: TwilioFormDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    mid: str | None = None,
) -> Response:
    """Record a delivery status; out-of-order callbacks never move a message backwards."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    # Locked on PostgreSQL so two callbacks (or a callback and the worker's result) for
    # one message are applied one after the other, never moving it backwards.
    postgres = is_postgres(session)
    message = None
    if sid:
        query = select(Message).where(Message.provider_sid == sid)
        if postgres:
            query = query.with_for_update().execution_options(populate_existing=True)
        message = session.scalars(query).first()
    if message is None and mid:
        # The worker may have died before recording the provider's sid.
        message = session.get(Message, mid, with_for_update=postgres, populate_existing=True)
        if message is not None and message.provider_sid is None and sid:
            try:
                with session.begin_nested():
                    message.provider_sid = sid
                    message.needs_reconcile = False
                    message.reconcile_since = None
                    if message.status == "sending":
                        message.status = "submitted"
                        message.lease_expires_at = None
                    session.flush()
            except IntegrityError:
                # Another row recorded this provider id meanwhile: the callback is about
                # that row (ids are unique), not a reason to answer Twilio 500.
                logger.warning("status callback's sid already held by another message")
                message = session.scalars(
                    select(Message).where(Message.provider_sid == sid)
                ).first()
    if message is None:
        logger.info("status callback for an unknown message", extra={"sid": sid})
        return Response(status_code=204)
    error_code = twilio_error_code(form.get("ErrorCode"))
    if is_pause_signal(error_code, None):
        # The sender's queue overflowed or hit a rate limit: its lane waits a while.
        creditor = session.get(Creditor, message.creditor_id) if message.creditor_id else None
        pause_lane(
            session,
            lane_key(creditor, settings),
            now=clock.now(),
            settings=settings,
            code=error_code,
            reason=f"Twilio error {error_code} on a status callback",
        )
    record_delivery(
        session,
        message,
        provider_status(form.get("MessageStatus") or form.get("SmsStatus")),
        now=clock.now(),
        error_code=error_code or None,
        error_message=f"Twilio error {error_code}" if error_code else None,
    )
    return Response(status_code=204)


@router.post("/api/v1/messages/{message_id}/review", tags=["messages"])
def review_message(
    message_id: str,
    decision: ReviewDecision,
    principal: CanWork,
    session: SessionDep,
    clock: ClockDep,
) -> ReviewedMessage:
    """Settle a message in `needs_review`: the worker could not tell whether an earlier
    attempt reached Twilio and did not guess (its `error_message` says why). Check the
    Twilio console, then answer `sent`, `resend` or `cancel`."""
    postgres = is_postgres(session)
    message = session.get(Message, message_id, with_for_update=postgres, populate_existing=True)
    if message is None or message.creditor_id != principal.creditor.id:
        raise NotFound("no such message", field="message_id")
    if message.status != "needs_review":
        raise Conflict(
            f"only a message in needs_review can be reviewed; this one is {message.status}",
            field="status",
        )
    review_parked_message(
        session,
        message,
        decision.outcome,
        now=clock.now(),
        actor=principal.actor,
        note=decision.note,
    )
    return ReviewedMessage(
        id=message.id,
        status=message.status,
        send_after=message.send_after,
        error_message=message.error_message,
    )


def _lane_out(lane: LaneStatus, per_second: int, per_day: int | None) -> LaneOut:
    return LaneOut(
        key=lane.key,
        paused=lane.paused_until is not None,
        paused_until=lane.paused_until,
        pause_code=lane.pause_code,
        pause_reason=lane.pause_reason,
        messages_per_second=per_second,
        segments_per_day=per_day,
        segments_today=lane.segments_today,
    )


@router.get("/api/v1/sending", tags=["messages"])
def sending(
    principal: CanView, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> SendingOut:
    """What holds this creditor's texts now: its sender's lane (budgets, a pause after
    Twilio said "too fast"), the account's overall rate, the deliverability guard, and
    how many texts wait by `held_reason`."""
    status = sending_status(session, principal.creditor, settings, clock.now())
    guard, figures = status.guard, status.figures
    return SendingOut(
        lane=_lane_out(
            status.lane, settings.lane_messages_per_second, settings.lane_segments_per_day
        ),
        account=_lane_out(status.account, settings.account_messages_per_second, None),
        deliverability=DeliverabilityOut(
            paused=guard is not None,
            paused_since=guard.paused_since if guard else None,
            reason=guard.reason if guard else None,
            sample=guard.sample if guard else figures.sample,
            window=settings.deliverability_sample,
            opt_out_rate=(guard.opted_out / guard.sample if guard.sample else 0.0)
            if guard
            else figures.opt_out_rate,
            filtered_rate=(guard.filtered / guard.sample if guard.sample else 0.0)
            if guard
            else figures.filtered_rate,
            max_opt_out_rate=settings.deliverability_max_opt_out_rate,
            max_filtered_rate=settings.deliverability_max_filtered_rate,
            resumed_at=status.resumed_at,
        ),
        held=status.held,
    )


@router.post("/api/v1/sending/deliverability/resume", tags=["messages"])
def resume_sending(principal: CanConfigure, session: SessionDep, clock: ClockDep) -> ResumedOut:
    """Resume initiated texts the deliverability guard paused (after finding out why so
    many opted out or were filtered): the guard then weighs only texts sent from now on,
    and the held texts become due."""
    released = resume_deliverability(
        session, principal.creditor.id, now=clock.now(), actor=principal.actor
    )
    return ResumedOut(resumed=True, released=released)
