"""PLAN answers: the installment menu from the matching rule, and a CHOICE into a plan."""

from __future__ import annotations

from app.actions.codes import issue_current_code
from app.actions.desks import HandoffPlanDesk
from app.actions.lifecycle import DebtChange, change_debt
from app.actions.reply import ReplyContext
from app.conversations.models import MenuOption
from app.debts.queries import lock_debt
from app.money import format_money
from app.offers.models import OfferRule, OfferRuleVersion
from app.offers.queries import active_plan, plan_installments
from app.offers.schedule import PlanOption, plan_menu_text
from app.offers.service import compute_offers, create_plan, pay_terms
from app.payments.service import payment_page_url
from app.texts import format_local_date


class OffersPlanDesk:
    """Offers up to three installment options within the creditor's limits; a person
    takes over when no rule matches."""

    def __init__(self) -> None:
        self._handoff = HandoffPlanDesk()

    def offer_plans(self, ctx: ReplyContext, intro: str | None = None) -> None:
        debt = ctx.debt
        assert debt is not None
        plan = active_plan(ctx.session, debt.id)
        if plan is not None and plan.status == "active":
            self._remind_plan(ctx, intro)
            return
        offers = compute_offers(ctx.session, debt, ctx.local_today)
        if not offers.plans or offers.version is None:
            self._handoff.offer_plans(ctx, intro)
            return
        menu = plan_menu_text(offers.plans, debt.currency, ctx.language)
        body = ctx.text(
            "plan_menu", amount=format_money(debt.balance, debt.currency, ctx.language), menu=menu
        )
        ctx.reply(f"{intro} {body}" if intro else body)
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
                )
                for option in offers.plans
            ],
            debt,
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
        plan, installments = create_plan(
            ctx.session, ctx.creditor, debt, version, chosen, now=ctx.now, actor="debtor"
        )
        # Statements waiting to go out are moot now that a plan runs, and so are promised
        # dates and the codes issued for the old terms.
        change_debt(ctx.session, debt, DebtChange.PLAN_AGREED, now=ctx.now, actor="debtor")
        code = issue_current_code(ctx.session, ctx.creditor, debt, ctx.now)
        assert code is not None
        language = ctx.language
        ctx.reply(
            ctx.text(
                "plan_confirmed",
                count=plan.installment_count,
                installment=format_money(chosen.installment, debt.currency, language),
                total=format_money(plan.total, debt.currency, language),
                first_due=format_local_date(installments[0].due_date, language),
                code=code.display,
                url=payment_page_url(ctx.settings, code),
            )
        )
