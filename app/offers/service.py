"""Offer rules, the offers they allow for a debt, plans and their lifecycle."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.errors import ValidationFailed
from app.events import record_event, set_debt_status
from app.offers.models import Installment, OfferRule, OfferRuleVersion, Plan, PlanStatus
from app.offers.queries import active_plan, plan_installments
from app.offers.schedule import PlanOption, lump_sum_amount, monthly_due_dates, plan_options
from app.offers.schemas import OfferRuleFields, pct_text
from app.payments.models import PayTerms
from app.read_ahead import MISSING, recall, remember

BALANCE_CODE_DAYS = 5
RULE_TERM_FIELDS = (
    "name",
    "priority",
    "min_balance",
    "max_balance",
    "min_days_past_due",
    "max_days_past_due",
    "tags",
    "currency",
    "lump_sum_discount_pct",
    "lump_sum_valid_days",
    "installment_counts",
    "monthly_interest_pct",
    "min_installment",
    "first_installment_in_days",
    "grace_days",
    "break_after_days",
    "reminder_days_before",
    "down_payment_allowed",
    "down_payment_min_pct",
    "periodicities",
    "due_day_max_shift_days",
    "hardship_installment_counts",
    "hardship_pause_days",
)


def debtor_today(session: Session, debt: Debt, now: datetime) -> date:
    """Today's date where the debtor lives."""
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    return now.astimezone(ZoneInfo(debtor.timezone)).date()


def days_past_due(debt: Debt, today: date) -> int:
    """Whole days since the due date (0 when not yet due)."""
    return max((today - debt.due_date).days, 0)


def rule_terms(rule: OfferRule) -> dict[str, Any]:
    """The rule's terms as JSON (decimals as strings), as a version stores them."""
    terms: dict[str, Any] = {}
    for name in RULE_TERM_FIELDS:
        value = getattr(rule, name)
        terms[name] = pct_text(value) if isinstance(value, Decimal) else value
    return terms


def snapshot_rule(session: Session, rule: OfferRule, now: datetime) -> OfferRuleVersion:
    """Write the rule's current terms as its version `rule.version`."""
    version = OfferRuleVersion(
        rule_id=rule.id, version=rule.version, terms=rule_terms(rule), created_at=now
    )
    session.add(version)
    session.flush()
    return version


def current_version(session: Session, rule: OfferRule) -> OfferRuleVersion:
    """The version row holding the rule's current terms."""
    version = session.scalars(
        select(OfferRuleVersion).where(
            OfferRuleVersion.rule_id == rule.id, OfferRuleVersion.version == rule.version
        )
    ).one()
    return version


def why_not(rule: OfferRule, debt: Debt, today: date) -> str | None:
    """None when the rule applies to the debt, else the first reason it does not."""
    if not rule.active:
        return "rule is inactive"
    balance = debt.balance
    if rule.min_balance is not None and balance < rule.min_balance:
        return f"balance {balance} is below min_balance {rule.min_balance}"
    if rule.max_balance is not None and balance > rule.max_balance:
        return f"balance {balance} is above max_balance {rule.max_balance}"
    dpd = days_past_due(debt, today)
    if rule.min_days_past_due is not None and dpd < rule.min_days_past_due:
        return f"{dpd} days past due is below min_days_past_due {rule.min_days_past_due}"
    if rule.max_days_past_due is not None and dpd > rule.max_days_past_due:
        return f"{dpd} days past due is above max_days_past_due {rule.max_days_past_due}"
    missing = sorted(set(rule.tags or ()) - set(debt.tags or ()))
    if missing:
        return f"debt lacks tags {', '.join(missing)}"
    if rule.currency is not None and rule.currency != debt.currency:
        return f"rule is for {rule.currency}, debt is in {debt.currency}"
    return None


@dataclass
class RuleVerdict:
    """Whether one rule applies to a debt and why (not)."""

    rule: OfferRule
    applies: bool
    reason: str


