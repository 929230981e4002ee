"""The inbound SMS webhook, the human queue, and reply parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from twilio.twiml.messaging_response import MessagingResponse

from app.access.deps import CanManageDebts, CanView, CanWork
from app.access.principal import Principal
from app.actions.agents import send_agent_message as queue_agent_message
from app.actions.inbox import InboundProcessor
from app.clock import Clock
from app.conversations import agent
from app.conversations.classifier import classify
from app.conversations.inbox import GroupCommitInbox, IncomingText, incoming_from_form
from app.conversations.models import Conversation, InboundText
from app.conversations.schemas import (
    AgentMessageIn,
    ConversationDetail,
    ConversationList,
    ConversationOut,
    InboundTextList,
    InboundTextOut,
    ParseRequest,
    ParseResult,
    SimulatedResult,
    SimulatedSms,
)
from app.debts.models import Debtor
from app.debts.schemas import message_out
from app.deps import ClockDep, SessionDep, SettingsDep, TwilioFormDep
from app.edge import MAX_OFFSET
from app.errors import Forbidden, NotFound, ValidationFailed
from app.messaging.models import CHRONOLOGICAL, Message
from app.phones import PhoneError, normalize_phone

router = APIRouter(tags=["conversations"])


def get_inbound_processor(request: Request) -> InboundProcessor:
    processor: InboundProcessor = request.app.state.inbound_processor
    return processor


InboundProcessorDep = Annotated[InboundProcessor, Depends(get_inbound_processor)]

# The webhook's whole answer: replies go out by the outbox.
EMPTY_TWIML = str(MessagingResponse())

# Routed before every other router (app.main): resolving a path walks the routes in order.
webhook_router = APIRouter(tags=["webhooks"])


@webhook_router.post("/webhooks/twilio/sms", response_class=Response)
async def twilio_inbound_sms(request: Request, form: TwilioFormDep) -> Response:
    """Inbound SMS from Twilio (signature checked). Stored once per MessageSid, then
    acknowledged with an empty <Response/>: a worker handles it and every answer goes
    out through the outbox. Answered only once the text is committed (a database that
    is down answers 503, and Twilio tries the fallback URL)."""
    clock: Clock = request.app.state.clock
    incoming = incoming_from_form(form, clock.now())
    if incoming is None:
        raise ValidationFailed("MessageSid and From are required", field="MessageSid")
    inbox: GroupCommitInbox = request.app.state.inbox
    await inbox.store(incoming)
    return Response(content=EMPTY_TWIML, media_type="text/xml")


@router.post("/simulator/sms", tags=["simulator"])
def simulator_inbound_sms(
    request: Request,
    body: SimulatedSms,
    principal: CanManageDebts,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    processor: InboundProcessorDep,
) -> SimulatedResult:
    """Development only (PARLEY_SMS_GATEWAY=simulator, never in production): a text from
    one of this key's debtors, stored and handled at once, in this request, exactly as a
    worker handles a signed Twilio webhook's text. Returns the answers queued for it."""
    if settings.sms_gateway != "simulator" or settings.environment == "production":
        raise Forbidden("the SMS simulator is only available with PARLEY_SMS_GATEWAY=simulator")
    try:
        phone = normalize_phone(body.from_, principal.creditor.country)
    except PhoneError as exc:
        raise ValidationFailed(str(exc), field="from") from exc
    known = session.scalars(
        select(Debtor.id).where(Debtor.creditor_id == principal.creditor.id, Debtor.phone == phone)
    ).first()
    if known is None:
        raise NotFound("none of this creditor's debtors has that number", field="from")
    now = clock.now()
    sid = "SMsim" + datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    result = processor.handle_now(
        session,
        IncomingText(
            provider_sid=sid, from_phone=phone, to_phone=body.to, body=body.body, received_at=now
        ),
        creditor_id=principal.creditor.id,
    )
    if result is None:
        return SimulatedResult(message_id=None, duplicate=True, intent=None, replies=[])
    replies = [result.twiml_reply] if result.twiml_reply else []
    if result.message_id:
        text = session.get(Message, result.message_id)
        if text is not None and text.debtor_id:
            replies += list(
                session.scalars(
                    select(Message.body)
                    .where(
                        Message.debtor_id == text.debtor_id,
                        Message.direction == "outbound",
                        Message.created_at >= now,
                    )
                    .order_by(Message.created_at)
                )
            )
    return SimulatedResult(
        message_id=result.message_id,
        duplicate=result.duplicate,
        intent=result.intent,
        replies=replies,
    )


@router.post("/api/v1/replies/parse")
def parse_reply(body: ParseRequest, principal: CanView) -> ParseResult:
    """Classify one reply: the same JSON as `parley classify` prints per line."""
    result = classify(body.text, today=body.today, default_language=body.default_language)
    return ParseResult.model_validate({"text": body.text, **result.to_json()})


