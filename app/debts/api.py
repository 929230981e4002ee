"""`/api/v1/debts`: import, read, statements, messages."""

from __future__ import annotations

import io
import tempfile
from typing import Annotated

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.params import File
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.access.deps import CanManageDebts, CanView, CanWork
from app.actions.debts import import_debts, import_debts_csv, queue_statement, review_debt
from app.creditors.models import ApiKey
from app.debts.models import DEBT_STATUSES, Debt, Debtor, Event
from app.debts.preferences import contact_window
from app.debts.queries import DebtSearch, event_shows_values, get_debt, search_debts
from app.debts.schemas import (
    ContactWindowOut,
    CsvImportSummary,
    DebtList,
    DebtorOut,
    DebtOut,
    DebtReview,
    EventList,
    EventOut,
    ImportRequest,
    ImportResponse,
    ImportResult,
    MessageList,
    RowError,
    StatementQueued,
    message_out,
)
from app.deps import ClockDep, SessionDep
from app.edge import MAX_OFFSET
from app.errors import ValidationFailed
from app.messaging.models import CHRONOLOGICAL, Message
from app.users.models import User

router = APIRouter(prefix="/api/v1/debts", tags=["debts"])

SPOOL_MEMORY_BYTES = 1 << 20
# Its rows are checked one by one (valid rows stored, the others answered with why).
JSON_IMPORT_PATH = "/api/v1/debts"
# The one route whose body may exceed PARLEY_MAX_BODY_BYTES (app/edge.py).
CSV_IMPORT_PATH = "/api/v1/debts/import.csv"


def debt_out(debt: Debt, debtor: Debtor, *, amounts: bool) -> DebtOut:
    """The API view of a debt with its debtor; without `amounts`, amount and balance
    are null (for roles that may not see them)."""
    stated = contact_window(debtor)
    window = ContactWindowOut.model_validate(stated) if stated else None
    return DebtOut(
        contact_window=window,
        id=debt.id,
        external_id=debt.external_id,
        status=debt.status,
        amount=debt.amount if amounts else None,
        balance=debt.balance if amounts else None,
        currency=debt.currency,
        due_date=debt.due_date,
        description=debt.description,
        needs_review=debt.needs_review,
        created_at=debt.created_at,
        updated_at=debt.updated_at,
        debtor=DebtorOut(
            id=debtor.id,
            name=debtor.name,
            phone=debtor.phone,
            language=debtor.language,
            timezone=debtor.timezone,
            contact_status=debtor.contact_status,
            contact_window=window,
        ),
    )


@router.post("")
def import_debts_json(
    body: ImportRequest, principal: CanManageDebts, session: SessionDep, clock: ClockDep
) -> ImportResponse:
    """Create or update debts. Results come in input order; valid rows are stored,
    invalid ones say which field is wrong and why. Re-sending an external_id updates."""
    outcomes = import_debts(
        session, principal.creditor, body.items, now=clock.now(), actor=principal.actor
    )
    return ImportResponse(
        results=[
            ImportResult(
                external_id=o.external_id,
                status=o.status,
                id=o.id,
                errors=[RowError(field=f, message=m) for f, m in o.errors] or None,
            )
            for o in outcomes
        ]
    )


