"""Debt import (API, CSV, CLI) and statements."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import IO, Any, Literal, cast
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import String, Table, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.consent.models import ConsentEntry
from app.creditors.models import Creditor
from app.db import bulk_insert, is_postgres, new_id
from app.debts.models import Debt, Debtor, Event
from app.debts.schemas import DebtIn
from app.errors import NotFound, ValidationFailed
from app.events import record_event
from app.messaging.models import Message, PhoneOptOut
from app.money import format_money
from app.phones import (
    AmbiguousTimezone,
    Mobile,
    PhoneError,
    check_timezone,
    infer_timezones,
    parse_mobile,
)
from app.texts import (
    Language,
    format_local_date,
    locale_tag,
    render,
    short_creditor_name,
    supported_language,
)

# Rows validated and stored together: one savepoint, one look-up per table and one
# multi-row statement per table for each chunk. A CSV import also drops the session's
# objects (and, with a checkpoint, commits) after each chunk.
CHUNK_SIZE = 1000

# What a re-import did to an existing debt that has consequences beyond it: "moved" (to
# another debtor), "repriced" (amount or currency changed), "settled" (the new amount is
# covered by what was paid). The actions layer runs their cascades.
ReimportChange = Literal["moved", "repriced", "settled"]
OnReimport = Callable[[Session, Debt, ReimportChange, datetime, str], None]

DEBTORS = cast(Table, Debtor.__table__)
DEBTS = cast(Table, Debt.__table__)
EVENTS = cast(Table, Event.__table__)
CONSENT = cast(Table, ConsentEntry.__table__)


@dataclass
class ValidRow:
    """An import row that passed every check, normalised."""

    data: DebtIn
    phone: str
    language: Language
    timezone: str
    # Further zones the inferred number may be in (empty when the row named its zone).
    other_timezones: list[str] = field(default_factory=list)


@dataclass
class RowOutcome:
    """What became of one input row, in input order."""

    index: int
    external_id: str | None
    status: str
    id: str | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def validate_row(
    raw: Mapping[str, Any], creditor: Creditor, now: datetime | None = None
) -> tuple[ValidRow | None, list[tuple[str, str]]]:
    """Check one row; return it normalised, or the (field, reason) list of what is wrong.
    The phone is parsed once (`parse_mobile`) and its zones inferred from that parse;
    `now` is the instant whose UTC offsets decide whether the zones are close enough."""
    errors: list[tuple[str, str]] = []
    try:
        data = DebtIn.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            message = error["msg"]
            if error["type"] == "int_type" or error["type"] == "int_from_float":
                message = "must be an integer amount in minor units (e.g. cents)"
            errors.append((_field_path(error["loc"]), message))
        return None, errors
    mobile: Mobile | None = None
    try:
        mobile = parse_mobile(data.debtor.phone, creditor.country)
    except PhoneError as exc:
        errors.append(("debtor.phone", str(exc)))
    language = creditor.default_language
    if data.debtor.language:
        supported = supported_language(data.debtor.language)
        if supported is None:
            errors.append(("debtor.language", "supported languages are en, es and pt-BR"))
        else:
            language = supported
    timezone = ""
    others: list[str] = []
    if data.debtor.timezone:
        try:
            timezone = check_timezone(data.debtor.timezone)
        except ValueError as exc:
            errors.append(("debtor.timezone", str(exc)))
    elif mobile is not None:
        try:
            zones = infer_timezones(mobile, now or datetime.now(UTC))
        except AmbiguousTimezone as exc:
            zones = []
            errors.append(("debtor.timezone", str(exc)))
        else:
            if not zones:
                errors.append(
                    ("debtor.timezone", "cannot infer a time zone from the number; send one")
                )
        if zones:
            timezone, others = zones[0], zones[1:]
    if errors or mobile is None:
        return None, errors
    return ValidRow(data, mobile.e164, language, timezone, others), []


def first_statement_on(creditor: Creditor, due: date) -> date:
    """When the automatic cadence first writes about a debt due on `due`."""
    return due + timedelta(days=min(int(o) for o in creditor.cadence_offsets or [0]))


def _consent_at_import(
    creditor: Creditor, row: ValidRow, now: datetime, actor: str
) -> dict[str, Any]:
    """The consent ledger's note of a number imported (with how consent was obtained,
    when the import says), as a row of `consent_entries`."""
    return {
        "id": new_id(),
        "phone": row.phone,
        "creditor_id": creditor.id,
        "event": "consent",
        "channel": "import",
        "words": row.data.debtor.consent,
        "message_id": None,
        "effective_at": now,
        "confirmation_message_id": None,
        "actor": actor,
        "recorded_at": now,
    }


def _among(session: Session, column: Any, values: list[str]) -> Any:
    """`column IN (values)`; on PostgreSQL `column = ANY(:array)`, one parameter instead
    of one per value (psycopg rewrites every placeholder of a statement it runs)."""
    if is_postgres(session):
        return column == any_(bindparam(None, values, type_=ARRAY(String())))
    return column.in_(values)


def _absorb(debtor: dict[str, Any], row: ValidRow, now: datetime) -> None:
    """A later row naming a known number: its name, and its language and zone when it
    gives them, replace the debtor's (as the rows come, the last one wins)."""
    data = row.data
    debtor["name"] = data.debtor.name
    if data.debtor.language:
        debtor["language"] = row.language
    if data.debtor.timezone:
        debtor["timezone"] = row.timezone
        debtor["other_timezones"] = None
    debtor["updated_at"] = now


