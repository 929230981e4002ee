"""Inbound texts, top to bottom: a worker hands each stored text (the webhook only
queues it, see app.actions.inbox) to `InboundHandler.handle`,
which stores it once per MessageSid, finds who sent it (app.conversations.service),
understands it (the classifier), and answers according to the number's state, the debt's
state and the intent — through the desks (PAY, PLAN, CALL), the lifecycle cascades
(STOP, START, PAID, DISPUTE, WRONG_NUMBER) and the outbox (every answer)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.actions import replies
from app.actions.debts import queue_statement
from app.actions.desks import Desks
from app.actions.lifecycle import DebtChange, NumberChange, change_debt, change_number
from app.actions.reply import ReplyContext
from app.config import Settings
from app.consent.ledger import record_opt_in, record_revocation
from app.conversations.classifier import Classification, Intent, classify
from app.conversations.models import Conversation, Promise
from app.conversations.promises import cancel_open_promises
from app.conversations.service import (
    active_debts_by_debtor,
    choose_debtor,
    conversations_by_debtor,
    debtors_by_phone,
    find_debtor,
    focus_debt,
    get_conversation,
    start_conversation,
)
from app.creditors.models import Creditor
from app.db import is_postgres, new_id, queued_work
from app.debts.models import Debt, Debtor
from app.events import record_event
from app.messaging.models import NEUTRAL_KIND, Message, SendPriority
from app.messaging.service import (
    clear_opt_out,
    opted_out_phones,
    read_ahead_suppressions,
    record_opt_out,
)
from app.money import format_money
from app.offers.queries import read_ahead_plans
from app.offers.service import read_ahead_rules
from app.payments.service import read_ahead_codes
from app.phones import PhoneError, normalize_phone
from app.segments import count_segments
from app.texts import format_local_date, normalize_language, render, supported_language

logger = logging.getLogger("parley.conversations")

NEUTRAL_REPLY_EVERY = timedelta(hours=24)


@dataclass
class InboundResult:
    """What handling a text did. Every answer goes by the outbox; `twiml_reply` (an
    inline answer) is never set by the engine today."""

    message_id: str | None
    duplicate: bool = False
    intent: str | None = None
    twiml_reply: str | None = None


@dataclass
class Known:
    """What handling a group of texts needs to know about their senders, read for the
    whole group at once (InboundHandler.preload): each number's debtors (locked), their
    conversations, active debts and creditors, and the MessageSids already stored. A
    handler given it reads none of these per text, and writes the inbound message and
    a new conversation with the next flush instead of in savepoints of their own: a
    group is one unit of work, retried text by text when any of it fails
    (app.actions.inbox)."""

    debtors: dict[str, list[Debtor]]
    conversations: dict[str, Conversation]
    debts: dict[str, list[Debt]]
    stored_sids: set[str]
    creditors: list[Creditor]


@functools.lru_cache(maxsize=8192)
def _stored_phone(phone: str, region: str) -> str:
    # A group's numbers are read for its look-ups and again for each text, and every
    # text names one of the creditors' few own numbers: parsed once each.
    try:
        return normalize_phone(phone, region)
    except PhoneError:
        return phone


# What a debtor whose debt is under dispute can still do; everything else is answered
# "under review" (collection waits for a person's decision).
WHILE_DISPUTED = frozenset(
    {Intent.CALL, Intent.CHOICE, Intent.HELP, Intent.UNKNOWN, Intent.PREFERENCE}
)


class InboundHandler:
    """Answers every intent; PAY, PLAN and CALL through the desks."""

    def __init__(self, desks: Desks, settings: Settings) -> None:
        self.desks = desks
        self.settings = settings
        self._handlers: dict[Intent, Callable[[ReplyContext], None]] = {
            Intent.PAY: self._pay,
            Intent.PLAN: self._plan,
            Intent.CALL: self._call,
            Intent.CHOICE: self._choice,
            Intent.PROMISE: self._promise,
            Intent.HARDSHIP: self._hardship,
            Intent.STATEMENT: self._statement,
            Intent.PAID: self._paid,
            Intent.DISPUTE: self._dispute,
            Intent.WRONG_NUMBER: self._wrong_number,
            Intent.HELP: self._help,
            Intent.PREFERENCE: replies.answer_preference,
            Intent.UNKNOWN: self._unknown,
        }

    def handle(
        self,
        session: Session,
        *,
        provider_sid: str,
        from_phone: str,
        to_phone: str,
        body: str,
        now: datetime,
        creditor_id: str | None = None,
        known: Known | None = None,
    ) -> InboundResult:
        """Store the inbound message exactly once (a retried webhook with the same
        MessageSid changes nothing) and answer it. `known`: the group's context read
        beforehand (see Known; `creditor_id` is not used with it)."""
        phone = self.sender_phone(from_phone)
        to_number = self.sender_phone(to_phone)
        if known is not None:
            debtor = choose_debtor(session, known.debtors.get(phone, []), to_number)
        else:
            # One text of a number at a time on PostgreSQL: two STOPs arriving together
            # confirm once.
            debtor = find_debtor(
                session, phone, creditor_id, lock=is_postgres(session), to_phone=to_number
            )
        if known is not None and provider_sid in known.stored_sids:
            logger.info("duplicate inbound webhook", extra={"sid": provider_sid})
            return InboundResult(None, duplicate=True)
        info = count_segments(body)
        inbound = Message(
            id=new_id(),
            creditor_id=debtor.creditor_id if debtor else None,
            debtor_id=debtor.id if debtor else None,
            direction="inbound",
            kind="inbound",
            initiated=False,
            body=body,
            to_phone=to_phone,
            from_phone=phone,
            # The columns the answers set, set here too (to their defaults): the flush
            # then writes a group's messages in one statement, not one each.
            media_urls=None,
            is_reply=False,
            priority=int(SendPriority.BULK),
            status="received",
            provider_sid=provider_sid,
            segments=info.segments,
            encoding=info.encoding,
            attempts=0,
            needs_reconcile=False,
            created_at=now,
            updated_at=now,
        )
        if known is not None:
            session.add(inbound)
        else:
            try:
                with session.begin_nested():
                    session.add(inbound)
                    session.flush()
            except IntegrityError:
                logger.info("duplicate inbound webhook", extra={"sid": provider_sid})
                return InboundResult(None, duplicate=True)
        if debtor is None:
            return self._unknown_sender(session, inbound, now)
        zone = ZoneInfo(debtor.timezone)
        local_today = now.astimezone(zone).date()
        classification = classify(
            body, today=local_today, default_language=debtor.language.split("-")[0]
        )
        inbound.intent = classification.intent.value
        inbound.language = classification.language
        if known is None:
            conversation = get_conversation(session, debtor, now)
        else:
            found = known.conversations.get(debtor.id)
            conversation = found or start_conversation(session, debtor, now)
            known.conversations[debtor.id] = conversation
        previous_intent = conversation.last_intent
        conversation.last_inbound_at = now
        conversation.last_intent = classification.intent.value
        conversation.updated_at = now
        creditor = session.get(Creditor, debtor.creditor_id)
        assert creditor is not None
        debt = focus_debt(
            session, debtor, conversation, known.debts.get(debtor.id) if known else None
        )
        inbound.debt_id = debt.id if debt else None
        ctx = ReplyContext(
            session=session,
            settings=self.settings,
            creditor=creditor,
            debtor=debtor,
            conversation=conversation,
            debt=debt,
            inbound=inbound,
            classification=classification,
            now=now,
            local_today=local_today,
            previous_intent=previous_intent,
        )
        self._follow_language(ctx)
        self.dispatch(ctx)
        return InboundResult(inbound.id, intent=classification.intent.value)

    def sender_phone(self, phone: str) -> str:
        """A number as stored (E.164), or as given when it is not one."""
        return _stored_phone(phone, self.settings.default_region)

    def preload(self, session: Session, texts: list[tuple[str, str]], now: datetime) -> Known:
        """Known for a group of texts, given as (MessageSid, From) pairs, to be handled
        at `now`: nine queries whatever the group's size, the senders' debtors and their
        active debts locked (PostgreSQL) in id order."""
        phones = {self.sender_phone(phone) for _, phone in texts}
        debtors = debtors_by_phone(session, phones, lock=is_postgres(session))
        ids = [debtor.id for found in debtors.values() for debtor in found]
        creditor_ids = sorted(
            {debtor.creditor_id for found in debtors.values() for debtor in found}
        )
        # Held by Known, so that session.get finds them in the identity map (which keeps
        # only the objects something refers to).
        creditors = (
            list(session.scalars(select(Creditor).where(Creditor.id.in_(creditor_ids))))
            if creditor_ids
            else []
        )
        sids = [sid for sid, _ in texts]
        stored = set(
            session.scalars(select(Message.provider_sid).where(Message.provider_sid.in_(sids)))
        )
        # The debts locked as PAY locks them (in id order), in the same statement.
        debts = active_debts_by_debtor(session, ids, lock=True)
        debt_ids = [debt.id for found in debts.values() for debt in found]
        # What the desks look up for each text, read ahead for all (app.read_ahead).
        read_ahead_suppressions(session, ids, now)
        read_ahead_plans(session, debt_ids)
        read_ahead_rules(session, creditor_ids)
        read_ahead_codes(session, debt_ids)
        return Known(
            debtors=debtors,
            conversations=conversations_by_debtor(session, ids),
            debts=debts,
            stored_sids={sid for sid in stored if sid},
            creditors=creditors,
        )

    def dispatch(self, ctx: ReplyContext) -> None:
        """Answer one understood reply according to the number's state and its intent."""
        intent = ctx.classification.intent
        status = ctx.debtor.contact_status
        if intent is Intent.STOP:
            self._stop(ctx)
            return
        if intent is Intent.START:
            self._start(ctx)
            return
        if status != "active":
            # Opted out, wrong or invalid: the words are kept, nothing is sent.
            return
        accepted = replies.as_menu_acceptance(ctx)
        if accepted is not None:
            ctx.classification = accepted
            ctx.inbound.intent = Intent.CHOICE.value
            intent = Intent.CHOICE
        elif (
            intent is Intent.UNKNOWN
            and ctx.classification.affirmative
            and replies.show_menu_again(ctx, lead="menu_which")
        ):
            # "yes" to a menu of several options: which one? The menu again.
            return
        elif intent is Intent.UNKNOWN and ctx.classification.courtesy:
            replies.answer_courtesy(ctx)
            return
        if ctx.debt is not None and replies.answers_paid_question(ctx):
            replies.record_paid_date(ctx, ctx.classification.paid_on)  # type: ignore[arg-type]
            return
        if ctx.debt is None and intent not in (
            Intent.HELP,
            Intent.WRONG_NUMBER,
            Intent.STOP,
            Intent.PREFERENCE,
        ):
            # No debt being collected, paused or disputed: "nothing due" only when that is
            # true (a debt closed with money still owed is not "nothing due").
            closed_owing = ctx.session.scalars(
                select(Debt.id).where(
                    Debt.debtor_id == ctx.debtor.id, Debt.status == "closed", Debt.balance > 0
                )
            ).first()
            ctx.reply(ctx.text("account_closed" if closed_owing else "nothing_due"))
            if intent in (Intent.DISPUTE, Intent.PAID, Intent.UNKNOWN):
                ctx.flag(f"{intent.value.lower()} with no open debt")
            return
        if ctx.debt is not None and ctx.debt.status == "disputed":
            self._while_disputed(ctx)
            return
        self._handlers[intent](ctx)

    def _while_disputed(self, ctx: ReplyContext) -> None:
        """The debt is under review after a dispute: the truth, and a call if asked."""
        intent = ctx.classification.intent
        if intent is Intent.CHOICE and ctx.conversation.menu_kind == "plan":
            intent = Intent.PLAN
        if intent in WHILE_DISPUTED or intent is Intent.WRONG_NUMBER:
            self._handlers[intent](ctx)
            return
        if intent is Intent.DISPUTE:
            ctx.reply(ctx.text("dispute_noted"))
            return
        ctx.close_menu()
        ctx.reply(ctx.text("under_review"))
        if intent is Intent.PAID:
            ctx.flag("says the disputed debt is already paid")

    # ---------------------------------------------------------------- intents
    def _follow_language(self, ctx: ReplyContext) -> None:
        """A debtor who writes in another of our languages is answered in it."""
        c = ctx.classification
        if c.intent in (Intent.CHOICE, Intent.UNKNOWN) or c.confidence < 0.8:
            return
        if c.intent in (Intent.STOP, Intent.START):
            # STOP and START are the same words everywhere: they say nothing about the
            # language, and the confirmation goes in the debtor's own.
            return
        language = supported_language(c.language)
        if language and language != ctx.debtor.language:
            record_event(
                ctx.session,
                creditor_id=ctx.creditor.id,
                actor="debtor",
                kind="debtor.language",
                now=ctx.now,
                debtor_id=ctx.debtor.id,
                from_value=ctx.debtor.language,
                to_value=language,
            )
            ctx.debtor.language = language

    def _stop(self, ctx: ReplyContext) -> None:
        already = ctx.debtor.contact_status == "opted_out"
        # In the debtor's exact words, whatever they were: the classifier understood
        # a revocation, which holds at once for every creditor texting the number.
        revocation = record_revocation(
            ctx.session,
            phone=ctx.debtor.phone,
            creditor_id=ctx.creditor.id,
            channel="sms",
            words=ctx.inbound.body,
            message_id=ctx.inbound.id,
            now=ctx.now,
            actor="debtor",
        )
        change_number(
            ctx.session,
            ctx.debtor,
            NumberChange.OPTED_OUT,
            now=ctx.now,
            actor="debtor",
            reason=f"replied {ctx.inbound.body.strip()[:20]!r}",
            source_message_id=ctx.inbound.id,
        )
        ctx.close_menu()
        if not already and ctx.debtor.contact_status == "opted_out":
            # The one confirmation the rules allow.
            confirmation = ctx.reply(ctx.text("opt_out_confirmation"), kind="opt_out_confirmation")
            revocation.confirmation_message_id = confirmation.id

    def _start(self, ctx: ReplyContext) -> None:
        was_opted_out = ctx.debtor.contact_status == "opted_out"
        record_opt_in(
            ctx.session,
            phone=ctx.debtor.phone,
            creditor_id=ctx.creditor.id,
            words=ctx.inbound.body,
            message_id=ctx.inbound.id,
            now=ctx.now,
        )
        change_number(
            ctx.session,
            ctx.debtor,
            NumberChange.OPTED_IN,
            now=ctx.now,
            actor="debtor",
            reason="replied START",
        )
        if was_opted_out:
            ctx.reply(ctx.text("opt_in_confirmation"))

    def _pay(self, ctx: ReplyContext) -> None:
        ctx.close_menu()
        self.desks.payments.answer_pay(ctx)

    def _plan(self, ctx: ReplyContext) -> None:
        self.desks.plans.offer_plans(ctx, terms=ctx.classification.terms)

    def _hardship(self, ctx: ReplyContext) -> None:
        self.desks.plans.offer_plans(
            ctx,
            intro=render("hardship_intro", ctx.language),
            terms=ctx.classification.terms,
            hardship=True,
        )

    def _call(self, ctx: ReplyContext) -> None:
        c = ctx.classification
        self.desks.callbacks.offer_callbacks(ctx, c.requested_date, c.requested_time)

    def _choice(self, ctx: ReplyContext) -> None:
        conversation = ctx.conversation
        option = conversation.menu_option(ctx.classification.choice or "", ctx.now)
        if option is None and conversation.menu_is_open(ctx.now) and replies.show_menu_again(ctx):
            return
        if option is None:
            # A choice with no open menu (or not on it) is not understood.
            ctx.inbound.intent = Intent.UNKNOWN.value
            self._unknown(ctx)
            return
        if conversation.menu_debt_id:
            menu_debt = ctx.session.get(Debt, conversation.menu_debt_id)
            if menu_debt is None or menu_debt.debtor_id != ctx.debtor.id:
                # The debt moved to another debtor since the menu went out.
                ctx.close_menu()
                ctx.inbound.intent = Intent.UNKNOWN.value
                self._unknown(ctx)
                return
            ctx.debt = menu_debt
        if conversation.menu_kind == "plan":
            self.desks.plans.choose_plan(ctx, option)
        else:
            self.desks.callbacks.choose_slot(ctx, option)

    def _promise(self, ctx: ReplyContext) -> None:
        assert ctx.debt is not None
        debt = ctx.debt
        amount = format_money(debt.balance, debt.currency, ctx.language)
        when = ctx.classification.promise_date
        if when is None:
            ctx.reply(ctx.text("promise_ask_date", amount=amount))
            return
        if when < ctx.local_today:
            ctx.reply(ctx.text("promise_past", amount=amount))
            return
        cancel_open_promises(
            ctx.session, debt.id, now=ctx.now, actor="debtor", reason="replaced by a new promise"
        )
        promise = Promise(
            creditor_id=ctx.creditor.id,
            debtor_id=ctx.debtor.id,
            debt_id=debt.id,
            promised_date=when,
            balance_at_promise=debt.balance,
            status="open",
            source_message_id=ctx.inbound.id,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        ctx.session.add(promise)
        record_event(
            ctx.session,
            creditor_id=ctx.creditor.id,
            actor="debtor",
            kind="promise.created",
            now=ctx.now,
            debt_id=debt.id,
            debtor_id=ctx.debtor.id,
            to_value=when.isoformat(),
        )
        ctx.reply(
            ctx.text("promise_ack", amount=amount, date=format_local_date(when, ctx.language))
        )

    def _statement(self, ctx: ReplyContext) -> None:
        assert ctx.debt is not None
        message = queue_statement(
            ctx.session, ctx.creditor, ctx.debt, now=ctx.now, actor="debtor", is_reply=True
        )
        ctx.replies.append(message)

    def _paid(self, ctx: ReplyContext) -> None:
        assert ctx.debt is not None
        change_debt(
            ctx.session,
            ctx.debt,
            DebtChange.PAUSED,
            now=ctx.now,
            actor="debtor",
            reason="debtor says it is already paid",
        )
        ctx.close_menu()
        paid_on = ctx.classification.paid_on
        if paid_on is not None and paid_on <= ctx.local_today:
            replies.record_paid_date(ctx, paid_on)
            return
        ctx.reply(ctx.text("paid_ack"))

    def _dispute(self, ctx: ReplyContext) -> None:
        assert ctx.debt is not None
        change_debt(
            ctx.session,
            ctx.debt,
            DebtChange.DISPUTED,
            now=ctx.now,
            actor="debtor",
            reason="debtor disputes the debt",
        )
        ctx.close_menu()
        ctx.reply(ctx.text("dispute_ack"))

    def _wrong_number(self, ctx: ReplyContext) -> None:
        # Apologise without naming anyone or anything, then never text (or call) it again.
        ctx.reply(render("wrong_number_ack", ctx.language), kind="wrong_number_ack", debt=None)
        change_number(
            ctx.session,
            ctx.debtor,
            NumberChange.WRONG_NUMBER,
            now=ctx.now,
            actor="debtor",
            reason="replied wrong number",
        )
        ctx.close_menu()

    def _help(self, ctx: ReplyContext) -> None:
        phone = ctx.creditor.contact_phone
        if phone:
            ctx.reply(ctx.text("help", phone=phone))
        else:
            ctx.reply(ctx.text("help_no_phone"))

    def _unknown(self, ctx: ReplyContext) -> None:
        ctx.reply(render("unknown", ctx.language))
        ctx.flag("reply not understood")

    def _unknown_sender(self, session: Session, inbound: Message, now: datetime) -> InboundResult:
        """Someone Parley does not text: a neutral answer that discloses nothing, through
        the outbox like every answer (a row with no debtor; the worker sends it at once,
        unless the number opted out, see OutboxWorker.claim)."""
        classification: Classification = classify(inbound.body, today=now.date())
        inbound.intent = classification.intent.value
        inbound.language = classification.language
        if classification.intent is Intent.STOP:
            # Kept for the number: a creditor importing it later must not text it.
            record_opt_out(session, inbound.from_phone or "", now=now, source_message_id=inbound.id)
            record_revocation(
                session,
                phone=inbound.from_phone or "",
                creditor_id=None,
                channel="sms",
                words=inbound.body,
                message_id=inbound.id,
                now=now,
                actor="debtor",
            )
            return InboundResult(inbound.id, intent=inbound.intent)
        if classification.intent is Intent.START:
            clear_opt_out(session, inbound.from_phone or "")
            record_opt_in(
                session,
                phone=inbound.from_phone or "",
                creditor_id=None,
                words=inbound.body,
                message_id=inbound.id,
                now=now,
            )
            return InboundResult(inbound.id, intent=inbound.intent)
        if opted_out_phones(session, [inbound.from_phone or ""]):
            return InboundResult(inbound.id, intent=inbound.intent)
        recent = session.scalars(
            select(Message.id).where(
                Message.kind == "neutral",
                Message.to_phone == inbound.from_phone,
                Message.created_at > now - NEUTRAL_REPLY_EVERY,
            )
        ).first()
        if recent is not None:
            # One neutral answer a day: never ping-pong with an auto-responder.
            return InboundResult(inbound.id, intent=inbound.intent)
        body = render("neutral", normalize_language(classification.language))
        info = count_segments(body)
        session.add(
            Message(
                creditor_id=None,
                debtor_id=None,
                direction="outbound",
                kind=NEUTRAL_KIND,
                initiated=False,
                is_reply=True,
                body=body,
                to_phone=inbound.from_phone or "",
                # Answered from the number they wrote to.
                from_phone=inbound.to_phone or None,
                status="queued",
                send_after=now,
                priority=int(SendPriority.ANSWER),
                segments=info.segments,
                encoding=info.encoding,
                attempts=0,
                needs_reconcile=False,
                created_at=now,
                updated_at=now,
            )
        )
        queued_work(session)
        return InboundResult(inbound.id, intent=inbound.intent)
