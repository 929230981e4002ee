"""Twilio delivery-status callbacks."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from sqlalchemy import select

from app.messaging.gateway import provider_status
from app.messaging.models import Message
from app.messaging.service import apply_provider_status
from app.security import ClockDep, SessionDep, TwilioFormDep

logger = logging.getLogger("parley.webhooks")

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/twilio/status", status_code=204, response_class=Response)
def twilio_status_callback(
    form: TwilioFormDep, session: SessionDep, clock: ClockDep, mid: str | None = None
) -> Response:
    """Record a delivery status; out-of-order callbacks never move a message backwards."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    message = None
    if sid:
        message = session.scalars(select(Message).where(Message.provider_sid == sid)).first()
    if message is None and mid:
        # The worker may have died before recording the provider's sid.
        message = session.get(Message, mid)
        if message is not None and message.provider_sid is None and sid:
            message.provider_sid = sid
            message.needs_reconcile = False
            if message.status == "sending":
                message.status = "submitted"
                message.lease_expires_at = None
    if message is None:
        logger.info("status callback for an unknown message", extra={"sid": sid})
        return Response(status_code=204)
    raw_code = form.get("ErrorCode")
    error_code = int(raw_code) if raw_code and raw_code.isdigit() else None
    apply_provider_status(
        session,
        message,
        provider_status(form.get("MessageStatus") or form.get("SmsStatus")),
        now=clock.now(),
        error_code=error_code or None,
        error_message=f"Twilio error {error_code}" if error_code else None,
    )
    return Response(status_code=204)