@dataclass
class LumpSum:
    """Pay in full with a discount, valid until `expires_on` (debtor's local date)."""

    amount: int
    discount: int
    discount_pct: Decimal
    expires_on: date


@dataclass
class Offers:
    """What the rules allow for a debt now."""

    debt: Debt
    rule: OfferRule | None
    version: OfferRuleVersion | None
    lump_sum: LumpSum | None
    plans: list[PlanOption]
    verdicts: list[RuleVerdict] = field(default_factory=list)


def read_ahead_rules(session: Session, creditor_ids: Collection[str]) -> None:
    """creditor_rules for many creditors in one query, answered from memory for the
    rest of the transaction (app.read_ahead)."""
    answers: dict[Hashable, Any] = {creditor_id: [] for creditor_id in creditor_ids}
    if creditor_ids:
        rows = session.scalars(
            select(OfferRule)
            .where(OfferRule.creditor_id.in_(sorted(creditor_ids)))
            .order_by(OfferRule.priority.desc(), OfferRule.created_at, OfferRule.id)
        )
        for rule in rows:
            answers[rule.creditor_id].append(rule)
    remember(session, "offer_rules", "creditor_id", answers)


def creditor_rules(session: Session, creditor_id: str) -> list[OfferRule]:
    """The creditor's rules, highest priority first (ties: oldest first)."""
    known = recall(session, "offer_rules", creditor_id)
    if known is not MISSING:
        return list(known)
    return list(
        session.scalars(
            select(OfferRule)
            .where(OfferRule.creditor_id == creditor_id)
            .order_by(OfferRule.priority.desc(), OfferRule.created_at, OfferRule.id)
        )
    )


def compute_offers(session: Session, debt: Debt, today: date) -> Offers:
    """The offers of the highest-priority rule that matches the debt, with the verdict on
    every rule (so the finance team can see why the others did not apply)."""
    verdicts: list[RuleVerdict] = []
    chosen: OfferRule | None = None
    for rule in creditor_rules(session, debt.creditor_id):
        reason = why_not(rule, debt, today)
        if reason is None and chosen is None:
            chosen = rule
            verdicts.append(RuleVerdict(rule, True, "highest-priority matching rule"))
        elif reason is None:
            verdicts.append(RuleVerdict(rule, False, f"matches, but {chosen.name!r} ranks higher"))  # type: ignore[union-attr]
        else:
            verdicts.append(RuleVerdict(rule, False, reason))
    if chosen is None or debt.balance <= 0:
        return Offers(debt, None, None, None, [], verdicts)
    lump = None
    pct = Decimal(chosen.lump_sum_discount_pct)
    if pct > 0:
        amount = lump_sum_amount(debt.balance, pct)
        if amount < debt.balance:
            lump = LumpSum(
                amount=amount,
                discount=debt.balance - amount,
                discount_pct=pct,
                expires_on=today + timedelta(days=chosen.lump_sum_valid_days),
            )
    plans: list[PlanOption] = []
    if debt.status != "in_plan":
        plans = plan_options(
            debt.balance,
            [int(c) for c in chosen.installment_counts],
            Decimal(chosen.monthly_interest_pct) / 100,
            chosen.min_installment,
        )
    return Offers(debt, chosen, current_version(session, chosen), lump, plans, verdicts)


