"""Answers that keep a conversation from dead ends (issue 14): a polite close for a
courtesy, the menu shown again for a choice not on it, a bare yes accepting a one-option
menu, the date of a reported payment, a stated contact preference. The engine only
dispatches to these."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from sqlalchemy import select

from app.actions.reply import ReplyContext
from app.conversations.classifier import Classification, Intent
from app.debts.preferences import set_contact_preference
from app.events import record_event
from app.messaging.models import Message
from app.texts import format_local_date, format_local_time, render

# One polite close a day at most: never ping-pong with a debtor's (or a phone's) thanks.
COURTESY_EVERY = timedelta(hours=24)
# Intents a bare "yes" may be read as when it answers a one-option menu.
_YES_INTENTS = frozenset({Intent.UNKNOWN, Intent.PLAN, Intent.CHOICE})


def as_menu_acceptance(ctx: ReplyContext) -> Classification | None:
    """A bare yes ("yes", "sim", "sí", "ok") to an open one-option plan menu (a proposal
    or counter-offer) is its choice 1; None when the reply is no such acceptance."""
    c = ctx.classification
    if not c.affirmative or c.intent not in _YES_INTENTS:
        return None
    keys = ctx.open_menu_option_keys()
    # Only a plan offered as one option: "ok" after a booked call (whose one option is
    # "X to cancel") must never cancel it.
    if len(keys) != 1 or ctx.conversation.menu_kind != "plan":
        return None
    return replace(c, intent=Intent.CHOICE, choice=keys[0])


def answer_courtesy(ctx: ReplyContext) -> None:
    """Thanks, goodbye, a thumbs-up: a short polite close, and nobody needs to look."""
    recent = ctx.session.scalars(
        select(Message.id).where(
            Message.debtor_id == ctx.debtor.id,
            Message.kind == "courtesy",
            Message.created_at > ctx.now - COURTESY_EVERY,
        )
    ).first()
    if recent is None:
        ctx.reply(ctx.text("courtesy_close"), kind="courtesy")


def show_menu_again(ctx: ReplyContext, lead: str = "menu_again") -> bool:
    """A choice that is not on the open menu ("5" after 1-3), or a bare "yes" to a menu
    of several options: say so (`lead`) and show the menu again. False when there is no
    menu text to show."""
    prompt = ctx.conversation.menu_prompt
    if not prompt or not ctx.open_menu_option_keys():
        return False
    ctx.reply(f"{render(lead, ctx.language)} {prompt}")
    return True


def record_paid_date(ctx: ReplyContext, day: date) -> None:
    """The debtor's answer to "When did you pay?": kept for the person who checks."""
    record_event(
        ctx.session,
        creditor_id=ctx.creditor.id,
        actor="debtor",
        kind="payment.reported",
        now=ctx.now,
        debt_id=ctx.debt.id if ctx.debt else None,
        debtor_id=ctx.debtor.id,
        to_value=day.isoformat(),
    )
    ctx.flag(f"debtor says it was paid on {day.isoformat()}")
    ctx.reply(ctx.text("paid_date_ack", date=format_local_date(day, ctx.language)))


def answers_paid_question(ctx: ReplyContext) -> bool:
    """Whether this reply is the date asked for after an "already paid"."""
    c = ctx.classification
    return (
        ctx.previous_intent == Intent.PAID.value
        and c.paid_on is not None
        and c.paid_on <= ctx.local_today
        and c.intent in (Intent.UNKNOWN, Intent.PAID, Intent.PROMISE)
    )


def answer_preference(ctx: ReplyContext) -> None:
    """Store the debtor's contact preference and confirm it in their words."""
    preference = ctx.classification.preference
    if preference is None:
        return
    set_contact_preference(
        ctx.session,
        ctx.debtor,
        start=preference.start,
        end=preference.end,
        weekdays_only=preference.weekdays_only,
        now=ctx.now,
        actor="debtor",
    )
    language = ctx.language
    window = (
        render(
            "preference_window",
            language,
            start=format_local_time(preference.start, language),
            end=format_local_time(preference.end, language),
        )
        if preference.start and preference.end
        else None
    )
    if window and preference.weekdays_only:
        when = render("preference_both", language, window=window)
    elif window:
        when = window
    else:
        when = render("preference_weekdays", language)
    ctx.reply(ctx.text("preference_ack", when=when))