def _new_debtor(
    creditor: Creditor, row: ValidRow, opted_out: set[str], now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "creditor_id": creditor.id,
        "name": row.data.debtor.name,
        "phone": row.phone,
        "language": row.language,
        "timezone": row.timezone,
        "other_timezones": row.other_timezones or None,
        # Numbers that said STOP before this creditor knew them stay silent.
        "contact_status": "opted_out" if row.phone in opted_out else "active",
        "contact_window_start": None,
        "contact_window_end": None,
        "contact_weekdays_only": False,
        "created_at": now,
        "updated_at": now,
    }


def _expire_cached(session: Session, model: type[Any], ids: Iterable[str]) -> None:
    """Core statements bypass the session: objects it already holds for these rows are
    expired so that whatever reads them next sees the database."""
    for row_id in ids:
        cached = session.identity_map.get(identity_key(model, row_id))
        if cached is not None:
            session.expire(cached)


def _store_debtors(
    session: Session,
    creditor: Creditor,
    rows: list[tuple[int, ValidRow]],
    now: datetime,
    actor: str,
) -> dict[str, str]:
    """Create or update the debtors of `rows` (one look-up, one multi-row INSERT … ON
    CONFLICT DO NOTHING, one UPDATE executemany) and note each number in the consent
    ledger (one multi-row INSERT); returns phone → debtor id."""
    phones = list(dict.fromkeys(row.phone for _, row in rows))
    known = {
        r.phone: dict(r._mapping)
        for r in session.execute(
            select(
                DEBTORS.c.id,
                DEBTORS.c.phone,
                DEBTORS.c.name,
                DEBTORS.c.language,
                DEBTORS.c.timezone,
                DEBTORS.c.other_timezones,
            ).where(DEBTORS.c.creditor_id == creditor.id, _among(session, DEBTORS.c.phone, phones))
        )
    }
    unknown = [p for p in phones if p not in known]
    opted_out = (
        set(
            session.scalars(
                select(PhoneOptOut.phone).where(_among(session, PhoneOptOut.phone, unknown))
            )
        )
        if unknown
        else set()
    )
    created: dict[str, dict[str, Any]] = {}
    consents: list[dict[str, Any]] = []
    for _, row in rows:
        debtor = known.get(row.phone) or created.get(row.phone)
        if debtor is None:
            created[row.phone] = _new_debtor(creditor, row, opted_out, now)
            consents.append(_consent_at_import(creditor, row, now, actor))
            continue
        if row.data.debtor.consent:
            consents.append(_consent_at_import(creditor, row, now, actor))
        _absorb(debtor, row, now)
    if created:
        inserted = set(
            bulk_insert(
                session,
                DEBTORS,
                list(created.values()),
                conflict=("creditor_id", "phone"),
                returning="phone",
            )
        )
        if len(inserted) < len(created):
            # Another import stored some of these numbers since the look-up: update
            # theirs with what these rows say instead.
            raced = [phone for phone in created if phone not in inserted]
            for r in session.execute(
                select(DEBTORS.c.id, DEBTORS.c.phone).where(
                    DEBTORS.c.creditor_id == creditor.id, _among(session, DEBTORS.c.phone, raced)
                )
            ):
                values = created.pop(r.phone)
                values["id"] = r.id
                known[r.phone] = values
    updates = [
        {
            "b_id": debtor["id"],
            "name": debtor["name"],
            "language": debtor["language"],
            "timezone": debtor["timezone"],
            "other_timezones": debtor["other_timezones"],
            "updated_at": now,
        }
        for debtor in known.values()
        if "updated_at" in debtor
    ]
    if updates:
        session.execute(
            update(DEBTORS)
            .where(DEBTORS.c.id == bindparam("b_id"))
            .values(
                name=bindparam("name"),
                language=bindparam("language"),
                timezone=bindparam("timezone"),
                other_timezones=bindparam("other_timezones"),
                updated_at=bindparam("updated_at"),
            ),
            updates,
        )
        _expire_cached(session, Debtor, (u["b_id"] for u in updates))
    if consents:
        bulk_insert(session, CONSENT, consents)
    return {phone: debtor["id"] for phone, debtor in (known | created).items()}