def _conversation_out(conversation: Conversation, debtor: Debtor) -> ConversationOut:
    return ConversationOut(
        id=conversation.id,
        debtor_id=debtor.id,
        debtor_name=debtor.name,
        debtor_phone=debtor.phone,
        contact_status=debtor.contact_status,
        focus_debt_id=conversation.focus_debt_id,
        needs_attention=conversation.needs_attention,
        attention_reason=conversation.attention_reason,
        last_intent=conversation.last_intent,
        last_inbound_at=conversation.last_inbound_at,
        menu_kind=conversation.menu_kind,
        menu_expires_at=conversation.menu_expires_at,
        handled_at=conversation.handled_at,
        handled_by=conversation.handled_by,
        assigned_to=conversation.assigned_to,
        updated_at=conversation.updated_at,
    )


def _own_conversation(
    session: SessionDep, principal: Principal, conversation_id: str
) -> tuple[Conversation, Debtor]:
    return agent.own_conversation(session, principal.creditor.id, conversation_id)


@router.get("/api/v1/conversations")
def list_conversations(
    principal: CanView,
    session: SessionDep,
    needs_attention: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ConversationList:
    """Conversations, most recent first; `needs_attention=true` is the human queue."""
    query = (
        select(Conversation, Debtor)
        .join(Debtor, Debtor.id == Conversation.debtor_id)
        .where(Conversation.creditor_id == principal.creditor.id)
        .order_by(Conversation.updated_at.desc(), Conversation.id)
        .limit(limit)
        .offset(max(offset, 0))
    )
    if needs_attention is not None:
        query = query.where(Conversation.needs_attention.is_(needs_attention))
    return ConversationList(items=[_conversation_out(c, d) for c, d in session.execute(query)])


@router.get("/api/v1/inbound-texts")
def list_inbound_texts(
    principal: CanView,
    session: SessionDep,
    state: Literal["failed", "processed"] = "failed",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> InboundTextList:
    """This creditor's inbound texts by queue state, newest first; the default,
    `failed`, lists the texts the workers gave up on after PARLEY_INBOUND_MAX_ATTEMPTS
    tries, with the error (their conversations are flagged in the human queue, their
    words kept with its messages). A text belongs to a creditor through the message it
    became; one from a number no creditor knows has none and is listed by nobody."""
    query = (
        select(InboundText, Message, Conversation.id)
        .join(Message, Message.id == InboundText.message_id)
        .outerjoin(Conversation, Conversation.debtor_id == Message.debtor_id)
        .where(Message.creditor_id == principal.creditor.id, InboundText.state == state)
        .order_by(InboundText.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return InboundTextList(
        items=[
            InboundTextOut(
                id=text.id,
                provider_sid=text.provider_sid,
                from_phone=text.from_phone,
                to_phone=text.to_phone,
                body=text.body,
                received_at=text.received_at,
                state=text.state,
                attempts=text.attempts,
                last_error=text.last_error,
                processed_at=text.processed_at,
                message_id=text.message_id,
                debtor_id=message.debtor_id,
                conversation_id=conversation_id,
            )
            for text, message, conversation_id in session.execute(query)
        ]
    )


@router.get("/api/v1/conversations/{conversation_id}")
def read_conversation(
    conversation_id: str, principal: CanView, session: SessionDep
) -> ConversationDetail:
    """One conversation with every message in and out, oldest first."""
    conversation, debtor = _own_conversation(session, principal, conversation_id)
    messages = session.scalars(
        select(Message).where(Message.debtor_id == debtor.id).order_by(*CHRONOLOGICAL)
    )
    return ConversationDetail(
        **_conversation_out(conversation, debtor).model_dump(),
        messages=[message_out(m) for m in messages],
    )


@router.post("/api/v1/conversations/{conversation_id}/messages", status_code=202)
def send_agent_message(
    request: Request,
    conversation_id: str,
    body: AgentMessageIn,
    principal: CanWork,
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, object]:
    """An agent's text to the debtor, through the outbox and the contact rules."""
    conversation, debtor = _own_conversation(session, principal, conversation_id)
    message = queue_agent_message(
        session,
        creditor=principal.creditor,
        conversation=conversation,
        debtor=debtor,
        body=body.body,
        debt_id=body.debt_id,
        now=clock.now(),
        actor=principal.actor,
    )
    return {"message": message_out(message).model_dump(mode="json")}


@router.post("/api/v1/conversations/{conversation_id}/handled")
def mark_handled(
    conversation_id: str, principal: CanWork, session: SessionDep, clock: ClockDep
) -> ConversationOut:
    """Take the conversation out of the human queue."""
    conversation, debtor = _own_conversation(session, principal, conversation_id)
    agent.mark_handled(session, conversation, now=clock.now(), actor=principal.actor)
    return _conversation_out(conversation, debtor)
