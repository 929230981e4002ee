"""`/api/v1/.../suppressions` and `/api/v1/consent-ledger`."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from app.access.deps import CanExport, CanManageDebts, CanView
from app.access.principal import Principal
from app.actions.suppressions import suppress_debtor
from app.consent.ledger import ledger_csv, ledger_entries, ledger_row, record_consent
from app.consent.models import REPLIES_ALLOWED, Suppression
from app.consent.schemas import (
    ConsentEntryOut,
    ConsentIn,
    ConsentLedger,
    SuppressionIn,
    SuppressionList,
    SuppressionOut,
)
from app.consent.service import lift_suppression, list_suppressions
from app.debts.models import Debt, Debtor
from app.deps import ClockDep, SessionDep
from app.errors import NotFound, ValidationFailed
from app.phones import PhoneError, normalize_phone

router = APIRouter(prefix="/api/v1", tags=["consent"])


def _aware(value: datetime) -> datetime:
    # SQLite hands datetimes back naive; they are stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def suppression_out(suppression: Suppression, now: datetime) -> SuppressionOut:
    ends_at = _aware(suppression.ends_at) if suppression.ends_at else None
    active = suppression.lifted_at is None and (ends_at is None or ends_at > now)
    return SuppressionOut(
        id=suppression.id,
        debtor_id=suppression.debtor_id,
        reason=suppression.reason,
        evidence_note=suppression.evidence_note,
        starts_at=suppression.starts_at,
        ends_at=suppression.ends_at,
        lifted_at=suppression.lifted_at,
        active=active,
        replies_allowed=suppression.reason in REPLIES_ALLOWED,
        created_by=suppression.created_by,
    )


def _debt_debtor(session: SessionDep, principal: Principal, debt_id: str) -> Debtor:
    debt = session.get(Debt, debt_id)
    if debt is None or debt.creditor_id != principal.creditor.id:
        raise NotFound("debt not found", field="id")
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    return debtor


@router.post("/debts/{debt_id}/suppressions", status_code=201)
def create_suppression(
    debt_id: str,
    body: SuppressionIn,
    principal: CanManageDebts,
    session: SessionDep,
    clock: ClockDep,
) -> SuppressionOut:
    """Suppress the debt's debtor (all their debts with this creditor)."""
    debtor = _debt_debtor(session, principal, debt_id)
    now = clock.now()
    suppression = suppress_debtor(
        session,
        principal.creditor,
        debtor,
        reason=body.reason,
        evidence_note=body.evidence_note,
        ends_at=body.ends_at,
        now=now,
        actor=principal.actor,
    )
    return suppression_out(suppression, now)


@router.get("/debts/{debt_id}/suppressions")
def debtor_suppressions(
    debt_id: str, principal: CanView, session: SessionDep, clock: ClockDep
) -> SuppressionList:
    """The suppressions of the debt's debtor, newest first."""
    debtor = _debt_debtor(session, principal, debt_id)
    now = clock.now()
    return SuppressionList(
        items=[
            suppression_out(s, now)
            for s in list_suppressions(session, principal.creditor, debtor.id)
        ]
    )


@router.delete("/suppressions/{suppression_id}")
def lift(
    suppression_id: str, principal: CanManageDebts, session: SessionDep, clock: ClockDep
) -> SuppressionOut:
    """Lift a suppression now."""
    now = clock.now()
    suppression = lift_suppression(
        session, principal.creditor, suppression_id, now=now, actor=principal.actor
    )
    return suppression_out(suppression, now)


def _phone(value: str | None, country: str) -> str | None:
    if value is None:
        return None
    try:
        return normalize_phone(value, country)
    except PhoneError as exc:
        raise ValidationFailed(str(exc), field="phone") from exc


@router.get("/consent-ledger")
def consent_ledger(
    principal: CanView, session: SessionDep, phone: str | None = None
) -> ConsentLedger:
    """Consent and revocations of the numbers this creditor texts, oldest first."""
    creditor = principal.creditor
    entries = ledger_entries(session, creditor, _phone(phone, creditor.country))
    return ConsentLedger(items=[ConsentEntryOut(**ledger_row(e, creditor)) for e in entries])


@router.get("/consent-ledger.csv", response_class=Response)
def consent_ledger_csv(
    principal: CanExport, session: SessionDep, phone: str | None = None
) -> Response:
    """The same ledger as a CSV file."""
    creditor = principal.creditor
    entries = ledger_entries(session, creditor, _phone(phone, creditor.country))
    return Response(
        ledger_csv(entries, creditor),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="consent-ledger.csv"'},
    )


@router.post("/consent-ledger", status_code=201)
def add_consent(
    body: ConsentIn, principal: CanManageDebts, session: SessionDep, clock: ClockDep
) -> ConsentEntryOut:
    """Record how and when consent to text a number was obtained."""
    creditor = principal.creditor
    phone = _phone(body.phone, creditor.country)
    assert phone is not None
    entry = record_consent(
        session,
        phone=phone,
        creditor_id=creditor.id,
        channel="api",
        how=body.how,
        now=clock.now(),
        actor=principal.actor,
        effective_at=body.obtained_at,
    )
    session.flush()
    return ConsentEntryOut(**ledger_row(entry, creditor))