def _upsert_chunk(
    session: Session,
    creditor: Creditor,
    rows: list[tuple[int, ValidRow]],
    now: datetime,
    actor: str,
    on_reimport: OnReimport,
) -> list[RowOutcome]:
    """Create or update the debts of `rows` (and their debtors), whose external_ids
    are distinct. New debts go in one multi-row INSERT … ON CONFLICT DO NOTHING with
    their `debt.created` events in one more; re-imports of known debts go through the
    ORM one by one, because a change of debtor, amount or a covered balance runs the
    lifecycle cascade (`on_reimport`)."""
    # Core statements below do not flush the session: anything it still holds goes first.
    session.flush()
    external_ids = [row.data.external_id for _, row in rows]
    known_ids: set[str] = set(
        session.scalars(
            select(DEBTS.c.external_id).where(
                DEBTS.c.creditor_id == creditor.id,
                _among(session, DEBTS.c.external_id, external_ids),
            )
        )
    )
    debtor_ids = _store_debtors(session, creditor, rows, now, actor)
    outcomes: dict[int, RowOutcome] = {}
    new_debts: dict[str, dict[str, Any]] = {}
    reimports: list[tuple[int, ValidRow]] = []
    for index, row in rows:
        data = row.data
        if data.external_id in known_ids:
            reimports.append((index, row))
            continue
        new_debts[data.external_id] = {
            "id": new_id(),
            "creditor_id": creditor.id,
            "debtor_id": debtor_ids[row.phone],
            "external_id": data.external_id,
            "description": data.description,
            "tags": data.tags,
            "amount": data.amount,
            "balance": data.amount,
            "currency": data.currency,
            "due_date": data.due_date,
            "next_statement_on": first_statement_on(creditor, data.due_date),
            "status": "open",
            "escalation": None,
            "needs_review": False,
            "created_at": now,
            "updated_at": now,
        }
        outcomes[index] = RowOutcome(
            index, data.external_id, "created", new_debts[data.external_id]["id"]
        )
    if new_debts:
        inserted = set(
            bulk_insert(
                session,
                DEBTS,
                list(new_debts.values()),
                conflict=("creditor_id", "external_id"),
                returning="external_id",
            )
        )
        if len(inserted) < len(new_debts):
            # Another import stored some of these debts since the look-up: these rows
            # re-import them.
            for index, row in rows:
                if index in outcomes and row.data.external_id not in inserted:
                    del outcomes[index]
                    reimports.append((index, row))
        events = [
            {
                "id": new_id(),
                "creditor_id": creditor.id,
                "debtor_id": debt["debtor_id"],
                "debt_id": debt["id"],
                "actor": actor,
                "kind": "debt.created",
                "from_value": None,
                "to_value": str(debt["balance"]),
                "data": None,
                "created_at": now,
            }
            for external_id, debt in new_debts.items()
            if external_id in inserted
        ]
        if events:
            bulk_insert(session, EVENTS, events)
    if reimports:
        reimports.sort(key=lambda item: item[0])
        debts = {
            d.external_id: d
            for d in session.scalars(
                select(Debt).where(
                    Debt.creditor_id == creditor.id,
                    _among(
                        session, Debt.external_id, [row.data.external_id for _, row in reimports]
                    ),
                )
            )
        }
        for index, row in reimports:
            debt = debts[row.data.external_id]
            refusal = reimport_refusal(debt, row.data)
            if refusal is not None:
                outcomes[index] = RowOutcome(
                    index, row.data.external_id, "error", debt.id, [refusal]
                )
                continue
            _update_debt(session, debt, debtor_ids[row.phone], row.data, now, actor, on_reimport)
            outcomes[index] = RowOutcome(index, row.data.external_id, "updated", debt.id)
    session.flush()
    return [outcomes[index] for index, _ in rows]


