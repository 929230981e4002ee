"""PLAN answers: the installment menu from the matching rule, and a CHOICE into a plan."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from app.actions.codes import issue_current_code
from app.actions.desks import HandoffPlanDesk
from app.actions.lifecycle import DebtChange, change_debt
from app.actions.reply import ReplyContext
from app.conversations.models import MenuOption
from app.conversations.terms import ProposedTerms
from app.debts.queries import lock_debt
from app.events import record_event
from app.money import format_money, minor_unit_exponent
from app.offers.models import OfferRule, OfferRuleVersion
from app.offers.negotiate import NegotiatedPlan, Proposal, negotiate
from app.offers.queries import active_plan, plan_installments
from app.offers.schedule import PlanOption, monthly_due_dates, plan_menu_text, plan_options
from app.offers.service import Offers, compute_offers, create_plan, pay_terms
from app.offers.summary import plan_summary
from app.payments.service import payment_page_url
from app.texts import format_local_date, render


def to_minor(value: Decimal | None, currency: str) -> int | None:
    """A debtor's major-unit amount in the debt's minor units (rounded half up)."""
    if value is None:
        return None
    exponent = minor_unit_exponent(currency)
    return int((value * Decimal(10) ** exponent).to_integral_value(ROUND_HALF_UP))


def proposal_from(terms: ProposedTerms, currency: str) -> Proposal:
    """The debtor's words as a Proposal in the debt's currency."""
    return Proposal(
        amount=to_minor(terms.amount, currency),
        periodicity=terms.periodicity,
        count=terms.count,
        down_payment=to_minor(terms.down_payment, currency),
        down_payment_share=terms.down_payment_share,
        rest_in_months=terms.rest_in_months,
        day=terms.day,
    )


def hardship_options(
    offers: Offers, balance: int, today: date
) -> tuple[list[PlanOption], int] | None:
    """The menu for a debtor in hardship: the rule's counts plus its hardship counts
    (the longest included), and the hardship pause in days; None when the rule has no
    hardship settings."""
    rule_terms = offers.version.terms if offers.version else {}
    extra = [int(c) for c in rule_terms.get("hardship_installment_counts") or []]
    pause = int(rule_terms.get("hardship_pause_days") or 0)
    if not extra and not pause:
        return None
    counts = sorted({*(int(c) for c in rule_terms["installment_counts"]), *extra})
    options = plan_options(
        balance,
        counts,
        Decimal(str(rule_terms["monthly_interest_pct"])) / 100,
        int(rule_terms["min_installment"]),
    )
    return options, pause


class OffersPlanDesk:
    """Offers up to three installment options within the creditor's limits; a person
    takes over when no rule matches."""

    def __init__(self) -> None:
        self._handoff = HandoffPlanDesk()

    def offer_plans(
        self,
        ctx: ReplyContext,
        intro: str | None = None,
        *,
        terms: ProposedTerms | None = None,
        hardship: bool = False,
    ) -> None:
        """The installment menu; with `terms`, the one plan closest to them that the
        rule allows; in `hardship`, the rule's hardship options and a flag for a person."""
        debt = ctx.debt
        assert debt is not None
        if hardship:
            ctx.flag("hardship: the debtor describes financial difficulty")
            intro = f"{intro} {render('hardship_flagged', ctx.language)}" if intro else intro
        plan = active_plan(ctx.session, debt.id)
        if plan is not None and plan.status == "active":
            self._remind_plan(ctx, intro)
            return
        offers = compute_offers(ctx.session, debt, ctx.local_today)
        if offers.version is None or offers.rule is None:
            self._handoff.offer_plans(ctx, intro)
            return
        if terms is not None and self._propose(ctx, offers, terms, intro, hardship):
            return
        options = offers.plans
        due_dates: dict[int, list[str]] = {}
        special = hardship_options(offers, debt.balance, ctx.local_today) if hardship else None
        if special is not None:
            options, pause = special
            first = int(offers.version.terms["first_installment_in_days"]) + pause
            for option in options:
                due_dates[option.number] = [
                    d.isoformat() for d in _monthly(ctx.local_today, first, option.count)
                ]
        if not options:
            self._handoff.offer_plans(ctx, intro)
            return
        menu = plan_menu_text(options, debt.currency, ctx.language)
        body = ctx.text(
            "plan_menu", amount=format_money(debt.balance, debt.currency, ctx.language), menu=menu
        )
        body = f"{intro} {body}" if intro else body
        ctx.reply(body)
        ctx.open_menu(
            "plan",
            [
                MenuOption(
                    key=str(option.number),
                    count=option.count,
                    amounts=list(option.amounts),
                    total=option.total,
                    balance=debt.balance,
                    rule_version_id=offers.version.id,
                    **(
                        {"due_dates": due_dates[option.number], "hardship": True}
                        if option.number in due_dates
                        else {}
                    ),
                )
                for option in options
            ],
            debt,
            prompt=body,
        )

    def _propose(
        self,
        ctx: ReplyContext,
        offers: Offers,
        terms: ProposedTerms,
        intro: str | None,
        hardship: bool,
    ) -> bool:
        """Answer proposed terms with a one-option menu: the debtor's own terms when the
        rule allows them, else the closest plan at the rule's limits. False when no plan
        fits at all (the ordinary menu then)."""
        debt = ctx.debt
        assert debt is not None and offers.version is not None
        version = offers.version
        plan = negotiate(
            debt.balance,
            version.terms,
            proposal_from(terms, debt.currency),
            ctx.local_today,
            hardship=hardship,
        )
        if plan is None:
            return False
        body = ctx.text(
            "plan_proposal" if plan.as_asked else "plan_counter",
            summary=self.summary(plan, debt.currency, ctx.language),
            total=format_money(plan.total, debt.currency, ctx.language),
        )
        body = f"{intro} {body}" if intro else body
        ctx.reply(body)
        option = MenuOption(
            key="1",
            count=plan.count,
            amounts=list(plan.amounts),
            due_dates=[d.isoformat() for d in plan.due_dates],
            periodicity=plan.periodicity,
            down_payment=plan.down_payment,
            total=plan.total,
            balance=debt.balance,
            rule_version_id=version.id,
            proposal=True,
        )
        ctx.open_menu("plan", [option], debt, prompt=body)
        record_event(
            ctx.session,
            creditor_id=ctx.creditor.id,
            actor="engine",
            kind="plan.proposed" if plan.as_asked else "plan.countered",
            now=ctx.now,
            debt_id=debt.id,
            debtor_id=ctx.debtor.id,
            data={
                "rule_id": version.rule_id,
                "rule_version": version.version,
                "rule_version_id": version.id,
                "asked": terms.to_json(),
                "offered": {k: v for k, v in option.items() if k not in ("key", "proposal")},
                "adjusted": list(plan.adjusted),
                "hardship": hardship,
            },
        )
        return True

    @staticmethod
    def summary(plan: NegotiatedPlan, currency: str, language: str) -> str:
        return plan_summary(
            plan.amounts,
            plan.due_dates,
            periodicity=plan.periodicity,
            down_payment=plan.down_payment,
            currency=currency,
            language=language,
        )

    def _remind_plan(self, ctx: ReplyContext, intro: str | None) -> None:
        debt = ctx.debt
        assert debt is not None
        terms = pay_terms(ctx.session, debt, ctx.now)
        plan = active_plan(ctx.session, debt.id)
        assert plan is not None
        pending = [
            i for i in plan_installments(ctx.session, plan.id) if i.status in ("pending", "late")
        ]
        if terms is None or not pending:
            return
        body = ctx.text(
            "plan_exists",
            number=pending[0].number,
            amount=format_money(terms.amount, debt.currency, ctx.language),
            due=format_local_date(pending[0].due_date, ctx.language),
        )
        ctx.reply(f"{intro} {body}" if intro else body)

    def choose_plan(self, ctx: ReplyContext, option: MenuOption) -> None:
        assert ctx.debt is not None
        # Locked and re-read: a payment landing at the same moment either comes first
        # (and the menu is stale) or waits for the plan.
        debt = ctx.debt = lock_debt(ctx.session, ctx.debt.id)
        if option.get("balance") != debt.balance or debt.status not in ("open", "paused"):
            # The balance moved (a payment, a re-import) since the menu was sent.
            ctx.close_menu()
            self.offer_plans(ctx, intro=ctx.text("plan_menu_stale"))
            return
        version = ctx.session.get(OfferRuleVersion, str(option.get("rule_version_id", "")))
        rule = ctx.session.get(OfferRule, version.rule_id) if version else None
        if version is None or rule is None or not rule.active or rule.version != version.version:
            # The finance team changed or withdrew the rule since the menu was sent.
            ctx.close_menu()
            self.offer_plans(ctx, intro=ctx.text("plan_menu_stale"))
            return
        amounts = tuple(int(a) for a in option.get("amounts", []))
        if not amounts:
            ctx.close_menu()
            self.offer_plans(ctx, intro=ctx.text("plan_menu_stale"))
            return
        chosen = PlanOption(
            number=int(option.get("key", "1")),
            count=len(amounts),
            installment=amounts[0],
            last_installment=amounts[-1],
            total=sum(amounts),
            amounts=amounts,
        )
        dates = [date.fromisoformat(d) for d in option.get("due_dates") or []] or None
        plan, installments = create_plan(
            ctx.session,
            ctx.creditor,
            debt,
            version,
            chosen,
            now=ctx.now,
            actor="debtor",
            due_dates=dates,
        )
        if option.get("proposal"):
            record_event(
                ctx.session,
                creditor_id=ctx.creditor.id,
                actor="debtor",
                kind="plan.accepted",
                now=ctx.now,
                debt_id=debt.id,
                debtor_id=ctx.debtor.id,
                to_value=plan.id,
                data={
                    "rule_id": version.rule_id,
                    "rule_version": version.version,
                    "rule_version_id": version.id,
                    "amounts": list(amounts),
                },
            )
        # Statements waiting to go out are moot now that a plan runs, and so are promised
        # dates and the codes issued for the old terms.
        change_debt(ctx.session, debt, DebtChange.PLAN_AGREED, now=ctx.now, actor="debtor")
        code = issue_current_code(ctx.session, ctx.creditor, debt, ctx.now)
        assert code is not None
        language = ctx.language
        summary = plan_summary(
            [i.amount for i in installments],
            [i.due_date for i in installments],
            periodicity=str(option.get("periodicity") or "monthly"),
            down_payment=int(option.get("down_payment") or 0),
            currency=debt.currency,
            language=language,
        )
        ctx.reply(
            ctx.text(
                "plan_confirmed",
                summary=summary,
                total=format_money(plan.total, debt.currency, language),
                code=code.display,
                url=payment_page_url(ctx.settings, code),
            )
        )


def _monthly(today: date, first_in_days: int, count: int) -> list[date]:
    return monthly_due_dates(today + timedelta(days=first_in_days), count)
