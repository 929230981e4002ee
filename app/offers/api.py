"""`/api/v1/offer-rules`, a debt's offers and its plan."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from app.access.deps import CanConfigure, CanViewAmounts
from app.access.principal import Principal
from app.debts.queries import get_debt
from app.deps import ClockDep, SessionDep, SettingsDep
from app.errors import NotFound
from app.offers.models import OfferRule
from app.offers.queries import latest_plan, plan_installments
from app.offers.schemas import (
    InstallmentOut,
    LumpSumOut,
    OfferRuleIn,
    OfferRuleOut,
    OfferRulePatch,
    OffersOut,
    PlanOptionOut,
    PlanOut,
    RuleVerdictOut,
    pct_text,
)
from app.offers.service import (
    compute_offers,
    create_rule,
    creditor_rules,
    days_past_due,
    debtor_today,
    update_rule,
)
from app.payments.models import PaymentCode

router = APIRouter(tags=["offers"])


def rule_out(rule: OfferRule) -> OfferRuleOut:
    """The API view of a rule (percentages as decimal strings)."""
    return OfferRuleOut(
        id=rule.id,
        name=rule.name,
        priority=rule.priority,
        min_balance=rule.min_balance,
        max_balance=rule.max_balance,
        min_days_past_due=rule.min_days_past_due,
        max_days_past_due=rule.max_days_past_due,
        tags=rule.tags,
        currency=rule.currency,
        lump_sum_discount_pct=pct_text(rule.lump_sum_discount_pct),
        lump_sum_valid_days=rule.lump_sum_valid_days,
        installment_counts=[int(c) for c in rule.installment_counts],
        monthly_interest_pct=pct_text(rule.monthly_interest_pct),
        min_installment=rule.min_installment,
        first_installment_in_days=rule.first_installment_in_days,
        grace_days=rule.grace_days,
        break_after_days=rule.break_after_days,
        reminder_days_before=rule.reminder_days_before,
        down_payment_allowed=rule.down_payment_allowed,
        down_payment_min_pct=pct_text(rule.down_payment_min_pct),
        periodicities=list(rule.periodicities or ["monthly"]),
        due_day_max_shift_days=rule.due_day_max_shift_days,
        hardship_installment_counts=(
            [int(c) for c in rule.hardship_installment_counts]
            if rule.hardship_installment_counts is not None
            else None
        ),
        hardship_pause_days=rule.hardship_pause_days,
        active=rule.active,
        version=rule.version,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def _own_rule(session: SessionDep, principal: Principal, rule_id: str) -> OfferRule:
    rule = session.get(OfferRule, rule_id)
    if rule is None or rule.creditor_id != principal.creditor.id:
        raise NotFound("offer rule not found", field="id")
    return rule


@router.post("/api/v1/offer-rules", status_code=201)
def create_offer_rule(
    body: OfferRuleIn, principal: CanConfigure, session: SessionDep, clock: ClockDep
) -> OfferRuleOut:
    """A new rule: what may be offered to debts in its balance and days-past-due ranges.
    Percentages are decimal strings, money is in minor units (admin keys only)."""
    rule = create_rule(
        session, principal.creditor, body.model_dump(), now=clock.now(), actor=principal.actor
    )
    return rule_out(rule)


@router.get("/api/v1/offer-rules")
def list_offer_rules(principal: CanViewAmounts, session: SessionDep) -> list[OfferRuleOut]:
    """Every rule of this creditor, highest priority first."""
    return [rule_out(r) for r in creditor_rules(session, principal.creditor.id)]


@router.get("/api/v1/offer-rules/{rule_id}")
def read_offer_rule(rule_id: str, principal: CanViewAmounts, session: SessionDep) -> OfferRuleOut:
    """One rule with its current version."""
    return rule_out(_own_rule(session, principal, rule_id))


@router.patch("/api/v1/offer-rules/{rule_id}")
def patch_offer_rule(
    rule_id: str,
    body: OfferRulePatch,
    principal: CanConfigure,
    session: SessionDep,
    clock: ClockDep,
) -> OfferRuleOut:
    """Change terms (a new version; agreed plans keep theirs) or `active`."""
    rule = _own_rule(session, principal, rule_id)
    changes = body.model_dump(exclude_unset=True)
    return rule_out(update_rule(session, rule, changes, now=clock.now(), actor=principal.actor))


@router.delete("/api/v1/offer-rules/{rule_id}")
def deactivate_offer_rule(
    rule_id: str, principal: CanConfigure, session: SessionDep, clock: ClockDep
) -> OfferRuleOut:
    """Deactivate a rule (rules are never deleted: plans point at their versions)."""
    rule = _own_rule(session, principal, rule_id)
    return rule_out(
        update_rule(session, rule, {"active": False}, now=clock.now(), actor=principal.actor)
    )


@router.get("/api/v1/debts/{debt_id}/offers")
def debt_offers(
    debt_id: str, principal: CanViewAmounts, session: SessionDep, clock: ClockDep
) -> OffersOut:
    """What the rules allow for this debt now, which rule produced it, and why every
    other rule did not apply."""
    debt = get_debt(session, principal.creditor, debt_id)
    today = debtor_today(session, debt, clock.now())
    offers = compute_offers(session, debt, today)
    lump = offers.lump_sum
    return OffersOut(
        debt_id=debt.id,
        balance=debt.balance,
        currency=debt.currency,
        days_past_due=days_past_due(debt, today),
        rule=rule_out(offers.rule) if offers.rule else None,
        rule_version=offers.version.version if offers.version else None,
        rule_version_id=offers.version.id if offers.version else None,
        lump_sum=LumpSumOut(
            amount=lump.amount,
            discount=lump.discount,
            discount_pct=pct_text(lump.discount_pct),
            expires_on=lump.expires_on,
        )
        if lump
        else None,
        plans=[
            PlanOptionOut(
                option=o.number,
                count=o.count,
                installment=o.installment,
                last_installment=o.last_installment,
                total=o.total,
                amounts=list(o.amounts),
            )
            for o in offers.plans
        ],
        rules=[
            RuleVerdictOut(
                rule_id=v.rule.id,
                name=v.rule.name,
                priority=v.rule.priority,
                applies=v.applies,
                reason=v.reason,
            )
            for v in offers.verdicts
        ],
    )


@router.get("/api/v1/debts/{debt_id}/plan")
def debt_plan(
    debt_id: str, principal: CanViewAmounts, session: SessionDep, settings: SettingsDep
) -> PlanOut:
    """The debt's plan and its installments: the running one, else the last one that
    broke or completed (its `status` says which); 404 when there is none."""
    debt = get_debt(session, principal.creditor, debt_id)
    plan = latest_plan(session, debt.id)
    if plan is None:
        raise NotFound("this debt has no plan", field="plan")
    installments = plan_installments(session, plan.id)
    codes = {
        c.installment_id: c
        for c in session.scalars(
            select(PaymentCode).where(
                PaymentCode.installment_id.in_([i.id for i in installments]),
                PaymentCode.status.in_(("active", "paid")),
            )
        )
    }
    return PlanOut(
        id=plan.id,
        debt_id=plan.debt_id,
        status=plan.status,
        principal=plan.principal,
        total=plan.total,
        currency=plan.currency,
        installment_count=plan.installment_count,
        monthly_interest_pct=pct_text(plan.monthly_interest_pct),
        rule_version_id=plan.rule_version_id,
        created_at=plan.created_at,
        installments=[
            InstallmentOut(
                id=i.id,
                number=i.number,
                amount=i.amount,
                paid_amount=i.paid_amount,
                due_date=i.due_date,
                status=i.status,
                payment_code=codes[i.id].reference if i.id in codes else None,
                payment_url=f"{settings.public_base}/p/{codes[i.id].token}"
                if i.id in codes
                else None,
            )
            for i in installments
        ],
    )