def reimport_refusal(debt: Debt, data: DebtIn) -> tuple[str, str] | None:
    """Why a re-import may not change this debt, if it may not: once a plan is agreed or
    the debt is settled, its amount and currency belong to that agreement."""
    if debt.status not in ("in_plan", "settled"):
        return None
    if data.currency != debt.currency:
        return ("currency", f"the debt is {debt.status}; its currency cannot change")
    if data.amount != debt.amount:
        return ("amount", f"the debt is {debt.status}; its amount cannot change by import")
    return None


def _update_debt(
    session: Session,
    debt: Debt,
    debtor_id: str,
    data: DebtIn,
    now: datetime,
    actor: str,
    on_reimport: OnReimport,
) -> None:
    """Re-import of a known external_id: new terms, what was paid stays paid."""
    paid = debt.amount - debt.balance
    changes: dict[str, object] = {
        "amount": data.amount,
        "balance": max(data.amount - paid, 0),
        "currency": data.currency,
        "due_date": data.due_date,
        "description": data.description,
        "debtor_id": debtor_id,
        "tags": data.tags,
    }
    diff = {
        key: [str(getattr(debt, key)), str(value)]
        for key, value in changes.items()
        if getattr(debt, key) != value
    }
    if not diff:
        return
    if "due_date" in diff:
        creditor = session.get(Creditor, debt.creditor_id)
        assert creditor is not None
        debt.next_statement_on = first_statement_on(creditor, data.due_date)
    for key, value in changes.items():
        setattr(debt, key, value)
    debt.updated_at = now
    if "debtor_id" in diff:
        on_reimport(session, debt, "moved", now, actor)
    if "amount" in diff or "currency" in diff:
        on_reimport(session, debt, "repriced", now, actor)
    record_event(
        session,
        creditor_id=debt.creditor_id,
        actor=actor,
        kind="debt.updated",
        now=now,
        debt_id=debt.id,
        debtor_id=debtor_id,
        data={"changes": diff},
    )
    if debt.balance == 0 and debt.status in ("open", "paused", "disputed"):
        # The new amount is covered by what was already paid.
        on_reimport(session, debt, "settled", now, actor)


def _store_chunk(
    session: Session,
    creditor: Creditor,
    rows: list[tuple[int, ValidRow]],
    now: datetime,
    actor: str,
    on_reimport: OnReimport,
) -> list[RowOutcome]:
    """Store a chunk in one savepoint per run of rows with distinct external_ids (a
    later row repeating an external_id re-imports what the earlier one stored); if the
    database refuses a run, store its rows one by one so only the bad ones fail."""
    outcomes: list[RowOutcome] = []
    for run in _distinct_runs(rows):
        try:
            with session.begin_nested():
                outcomes.extend(_upsert_chunk(session, creditor, run, now, actor, on_reimport))
            continue
        except IntegrityError:
            pass
        for index, row in run:
            try:
                with session.begin_nested():
                    outcomes.extend(
                        _upsert_chunk(session, creditor, [(index, row)], now, actor, on_reimport)
                    )
            except IntegrityError as exc:
                outcomes.append(
                    RowOutcome(
                        index,
                        row.data.external_id,
                        "error",
                        errors=[("", f"could not be stored: {type(exc.orig).__name__}")],
                    )
                )
    return outcomes


