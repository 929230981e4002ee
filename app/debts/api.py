"""`/api/v1/debts`: import, read, statements, messages."""

from __future__ import annotations

import io
import tempfile
from typing import Annotated

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.params import File
from sqlalchemy import select

from app.actions.debts import import_debts, import_debts_csv, queue_statement, review_debt
from app.debts.models import Debt, Debtor
from app.debts.preferences import contact_window
from app.debts.queries import get_debt
from app.debts.schemas import (
    ContactWindowOut,
    CsvImportSummary,
    DebtorOut,
    DebtOut,
    DebtReview,
    ImportRequest,
    ImportResponse,
    ImportResult,
    MessageList,
    RowError,
    StatementQueued,
    message_out,
)
from app.deps import ClockDep, PrincipalDep, SessionDep
from app.edge import MAX_OFFSET
from app.errors import ValidationFailed
from app.messaging.models import CHRONOLOGICAL, Message

router = APIRouter(prefix="/api/v1/debts", tags=["debts"])

SPOOL_MEMORY_BYTES = 1 << 20
# Its rows are checked one by one (valid rows stored, the others answered with why).
JSON_IMPORT_PATH = "/api/v1/debts"
# The one route whose body may exceed PARLEY_MAX_BODY_BYTES (app/edge.py).
CSV_IMPORT_PATH = "/api/v1/debts/import.csv"


def debt_out(debt: Debt, debtor: Debtor) -> DebtOut:
    """The API view of a debt with its debtor."""
    stated = contact_window(debtor)
    window = ContactWindowOut.model_validate(stated) if stated else None
    return DebtOut(
        contact_window=window,
        id=debt.id,
        external_id=debt.external_id,
        status=debt.status,
        amount=debt.amount,
        balance=debt.balance,
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
    body: ImportRequest, principal: PrincipalDep, session: SessionDep, clock: ClockDep
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
    principal: PrincipalDep,
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
def read_debt(debt_id: str, principal: PrincipalDep, session: SessionDep) -> DebtOut:
    """One debt with its status, balance and debtor."""
    debt = get_debt(session, principal.creditor, debt_id)
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    return debt_out(debt, debtor)


@router.get("")
def list_debts(
    principal: PrincipalDep,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[DebtOut]:
    """This creditor's debts, newest first."""
    query = (
        select(Debt, Debtor)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .where(Debt.creditor_id == principal.creditor.id)
        .order_by(Debt.created_at.desc(), Debt.id)
        .limit(limit)
        .offset(max(offset, 0))
    )
    if status:
        query = query.where(Debt.status == status)
    return [debt_out(debt, debtor) for debt, debtor in session.execute(query)]


@router.patch("/{debt_id}")
def review(
    debt_id: str, body: DebtReview, principal: PrincipalDep, session: SessionDep, clock: ClockDep
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
    return debt_out(debt, debtor)


@router.post("/{debt_id}/statements", status_code=202)
def send_statement(
    debt_id: str, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> StatementQueued:
    """Queue a statement now; the contact rules still decide when it goes out."""
    debt = get_debt(session, principal.creditor, debt_id)
    message = queue_statement(
        session, principal.creditor, debt, now=clock.now(), actor=principal.actor
    )
    return StatementQueued(message=message_out(message))


@router.get("/{debt_id}/messages")
def debt_messages(debt_id: str, principal: PrincipalDep, session: SessionDep) -> MessageList:
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