def pay_terms(session: Session, debt: Debt, now: datetime) -> PayTerms | None:
    """What to ask for now: the next installment of a running plan; else the discounted
    lump sum while a rule allows one; else the whole balance. None when nothing is due."""
    if debt.balance <= 0:
        return None
    today = debtor_today(session, debt, now)
    plan = active_plan(session, debt.id)
    if plan is not None and plan.status == "active":
        for installment in plan_installments(session, plan.id):
            if installment.status in ("pending", "late") and installment.outstanding > 0:
                return PayTerms(
                    kind="installment",
                    amount=installment.outstanding,
                    due_date=installment.due_date,
                    installment_id=installment.id,
                    rule_version_id=plan.rule_version_id,
                )
    offers = compute_offers(session, debt, today)
    if offers.lump_sum is not None and offers.version is not None:
        return PayTerms(
            kind="lump_sum",
            amount=offers.lump_sum.amount,
            due_date=offers.lump_sum.expires_on,
            expires_on=offers.lump_sum.expires_on,
            rule_version_id=offers.version.id,
            discount=offers.lump_sum.discount,
        )
    # An overdue balance gets a few days to pay its code (a boleto must carry a due date
    # in the future, and a code that lapses at midnight helps nobody).
    return PayTerms(
        kind="balance",
        amount=debt.balance,
        due_date=max(debt.due_date, today + timedelta(days=BALANCE_CODE_DAYS)),
    )


def create_plan(
    session: Session,
    creditor: Creditor,
    debt: Debt,
    version: OfferRuleVersion,
    option: PlanOption,
    *,
    now: datetime,
    actor: str,
    due_dates: Sequence[date] | None = None,
) -> tuple[Plan, list[Installment]]:
    """Agree a plan from a menu option: its installments (first after the rule's
    `first_installment_in_days`, then monthly on the same day, month-end clamped, unless
    a negotiated plan brings its own `due_dates`), the debt moved to `in_plan` with its
    balance set to the plan total."""
    terms = version.terms
    today = debtor_today(session, debt, now)
    previous = active_plan(session, debt.id)
    if previous is not None:
        set_plan_status(session, previous, "canceled", now=now, actor=actor)
        previous.ended_at = now
        for old in plan_installments(session, previous.id):
            if old.status in ("pending", "late"):
                old.status = "canceled"
    first_due = today + timedelta(days=int(terms["first_installment_in_days"]))
    plan = Plan(
        creditor_id=creditor.id,
        debt_id=debt.id,
        debtor_id=debt.debtor_id,
        rule_version_id=version.id,
        status="active",
        principal=debt.balance,
        total=option.total,
        currency=debt.currency,
        installment_count=option.count,
        monthly_interest_pct=Decimal(str(terms["monthly_interest_pct"])),
        grace_days=int(terms.get("grace_days", 5)),
        break_after_days=int(terms.get("break_after_days", 30)),
        reminder_days_before=int(terms.get("reminder_days_before", 3)),
        created_at=now,
        updated_at=now,
    )
    session.add(plan)
    session.flush()
    installments = [
        Installment(
            plan_id=plan.id,
            debt_id=debt.id,
            number=number,
            amount=amount,
            paid_amount=0,
            due_date=due,
            status="pending",
        )
        for number, (amount, due) in enumerate(
            zip(
                option.amounts,
                due_dates or monthly_due_dates(first_due, option.count),
                strict=True,
            ),
            start=1,
        )
    ]
    session.add_all(installments)
    record_event(
        session,
        creditor_id=creditor.id,
        actor=actor,
        kind="plan.created",
        now=now,
        debt_id=debt.id,
        debtor_id=debt.debtor_id,
        to_value=plan.id,
        data={
            "count": option.count,
            "total": option.total,
            "rule_version_id": version.id,
            "rule_version": version.version,
            "principal": debt.balance,
        },
    )
    if debt.balance != option.total:
        record_event(
            session,
            creditor_id=creditor.id,
            actor=actor,
            kind="debt.balance",
            now=now,
            debt_id=debt.id,
            debtor_id=debt.debtor_id,
            from_value=debt.balance,
            to_value=option.total,
            data={"reason": "plan interest"},
        )
        debt.balance = option.total
    set_debt_status(session, debt, "in_plan", now=now, actor=actor)
    session.flush()
    return plan, installments


