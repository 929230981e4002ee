"""Finding debts: free-text search over name, phone (any format) and external id, with
the filters of the console's debts page, and the total for pagination."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import phonenumbers
from sqlalchemy import Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.debts.models import Debt, Debtor

# Fewer digits than this match too many numbers to be a phone search.
MIN_PHONE_DIGITS = 4


@dataclass(frozen=True)
class DebtSearch:
    """What to look for. `q` matches the debtor's name (any case), the phone in any
    format (E.164, national, with spaces or dashes, or a run of its digits) and the
    external id; the other fields narrow the result."""

    q: str | None = None
    status: str | None = None
    language: str | None = None
    tag: str | None = None
    min_days_past_due: int | None = None
    max_days_past_due: int | None = None
    needs_review: bool | None = None


def _phone_candidates(q: str, region: str) -> list[str]:
    """E.164 forms `q` may stand for (read in the creditor's country when national)."""
    try:
        number = phonenumbers.parse(q, region)
    except phonenumbers.NumberParseException:
        return []
    if not phonenumbers.is_possible_number(number):
        return []
    return [phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)]


def _text_match(q: str, region: str) -> ColumnElement[bool]:
    lowered = q.lower()
    conditions: list[ColumnElement[bool]] = [
        func.lower(Debtor.name).contains(lowered, autoescape=True),
        func.lower(Debt.external_id).contains(lowered, autoescape=True),
    ]
    phones = _phone_candidates(q, region)
    if phones:
        conditions.append(Debtor.phone.in_(phones))
    digits = re.sub(r"\D", "", q)
    # Only when q is a phone written with separators, not a word with a digit in it.
    if len(digits) >= MIN_PHONE_DIGITS and re.fullmatch(r"[\d\s()+.\-/]+", q):
        conditions.append(Debtor.phone.contains(digits, autoescape=True))
    return or_(*conditions)


def search_query(
    creditor_id: str, search: DebtSearch, *, today: date, region: str
) -> Select[Debt, Debtor]:
    """The (debt, debtor) rows of `creditor_id` matching `search`, newest first."""
    query = (
        select(Debt, Debtor)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .where(Debt.creditor_id == creditor_id)
    )
    q = (search.q or "").strip()
    if q:
        query = query.where(_text_match(q, region))
    if search.status:
        query = query.where(Debt.status == search.status)
    if search.language:
        query = query.where(Debtor.language == search.language)
    if search.needs_review is not None:
        query = query.where(Debt.needs_review.is_(search.needs_review))
    if search.min_days_past_due is not None:
        query = query.where(Debt.due_date <= today - timedelta(days=search.min_days_past_due))
    if search.max_days_past_due is not None:
        query = query.where(Debt.due_date >= today - timedelta(days=search.max_days_past_due))
    if search.tag:
        # Tags are a JSON list; matched on its text form, quotes included, so "vip"
        # does not match "vip-2". Portable across SQLite and PostgreSQL.
        tag_json = json.dumps(search.tag)
        query = query.where(cast(Debt.tags, Text).contains(tag_json, autoescape=True))
    return query.order_by(Debt.created_at.desc(), Debt.id)


def search_debts(
    session: Session,
    creditor_id: str,
    search: DebtSearch,
    *,
    today: date,
    region: str,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[Debt, Debtor]], int]:
    """One page of matching (debt, debtor) rows and the number of all matches."""
    query = search_query(creditor_id, search, today=today, region=region)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.execute(query.limit(limit).offset(offset)).all()
    return rows, int(total or 0)
