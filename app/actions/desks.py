"""The three desks inbound handling answers through: PAY, PLAN and CALL (and a CHOICE
from their menus) are answered by the desks in app/actions/pay.py, plans.py and
calls.py; inbound handling only knows these protocols."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from typing import Protocol

from app.actions.reply import ReplyContext
from app.conversations.models import MenuOption
from app.conversations.terms import ProposedTerms


class PaymentDesk(Protocol):
    """Answers PAY: the payment code for what is due now, and the link to pay it."""

    def answer_pay(self, ctx: ReplyContext) -> None: ...


class PlanDesk(Protocol):
    """Answers PLAN (and HARDSHIP): the installment menu, or the plan closest to the
    debtor's proposed `terms`; turns a CHOICE into a plan."""

    def offer_plans(
        self,
        ctx: ReplyContext,
        intro: str | None = None,
        *,
        terms: ProposedTerms | None = None,
        hardship: bool = False,
    ) -> None: ...

    def choose_plan(self, ctx: ReplyContext, option: MenuOption) -> None: ...


class CallbackDesk(Protocol):
    """Answers CALL: callback slots or a booking at a stated time; books a chosen slot."""

    def offer_callbacks(
        self, ctx: ReplyContext, requested_date: date | None, requested_time: time | None
    ) -> None: ...

    def choose_slot(self, ctx: ReplyContext, option: MenuOption) -> None: ...


class HandoffPlanDesk:
    """For creditors without offer rules: a person takes the installment talk."""

    def offer_plans(
        self,
        ctx: ReplyContext,
        intro: str | None = None,
        *,
        terms: ProposedTerms | None = None,
        hardship: bool = False,
    ) -> None:
        body = ctx.text("plan_handoff")
        ctx.reply(f"{intro} {body}" if intro else body)
        ctx.flag("asked for installments; no offer rule matches")

    def choose_plan(self, ctx: ReplyContext, option: MenuOption) -> None:
        self.offer_plans(ctx)


class HandoffCallbackDesk:
    """For creditors without a callback calendar: a person calls back."""

    def offer_callbacks(
        self, ctx: ReplyContext, requested_date: date | None, requested_time: time | None
    ) -> None:
        ctx.reply(ctx.text("call_handoff"))
        ctx.flag("asked for a call; no callback calendar")

    def choose_slot(self, ctx: ReplyContext, option: MenuOption) -> None:
        self.offer_callbacks(ctx, None, None)


@dataclass
class Desks:
    """The desks the engine uses."""

    payments: PaymentDesk
    plans: PlanDesk
    callbacks: CallbackDesk