def apply_payment_to_plan(
    session: Session,
    debt: Debt,
    amount: int,
    *,
    first_installment_id: str | None,
    now: datetime,
    actor: str,
) -> int:
    """Spread a payment over the running plan's installments: the one the code was for
    first, then the others in order. Returns what no installment took. Paying a late
    installment restores the plan (it runs on); the last payment completes it. A broken
    plan is over and takes no payments."""
    plan = active_plan(session, debt.id)
    if plan is None:
        return amount
    installments = [i for i in plan_installments(session, plan.id) if i.status != "canceled"]
    ordered = sorted(installments, key=lambda i: (i.id != first_installment_id, i.number))
    remaining = amount
    for installment in ordered:
        if remaining <= 0:
            break
        take = min(installment.outstanding, remaining)
        if take <= 0:
            continue
        installment.paid_amount += take
        remaining -= take
        if installment.outstanding == 0:
            installment.status = "paid"
            installment.paid_at = now
            record_event(
                session,
                creditor_id=plan.creditor_id,
                actor=actor,
                kind="installment.paid",
                now=now,
                debt_id=debt.id,
                debtor_id=debt.debtor_id,
                to_value=installment.number,
            )
    update_plan_state(session, plan, installments, now=now, actor=actor)
    return remaining


def update_plan_state(
    session: Session,
    plan: Plan,
    installments: list[Installment],
    *,
    now: datetime,
    actor: str,
) -> None:
    """Derive the plan's status from its installments: completed when all are paid. A
    late installment that gets paid simply leaves the plan running (restored); the
    lifecycle job only breaks plans whose installments stay unpaid."""
    live = [i for i in installments if i.status != "canceled"]
    if live and all(i.status == "paid" for i in live):
        set_plan_status(session, plan, "completed", now=now, actor=actor)
        plan.ended_at = now
        return
    restored = [i for i in live if i.status == "paid" and i.late_notice_at is not None]
    for installment in restored:
        if installment.paid_at == now:
            record_event(
                session,
                creditor_id=plan.creditor_id,
                actor=actor,
                kind="plan.restored",
                now=now,
                debt_id=plan.debt_id,
                debtor_id=plan.debtor_id,
                to_value=installment.number,
            )


def set_plan_status(
    session: Session, plan: Plan, status: PlanStatus, *, now: datetime, actor: str
) -> None:
    if plan.status == status:
        return
    record_event(
        session,
        creditor_id=plan.creditor_id,
        actor=actor,
        kind="plan.status",
        now=now,
        debt_id=plan.debt_id,
        debtor_id=plan.debtor_id,
        from_value=plan.status,
        to_value=status,
    )
    plan.status = status
    plan.updated_at = now


def _ranges_overlap(a_lo: int | None, a_hi: int | None, b_lo: int | None, b_hi: int | None) -> bool:
    lo = max(a_lo if a_lo is not None else -1, b_lo if b_lo is not None else -1)
    hi = min(
        a_hi if a_hi is not None else 1 << 62,
        b_hi if b_hi is not None else 1 << 62,
    )
    return lo <= hi


def overlapping_rule(
    session: Session, creditor_id: str, fields: OfferRuleFields, exclude_id: str | None
) -> OfferRule | None:
    """An active rule with the same priority that could match the same debts: which one
    applies would then be a coin toss, so such a pair is refused."""
    for other in creditor_rules(session, creditor_id):
        if other.id == exclude_id or not other.active or other.priority != fields.priority:
            continue
        if other.currency and fields.currency and other.currency != fields.currency:
            continue
        if sorted(other.tags or []) != sorted(fields.tags or []):
            continue
        if _ranges_overlap(
            other.min_balance, other.max_balance, fields.min_balance, fields.max_balance
        ) and _ranges_overlap(
            other.min_days_past_due,
            other.max_days_past_due,
            fields.min_days_past_due,
            fields.max_days_past_due,
        ):
            return other
    return None