def _distinct_runs(rows: list[tuple[int, ValidRow]]) -> Iterator[list[tuple[int, ValidRow]]]:
    """Consecutive runs of `rows` in which no external_id repeats."""
    run: list[tuple[int, ValidRow]] = []
    seen: set[str] = set()
    for item in rows:
        external_id = item[1].data.external_id
        if external_id in seen:
            yield run
            run, seen = [], set()
        run.append(item)
        seen.add(external_id)
    if run:
        yield run


def _echoable(value: str) -> str:
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value)


def import_rows(
    session: Session,
    creditor: Creditor,
    rows: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    actor: str,
    on_reimport: OnReimport,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[RowOutcome]:
    """Validate and store rows chunk by chunk, yielding one outcome per row in input
    order. Valid rows are stored even when others fail; re-sent external_ids update
    (what that does beyond the debt runs through `on_reimport`)."""
    iterator = iter(enumerate(rows))
    while chunk := list(islice(iterator, chunk_size)):
        outcomes: dict[int, RowOutcome] = {}
        valid: list[tuple[int, ValidRow]] = []
        for index, raw in chunk:
            external_id = raw.get("external_id") if isinstance(raw, Mapping) else None
            if not isinstance(raw, Mapping):
                outcomes[index] = RowOutcome(
                    index, None, "error", errors=[("", "must be an object")]
                )
                continue
            row, errors = validate_row(raw, creditor, now)
            if row is None:
                outcomes[index] = RowOutcome(
                    index,
                    # Echoed as given, but always encodable: an unpaired surrogate or a
                    # NUL is shown as U+FFFD (the row is refused for it anyway).
                    _echoable(str(external_id)[:200]) if external_id is not None else None,
                    "error",
                    errors=errors,
                )
            else:
                valid.append((index, row))
        if valid:
            for outcome in _store_chunk(session, creditor, valid, now, actor, on_reimport):
                outcomes[outcome.index] = outcome
        for index, _ in chunk:
            yield outcomes[index]


CSV_ALIASES = {
    "debtor.name": "name",
    "debtor_name": "name",
    "name": "name",
    "debtor.phone": "phone",
    "debtor_phone": "phone",
    "phone": "phone",
    "debtor.language": "language",
    "debtor_language": "language",
    "language": "language",
    "debtor.timezone": "timezone",
    "debtor_timezone": "timezone",
    "timezone": "timezone",
    "debtor.consent": "consent",
    "debtor_consent": "consent",
    "consent": "consent",
}


def csv_rows(stream: IO[str]) -> Iterator[dict[str, Any]]:
    """Rows of an import CSV as API-shaped items, read lazily (a 50,000-row file never
    sits in memory). Header: external_id, name (or debtor.name / debtor_name), phone,
    language, timezone, consent, amount, currency, due_date, description."""
    reader = csv.DictReader(stream)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # Malformed CSV (an unclosed quote, a NUL byte): refuse the file, keep nothing.
            raise ValidationFailed(
                f"line {reader.line_num}: not valid CSV ({exc})", field="file"
            ) from exc
        item: dict[str, Any] = {}
        debtor: dict[str, Any] = {}
        for key, value in record.items():
            if key is None:
                continue
            key = key.strip().lower()
            value = value.strip() if isinstance(value, str) else value
            if value == "":
                value = None
            target = CSV_ALIASES.get(key)
            if target:
                debtor[target] = value
            elif key == "amount" and value is not None:
                # Only plain ASCII digits become integers ("²".isdigit() is True);
                # anything else stays text so validation names the field.
                item[key] = int(value) if re.fullmatch(r"-?[0-9]{1,18}", value) else value
            else:
                item[key] = value
        item["debtor"] = debtor
        yield item


@dataclass
class ImportSummary:
    """Totals of a bulk import, with the first failed rows."""

    total: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    max_errors: int = 1000

    def add(self, outcome: RowOutcome, line: int) -> None:
        self.total += 1
        if outcome.status == "created":
            self.created += 1
        elif outcome.status == "updated":
            self.updated += 1
        else:
            self.failed += 1
            if len(self.errors) < self.max_errors:
                self.errors.append(
                    {
                        "line": line,
                        "external_id": outcome.external_id,
                        "errors": [{"field": f, "message": m} for f, m in outcome.errors],
                    }
                )


def check_csv(stream: IO[str]) -> None:
    """Read a whole CSV once without storing anything: ValidationFailed (malformed CSV)
    or UnicodeDecodeError (not UTF-8) before a single row is imported."""
    for _ in csv_rows(stream):
        pass


def import_csv(
    session: Session,
    creditor_id: str,
    stream: IO[str],
    *,
    now: datetime,
    actor: str,
    on_reimport: OnReimport,
    progress: Callable[[ImportSummary], None] | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> ImportSummary:
    """Import a CSV chunk by chunk (CHUNK_SIZE rows): each chunk is stored with
    multi-row statements and then dropped from the session, so memory stays flat however
    long the file (500,000 rows measured in bench/); the summary keeps the totals and
    only the first 1,000 refused rows.

    Without `checkpoint` everything lands in the caller's transaction. With it (a commit
    the caller provides) the stream, which must then be seekable, is first checked whole
    (a malformed file still stores nothing), and `checkpoint` runs after every chunk, so
    a long import never holds the database's write lock for more than one chunk: on
    SQLite an inbound text waits at most that long. A failure midway (the database goes
    away, the process dies) leaves every committed chunk whole and nothing of the chunk
    that failed (each is one savepoint and one commit). Rows are upserts by external_id,
    so re-running an import that stopped half-way stores nothing twice.
    """
    if checkpoint is not None:
        start = stream.tell()
        check_csv(stream)
        stream.seek(start)
    summary = ImportSummary()
    rows = csv_rows(stream)
    line = 1
    while chunk := list(islice(rows, CHUNK_SIZE)):
        creditor = session.get(Creditor, creditor_id)
        if creditor is None:
            raise NotFound("creditor not found")
        for outcome in import_rows(
            session, creditor, chunk, now=now, actor=actor, on_reimport=on_reimport
        ):
            line += 1
            summary.add(outcome, line)
        session.flush()
        if checkpoint is not None:
            checkpoint()
        session.expunge_all()
        if progress is not None:
            progress(summary)
    return summary


def statement_text(creditor: Creditor, debt: Debt, debtor: Debtor, today: date) -> str:
    """The statement: creditor, amount, due or days overdue, the reply menu, opt-out."""
    language = locale_tag(debtor.language, debtor.phone)
    params = {
        "creditor": short_creditor_name(creditor.name),
        "amount": format_money(debt.balance, debt.currency, language),
        "due": format_local_date(debt.due_date, language),
        "days": (today - debt.due_date).days,
        "menu": render("reply_menu", language),
    }
    if debt.due_date < today:
        text = render("statement_overdue", language, **params)
    elif debt.due_date == today:
        text = render("statement_due_today", language, **params)
    else:
        text = render("statement_due", language, **params)
    if creditor.kind == "agency":
        # FDCPA 807(11): a collector's communications say they come from a debt collector.
        text = f"{render('collector_disclosure', language)} {text}"
    return text


COLLECTIBLE = ("open", "in_plan")


def statement_at_send(session: Session, message: Message, now: datetime) -> str | None:
    """A queued statement's words as of the moment it goes out (the worker asks just
    before sending): "due today" and "N days ago" in the debtor's local date, the
    balance as it stands. None when the debt no longer calls for a statement."""
    if message.debt_id is None or message.creditor_id is None:
        return message.body
    debt = session.get(Debt, message.debt_id)
    creditor = session.get(Creditor, message.creditor_id)
    debtor = session.get(Debtor, message.debtor_id) if message.debtor_id else None
    if debt is None or creditor is None or debtor is None:
        return message.body
    if debt.balance <= 0 or (message.initiated and debt.status not in COLLECTIBLE):
        return None
    today = now.astimezone(ZoneInfo(debtor.timezone)).date()
    return statement_text(creditor, debt, debtor, today)