@router.post(CSV_IMPORT_PATH.removeprefix("/api/v1/debts"))
async def import_csv_file(
    request: Request,
    principal: CanManageDebts,
    session: SessionDep,
    clock: ClockDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> CsvImportSummary:
    """Import a CSV (multipart `file` or a raw `text/csv` body), streamed to a spool
    file and stored chunk by chunk. Columns: external_id, name, phone, language,
    timezone, amount, currency, due_date, description."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if file is None and media in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ValidationFailed("a form upload needs a 'file' part with the CSV", field="file")
    # The key check is over: end its transaction so that, on SQLite, nobody waits for
    # the write lock while the upload is read.
    session.commit()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
        if file is not None:
            while data := await file.read(64 * 1024):
                spool.write(data)
        else:
            async for data in request.stream():
                spool.write(data)
        if spool.tell() == 0:
            raise ValidationFailed("empty CSV: send a file with a header row", field="file")
        spool.seek(0)
        text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
        try:
            summary = await run_in_threadpool(
                import_debts_csv,
                session,
                principal.creditor.id,
                text,
                now=clock.now(),
                actor=principal.actor,
                checkpoint=session.commit,
            )
        except UnicodeDecodeError as exc:
            raise ValidationFailed("the CSV must be UTF-8 text", field="file") from exc
        finally:
            text.detach()
    return CsvImportSummary(
        total=summary.total,
        created=summary.created,
        updated=summary.updated,
        failed=summary.failed,
        errors=summary.errors,
    )


@router.get("/{debt_id}")
def read_debt(debt_id: str, principal: CanView, session: SessionDep) -> DebtOut:
    """One debt with its status, balance and debtor."""
    debt = get_debt(session, principal.creditor, debt_id)
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    return debt_out(debt, debtor, amounts=principal.sees_amounts)


@router.get("")
def list_debts(
    principal: CanView,
    session: SessionDep,
    clock: ClockDep,
    q: Annotated[
        str | None,
        Query(max_length=200, description="name, phone in any format, or external id"),
    ] = None,
    status: Annotated[str | None, Query(description=" | ".join(DEBT_STATUSES))] = None,
    language: str | None = None,
    tag: Annotated[str | None, Query(max_length=100, description="a segment tag")] = None,
    min_days_past_due: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    max_days_past_due: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    needs_review: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DebtList:
    """This creditor's debts, newest first, with the number of all matches. `q` finds a
    debt by the debtor's name, phone (E.164, national, with separators or a run of its
    digits) or the external id."""
    if status is not None and status not in DEBT_STATUSES:
        raise ValidationFailed(f"must be one of {', '.join(DEBT_STATUSES)}", field="status")
    search = DebtSearch(
        q=q,
        status=status,
        language=language,
        tag=tag,
        min_days_past_due=min_days_past_due,
        max_days_past_due=max_days_past_due,
        needs_review=needs_review,
    )
    rows, total = search_debts(
        session,
        principal.creditor.id,
        search,
        today=clock.now().date(),
        region=principal.creditor.country,
        limit=limit,
        offset=offset,
    )
    return DebtList(
        items=[debt_out(debt, debtor, amounts=principal.sees_amounts) for debt, debtor in rows],
        total=total,
    )


@router.patch("/{debt_id}")
def review(
    debt_id: str, body: DebtReview, principal: CanManageDebts, session: SessionDep, clock: ClockDep
) -> DebtOut:
    """Resume a paused or disputed debt, close a debt, or clear its review flag."""
    debt = get_debt(session, principal.creditor, debt_id)
    review_debt(
        session,
        debt,
        status=body.status,
        needs_review=body.needs_review,
        note=body.note,
        now=clock.now(),
        actor=principal.actor,
    )
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    return debt_out(debt, debtor, amounts=principal.sees_amounts)


@router.post("/{debt_id}/statements", status_code=202)
def send_statement(
    debt_id: str, principal: CanWork, session: SessionDep, clock: ClockDep
) -> StatementQueued:
    """Queue a statement now; the contact rules still decide when it goes out."""
    debt = get_debt(session, principal.creditor, debt_id)
    message = queue_statement(
        session, principal.creditor, debt, now=clock.now(), actor=principal.actor
    )
    return StatementQueued(message=message_out(message))


@router.get("/{debt_id}/messages")
def debt_messages(debt_id: str, principal: CanView, session: SessionDep) -> MessageList:
    """Every message in and out about this debt (and its debtor's general replies),
    oldest first."""
    debt = get_debt(session, principal.creditor, debt_id)
    messages = session.scalars(
        select(Message)
        .where(
            Message.creditor_id == principal.creditor.id,
            (Message.debt_id == debt.id)
            | ((Message.debtor_id == debt.debtor_id) & Message.debt_id.is_(None)),
        )
        .order_by(*CHRONOLOGICAL)
    )
    return MessageList(items=[message_out(m) for m in messages])


# Events whose values say nothing about money: the only ones whose values agents see.
@router.get("/{debt_id}/events")
def debt_events(
    debt_id: str,
    principal: CanView,
    session: SessionDep,
    limit: int = 500,
    offset: int = 0,
) -> EventList:
    """The debt's change history (and its debtor's), oldest first: what changed, when,
    who or what caused it ("api_key:<id>", "user:<id>", "debtor", "worker", ...), and
    from what to what (hidden from roles that may not see amounts on money events)."""
    if not 1 <= limit <= 5000:
        raise ValidationFailed("limit must be between 1 and 5000", field="limit")
    if offset < 0:
        raise ValidationFailed("offset must not be negative", field="offset")
    debt = get_debt(session, principal.creditor, debt_id)
    condition = (Event.creditor_id == principal.creditor.id) & (
        (Event.debt_id == debt.id) | ((Event.debtor_id == debt.debtor_id) & Event.debt_id.is_(None))
    )
    total = session.scalar(select(func.count()).select_from(Event).where(condition))
    events = session.scalars(
        select(Event)
        .where(condition)
        .order_by(Event.created_at, Event.id)
        .limit(limit)
        .offset(offset)
    ).all()
    names = actor_names(session, principal.creditor.id, {e.actor for e in events})
    amounts = principal.sees_amounts
    return EventList(
        items=[
            EventOut(
                id=e.id,
                type=e.kind,
                at=e.created_at,
                actor=e.actor,
                actor_name=names.get(e.actor),
                debt_id=e.debt_id,
                from_value=e.from_value if event_shows_values(e.kind, amounts) else None,
                to_value=e.to_value if event_shows_values(e.kind, amounts) else None,
                data=e.data if event_shows_values(e.kind, amounts) else None,
            )
            for e in events
        ],
        total=int(total or 0),
    )


def actor_names(session: Session, creditor_id: str, actors: set[str]) -> dict[str, str]:
    """Human names for "api_key:<id>" and "user:<id>" actors of this creditor."""
    key_ids = {a.removeprefix("api_key:") for a in actors if a.startswith("api_key:")}
    user_ids = {a.removeprefix("user:") for a in actors if a.startswith("user:")}
    names: dict[str, str] = {}
    if key_ids:
        for key_id, name in session.execute(
            select(ApiKey.id, ApiKey.name).where(
                ApiKey.id.in_(key_ids), ApiKey.creditor_id == creditor_id
            )
        ):
            names[f"api_key:{key_id}"] = name
    if user_ids:
        for user_id, email in session.execute(
            select(User.id, User.email).where(
                User.id.in_(user_ids), User.creditor_id == creditor_id
            )
        ):
            names[f"user:{user_id}"] = email
    return names