def _validated(data: dict[str, Any]) -> OfferRuleFields:
    try:
        return OfferRuleFields.model_validate(data)
    except ValidationError as exc:
        fields = [
            (
                ".".join(str(p) for p in e["loc"]) or "body",
                str(e["msg"]).removeprefix("Value error, "),
            )
            for e in exc.errors()
        ]
        raise ValidationFailed("invalid offer rule", fields=fields) from exc


def _check_rule(
    session: Session, creditor_id: str, fields: OfferRuleFields, rule_id: str | None
) -> None:
    clash = session.scalars(
        select(OfferRule).where(OfferRule.creditor_id == creditor_id, OfferRule.name == fields.name)
    ).first()
    if clash is not None and clash.id != rule_id:
        raise ValidationFailed("a rule with this name exists", field="name")
    other = overlapping_rule(session, creditor_id, fields, rule_id)
    if other is not None:
        raise ValidationFailed(
            f"overlaps active rule {other.name!r} with the same priority; "
            "give one of them another priority or disjoint ranges",
            field="priority",
        )


def create_rule(
    session: Session, creditor: Creditor, data: dict[str, Any], *, now: datetime, actor: str
) -> OfferRule:
    """A new rule (version 1), validated against the creditor's other rules."""
    fields = _validated(data)
    _check_rule(session, creditor.id, fields, None)
    rule = OfferRule(
        creditor_id=creditor.id,
        **fields.model_dump(),
        active=True,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    session.flush()
    snapshot_rule(session, rule, now)
    record_event(
        session,
        creditor_id=creditor.id,
        actor=actor,
        kind="offer_rule.created",
        now=now,
        to_value=rule.id,
        data=rule_terms(rule),
    )
    return rule


def update_rule(
    session: Session, rule: OfferRule, changes: dict[str, Any], *, now: datetime, actor: str
) -> OfferRule:
    """Change a rule: a new version when its terms change; agreed plans keep the version
    they were made from, so they never change."""
    active = changes.pop("active", None)
    if changes:
        merged = {**rule_terms(rule), **changes}
        fields = _validated(merged)
        if active is not False and rule.active:
            _check_rule(session, rule.creditor_id, fields, rule.id)
        new_terms = fields.model_dump()
        if any(getattr(rule, k) != v for k, v in new_terms.items()):
            before = rule_terms(rule)
            for key, value in new_terms.items():
                setattr(rule, key, value)
            rule.version += 1
            session.flush()
            snapshot_rule(session, rule, now)
            record_event(
                session,
                creditor_id=rule.creditor_id,
                actor=actor,
                kind="offer_rule.updated",
                now=now,
                from_value=before,
                to_value=rule_terms(rule),
                data={"rule_id": rule.id, "version": rule.version},
            )
    if active is not None and active != rule.active:
        if active:
            _check_rule(session, rule.creditor_id, _validated(rule_terms(rule)), rule.id)
        rule.active = active
        record_event(
            session,
            creditor_id=rule.creditor_id,
            actor=actor,
            kind="offer_rule.activated" if active else "offer_rule.deactivated",
            now=now,
            to_value=rule.id,
        )
    rule.updated_at = now
    session.flush()
    return rule


def end_plan(
    session: Session, plan: Plan, status: PlanStatus, *, now: datetime, actor: str, reason: str
) -> None:
    """End a running plan (`canceled`: withdrawn, the debt settled or closed some other
    way: what is left of it is canceled; `broken`: installments stayed unpaid, and they
    stay as they are, for the record)."""
    if status == "canceled":
        for installment in plan_installments(session, plan.id):
            if installment.status in ("pending", "late"):
                installment.status = "canceled"
    if plan.status != status:
        record_event(
            session,
            creditor_id=plan.creditor_id,
            actor=actor,
            kind="plan.status",
            now=now,
            debt_id=plan.debt_id,
            debtor_id=plan.debtor_id,
            from_value=plan.status,
            to_value=status,
            data={"reason": reason},
        )
    plan.status = status
    plan.ended_at = now
    plan.updated_at = now
