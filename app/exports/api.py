"""`/api/v1/exports/{debts,messages,payments}.csv`: the creditor's data as CSV, streamed.

Text cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or
carriage return) are written with a leading apostrophe; phone numbers therefore read
'+14155550123.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Select, select
from sqlalchemy.orm import QueryableAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement

from app.access.deps import CanExport
from app.db import Database
from app.debts.models import DEBT_STATUSES, Debt, Debtor
from app.debts.queries import DebtSearch, search_query
from app.deps import ClockDep
from app.errors import ValidationFailed
from app.exports.csv_stream import Cell, stream_csv
from app.messaging.models import Message
from app.payments.models import PAYMENT_STATUSES, Payment

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

DEBT_COLUMNS = (
    "id",
    "external_id",
    "debtor_name",
    "debtor_phone",
    "language",
    "timezone",
    "contact_status",
    "amount",
    "balance",
    "currency",
    "due_date",
    "status",
    "needs_review",
    "escalation",
    "tags",
    "description",
    "created_at",
    "updated_at",
)
MESSAGE_COLUMNS = (
    "id",
    "created_at",
    "direction",
    "kind",
    "status",
    "debt_external_id",
    "debtor_name",
    "to_phone",
    "from_phone",
    "body",
    "intent",
    "language",
    "segments",
    "send_after",
    "sent_at",
    "delivered_at",
    "error_code",
)
PAYMENT_COLUMNS = (
    "id",
    "payment_id",
    "reference",
    "amount",
    "currency",
    "paid_at",
    "status",
    "applied_amount",
    "excess_amount",
    "needs_review",
    "debt_external_id",
    "debtor_name",
    "created_at",
)


def _csv_response(
    request: Request,
    name: str,
    today: date,
    header: Sequence[str],
    query: Select[*tuple[Any, ...]],
    to_row: Any,
) -> StreamingResponse:
    database: Database = request.app.state.db
    return StreamingResponse(
        stream_csv(database, header, query, to_row),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{today.isoformat()}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _between(
    column: QueryableAttribute[Any], first: date | None, last: date | None
) -> list[ColumnElement[bool]]:
    """Conditions keeping `column` within the whole UTC days `first` to `last`."""
    if first is not None and last is not None and first > last:
        raise ValidationFailed("must not be after 'to'", field="from")
    conditions: list[ColumnElement[bool]] = []
    if first is not None:
        conditions.append(column >= datetime.combine(first, time(), UTC))
    if last is not None:
        conditions.append(column < datetime.combine(last + timedelta(days=1), time(), UTC))
    return conditions


@router.get("/debts.csv", response_class=StreamingResponse)
def export_debts(
    request: Request,
    principal: CanExport,
    clock: ClockDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: str | None = None,
    language: str | None = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    min_days_past_due: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    max_days_past_due: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    needs_review: bool | None = None,
) -> StreamingResponse:
    """The debts matching the same filters as `GET /api/v1/debts`, oldest first."""
    if status is not None and status not in DEBT_STATUSES:
        raise ValidationFailed(f"must be one of {', '.join(DEBT_STATUSES)}", field="status")
    today = clock.now().date()
    search = DebtSearch(
        q=q,
        status=status,
        language=language,
        tag=tag,
        min_days_past_due=min_days_past_due,
        max_days_past_due=max_days_past_due,
        needs_review=needs_review,
    )
    query = (
        search_query(principal.creditor.id, search, today=today, region=principal.creditor.country)
        .order_by(None)
        .order_by(Debt.created_at, Debt.id)
    )

    def to_row(row: Any) -> Sequence[Cell]:
        debt, debtor = row
        return (
            debt.id,
            debt.external_id,
            debtor.name,
            debtor.phone,
            debtor.language,
            debtor.timezone,
            debtor.contact_status,
            debt.amount,
            debt.balance,
            debt.currency,
            debt.due_date,
            debt.status,
            debt.needs_review,
            debt.escalation,
            ";".join(str(t) for t in debt.tags or ()),
            debt.description,
            debt.created_at,
            debt.updated_at,
        )

    return _csv_response(request, "debts", today, DEBT_COLUMNS, query, to_row)


@router.get("/messages.csv", response_class=StreamingResponse)
def export_messages(
    request: Request,
    principal: CanExport,
    clock: ClockDep,
    from_: Annotated[date | None, Query(alias="from", description="first day (UTC)")] = None,
    to: Annotated[date | None, Query(description="last day (UTC), included")] = None,
    debt_id: str | None = None,
) -> StreamingResponse:
    """Every message in and out (with its body), oldest first."""
    linked = aliased(Debt)
    query = (
        select(Message, linked.external_id, Debtor.name)
        .outerjoin(linked, linked.id == Message.debt_id)
        .outerjoin(Debtor, Debtor.id == Message.debtor_id)
        .where(
            Message.creditor_id == principal.creditor.id,
            *_between(Message.created_at, from_, to),
        )
        .order_by(Message.created_at, Message.id)
    )
    if debt_id is not None:
        query = query.where(Message.debt_id == debt_id)

    def to_row(row: Any) -> Sequence[Cell]:
        message, external_id, debtor_name = row
        return (
            message.id,
            message.created_at,
            message.direction,
            message.kind,
            message.status,
            external_id,
            debtor_name,
            message.to_phone,
            message.from_phone,
            message.body,
            message.intent,
            message.language,
            message.segments,
            message.send_after,
            message.sent_at,
            message.delivered_at,
            message.error_code,
        )

    return _csv_response(request, "messages", clock.now().date(), MESSAGE_COLUMNS, query, to_row)


@router.get("/payments.csv", response_class=StreamingResponse)
def export_payments(
    request: Request,
    principal: CanExport,
    clock: ClockDep,
    status: Annotated[
        str | None, Query(description="needs_review | " + " | ".join(PAYMENT_STATUSES))
    ] = None,
    from_: Annotated[date | None, Query(alias="from", description="first day paid (UTC)")] = None,
    to: Annotated[date | None, Query(description="last day paid (UTC), included")] = None,
) -> StreamingResponse:
    """The creditor's payments, oldest first."""
    if status is not None and status not in ("needs_review", *PAYMENT_STATUSES):
        raise ValidationFailed(
            f"must be one of needs_review, {', '.join(PAYMENT_STATUSES)}", field="status"
        )
    query = (
        select(Payment, Debt.external_id, Debtor.name)
        .outerjoin(Debt, Debt.id == Payment.debt_id)
        .outerjoin(Debtor, Debtor.id == Debt.debtor_id)
        .where(Payment.creditor_id == principal.creditor.id, *_between(Payment.paid_at, from_, to))
        .order_by(Payment.created_at, Payment.id)
    )
    if status == "needs_review":
        query = query.where(Payment.needs_review.is_(True))
    elif status is not None:
        query = query.where(Payment.status == status)

    def to_row(row: Any) -> Sequence[Cell]:
        payment, external_id, debtor_name = row
        return (
            payment.id,
            payment.payment_id,
            payment.reference,
            payment.amount,
            payment.currency,
            payment.paid_at,
            payment.status,
            payment.applied_amount,
            payment.excess_amount,
            payment.needs_review,
            external_id,
            debtor_name,
            payment.created_at,
        )

    return _csv_response(request, "payments", clock.now().date(), PAYMENT_COLUMNS, query, to_row)
