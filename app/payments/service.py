"""Payment codes and payments: issuing (and reusing) the code for what Parley asks a
debtor to pay, and applying what the processor reports through the payment webhook.

Code schemes sit behind one small interface (:class:`CodeScheme`). What each one puts
in a code:

==========  ==========================  ==============================  ===============
scheme      ``reference`` (webhook)     ``display`` (debtor copies)     image
==========  ==========================  ==============================  ===============
boleto      the 44-digit barcode        the formatted 47-digit typed    ITF barcode
                                        line
pix         the txid (field 62.05)      the BR Code "copia e cola"      QR code
reference   prefix + sequence + check   the same reference              Code 128
==========  ==========================  ==============================  ===============

The payment webhook matches on ``reference``; for convenience it also accepts a boleto
typed line (turned back into its barcode) and a whole PIX payload (its txid is used).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import unicodedata
from collections import deque
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import CursorResult, Table, bindparam, select, text, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app.config import Settings
from app.creditors.models import Creditor
from app.db import Database, insert_for, is_postgres, new_id
from app.debts.models import Debt, Debtor
from app.debts.queries import hold_debt
from app.events import record_event
from app.offers.models import Installment
from app.payments.models import (
    Payment,
    PaymentCode,
    PaymentCodeStatus,
    PaymentStatus,
    PayTerms,
)
from app.payments.schemes import (
    BoletoFields,
    InvalidPaymentCode,
    boleto_barcode,
    boleto_barcode_from_typed_line,
    boleto_format_typed_line,
    boleto_free_field,
    boleto_typed_line,
    pix_parse,
    pix_payload,
    reference_code,
)
from app.read_ahead import MISSING, recall, remember, wrote

logger = logging.getLogger("parley.payments")

ACTOR = "payments"
# 18 random bytes: 144 bits, 24 URL-safe characters with no padding.
TOKEN_BYTES = 18
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# MMS reaches handsets only in these countries (Twilio).
MMS_REGIONS = frozenset({"US", "CA", "AU"})
# Codes that ask for the whole debt (as opposed to one installment of a plan).
WHOLE_DEBT_KINDS = ("balance", "lump_sum")
# Codes that still ask for their amount. (A payment is applied whatever its code's
# status: money is never refused.)
LIVE_CODE_STATUSES = ("active",)
REFERENCE_FALLBACK_PREFIX = "PAY"
_SEQUENCE_ATTEMPTS = 50
_TYPED_LINE_NOISE = re.compile(r"[\s.\-]")


# ------------------------------------------------------------------------ schemes


@dataclass(frozen=True)
class BuiltCode:
    """What a scheme makes of one amount: the strings stored on a PaymentCode."""

    reference: str
    display: str
    barcode_data: str


class SchemeUnavailable(ValueError):
    """The creditor's scheme cannot make this code (missing settings, other currency)."""


class CodeScheme(Protocol):
    """One way of asking for money: boleto, PIX or a plain reference."""

    name: str
    # How the code is drawn: "itf" / "code128" barcodes, or "qr".
    symbology: str

    def unavailable_reason(self, creditor: Creditor, currency: str) -> str | None:
        """Why this creditor cannot use the scheme for a debt in `currency` (None: it can)."""
        ...

    def build(
        self, creditor: Creditor, *, sequence: int, amount: int, currency: str, due: date
    ) -> BuiltCode:
        """The code for `amount` due on `due`; SchemeUnavailable when it cannot carry
        these values (e.g. an amount too large for a boleto)."""
        ...


def creditor_prefix(creditor: Creditor) -> str:
    """The creditor's reference prefix; when none is set, up to four letters of its name
    (references are unique across creditors anyway: issuing skips taken ones)."""
    if creditor.reference_prefix:
        return creditor.reference_prefix
    folded = unicodedata.normalize("NFKD", creditor.name).upper()
    letters = "".join(c for c in folded if c.isascii() and c.isalnum())
    return letters[:4] or REFERENCE_FALLBACK_PREFIX


class BoletoScheme:
    """FEBRABAN boleto: the barcode is the reference, the typed line is shown."""

    name = "boleto"
    symbology = "itf"

    def unavailable_reason(self, creditor: Creditor, currency: str) -> str | None:
        if currency != "BRL":
            return f"boleto needs BRL, the debt is in {currency}"
        if not creditor.boleto_bank_code or not creditor.boleto_agreement:
            return "boleto_bank_code and boleto_agreement are not set"
        return None

    def build(
        self, creditor: Creditor, *, sequence: int, amount: int, currency: str, due: date
    ) -> BuiltCode:
        assert creditor.boleto_bank_code and creditor.boleto_agreement
        try:
            free_field = boleto_free_field(creditor.boleto_agreement, sequence)
            barcode = boleto_barcode(
                BoletoFields(
                    bank_code=creditor.boleto_bank_code,
                    currency_code="9",
                    due_date=due,
                    amount=amount,
                    free_field=free_field,
                )
            )
        except ValueError as exc:
            raise SchemeUnavailable(f"boleto: {exc}") from exc
        display = boleto_format_typed_line(boleto_typed_line(barcode))
        return BuiltCode(reference=barcode, display=display, barcode_data=barcode)


class PixScheme:
    """PIX BR Code with the amount: the txid is the reference, the payload is shown."""

    name = "pix"
    symbology = "qr"

    def unavailable_reason(self, creditor: Creditor, currency: str) -> str | None:
        if currency != "BRL":
            return f"PIX needs BRL, the debt is in {currency}"
        if not creditor.pix_key or not creditor.pix_merchant_city:
            return "pix_key and pix_merchant_city are not set"
        return None

    def build(
        self, creditor: Creditor, *, sequence: int, amount: int, currency: str, due: date
    ) -> BuiltCode:
        assert creditor.pix_key and creditor.pix_merchant_city
        # Prefix (<= 6) + 12 digits stays within the 25 characters a txid may have.
        txid = f"{creditor_prefix(creditor)}{sequence:012d}"
        try:
            payload = pix_payload(
                key=creditor.pix_key,
                name=creditor.name,
                city=creditor.pix_merchant_city,
                amount=amount,
                txid=txid,
            )
        except ValueError as exc:
            raise SchemeUnavailable(f"PIX: {exc}") from exc
        return BuiltCode(reference=txid, display=payload, barcode_data=payload)


class ReferenceScheme:
    """Creditor prefix + sequence + ISO 7064 check character; works for any currency."""

    name = "reference"
    symbology = "code128"

    def unavailable_reason(self, creditor: Creditor, currency: str) -> str | None:
        return None

    def build(
        self, creditor: Creditor, *, sequence: int, amount: int, currency: str, due: date
    ) -> BuiltCode:
        code = reference_code(creditor_prefix(creditor), sequence)
        return BuiltCode(reference=code, display=code, barcode_data=code)


SCHEMES: dict[str, CodeScheme] = {
    "boleto": BoletoScheme(),
    "pix": PixScheme(),
    "reference": ReferenceScheme(),
}


def scheme_of(code: PaymentCode) -> CodeScheme:
    """The scheme a stored code was made with."""
    return SCHEMES[code.scheme]


# ------------------------------------------------------------------------- links


def payment_page_url(settings: Settings, code: PaymentCode) -> str:
    """The debtor's payment page for `code`."""
    return f"{settings.public_base}/p/{code.token}"


def code_image_url(settings: Settings, code: PaymentCode, extension: str = "png") -> str:
    """The barcode / QR image of `code` ("png" or "svg")."""
    return f"{settings.public_base}/p/{code.token}/barcode.{extension}"


def mms_allowed(creditor: Creditor, debtor: Debtor) -> bool:
    """MMS only where the creditor enabled it and the number is in the US, Canada or
    Australia (other +1 countries, e.g. Jamaica, are not)."""
    if not creditor.mms_enabled:
        return False
    try:
        number = phonenumbers.parse(debtor.phone, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.region_code_for_number(number) in MMS_REGIONS


# ------------------------------------------------------------------------- codes


def local_today(debtor: Debtor, now: datetime) -> date:
    """Today's date where the debtor lives."""
    return now.astimezone(ZoneInfo(debtor.timezone)).date()


def code_expiry(terms: PayTerms) -> date | None:
    """The last day a code asks for exactly these terms: the offer's expiry for a lump
    sum, the due date for a balance; installment codes live as long as the installment
    (they are superseded or paid, never expire by date)."""
    if terms.kind == "lump_sum":
        return terms.expires_on or terms.due_date
    if terms.kind == "balance":
        return terms.due_date
    return None


def is_expired(code: PaymentCode, today: date) -> bool:
    """True once the debtor's local date is past the code's expiry."""
    return code.expires_on is not None and today > code.expires_on


def _record_code_status(
    session: Session,
    code: PaymentCode,
    from_status: str,
    to_status: str,
    now: datetime,
    reason: str | None,
) -> None:
    debt = session.get(Debt, code.debt_id)
    data: dict[str, Any] = {"payment_code_id": code.id, "reference": code.reference}
    if reason is not None:
        data["reason"] = reason
    record_event(
        session,
        creditor_id=code.creditor_id,
        actor=ACTOR,
        kind="payment_code.status",
        now=now,
        debt_id=code.debt_id,
        debtor_id=debt.debtor_id if debt else None,
        from_value=from_status,
        to_value=to_status,
        data=data,
    )


def set_code_status(
    session: Session,
    code: PaymentCode,
    status: PaymentCodeStatus,
    *,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Move a code to `status`, with an event. Unconditional: for callers holding the
    debt's lock (payments, issuing); see set_code_status_if_active for the others."""
    if code.status == status:
        return
    _record_code_status(session, code, code.status, status, now, reason)
    code.status = status
    code.updated_at = now
    if status == "paid" and code.paid_at is None:
        code.paid_at = now


def set_code_status_if_active(
    session: Session,
    code: PaymentCode,
    status: PaymentCodeStatus,
    *,
    now: datetime,
    reason: str | None = None,
) -> bool:
    """Move a code from active to `status` with ``UPDATE ... WHERE status = 'active'``,
    so a code another transaction paid (or retired) meanwhile keeps its status, whatever
    the in-memory copy says: on PostgreSQL the update waits for that transaction and
    then matches nothing. Returns whether the code moved (with an event when it did)."""
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "paid":
        values["paid_at"] = now
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(PaymentCode)
            .where(PaymentCode.id == code.id, PaymentCode.status == "active")
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        # Someone else changed it: forget the stale copy (re-read on next access).
        session.expire(code)
        return False
    for key, value in values.items():
        set_committed_value(code, key, value)
    _record_code_status(session, code, "active", status, now, reason)
    return True


def read_ahead_codes(session: Session, debt_ids: Collection[str]) -> None:
    """The live codes of many debts (debt_codes with LIVE_CODE_STATUSES) in one query,
    answered from memory for the rest of the transaction (app.read_ahead)."""
    answers: dict[Hashable, Any] = {debt_id: [] for debt_id in debt_ids}
    if debt_ids:
        rows = session.scalars(
            select(PaymentCode)
            .where(
                PaymentCode.debt_id.in_(sorted(debt_ids)),
                PaymentCode.status.in_(LIVE_CODE_STATUSES),
            )
            .order_by(PaymentCode.created_at, PaymentCode.sequence)
        )
        for code in rows:
            answers[code.debt_id].append(code)
    remember(session, "payment_codes", "debt_id", answers, context=LIVE_CODE_STATUSES)


def debt_codes(session: Session, debt_id: str, statuses: Iterable[str] = ()) -> list[PaymentCode]:
    """The debt's codes, oldest first (only those in `statuses` when given)."""
    wanted = tuple(statuses)
    known = recall(session, "payment_codes", debt_id, context=wanted)
    if known is not MISSING:
        return list(known)
    query = select(PaymentCode).where(PaymentCode.debt_id == debt_id)
    if wanted:
        query = query.where(PaymentCode.status.in_(wanted))
    return list(session.scalars(query.order_by(PaymentCode.created_at, PaymentCode.sequence)))


def set_live_codes_status(
    session: Session, debt: Debt, status: PaymentCodeStatus, *, now: datetime, reason: str
) -> int:
    """Move every live code of `debt` to `status` (superseded: they ask for terms that no
    longer hold, e.g. after a re-import changed the amount, and a lump-sum discount
    computed on the old balance is no longer honoured if one is paid anyway; canceled:
    nothing more is to be paid with them). Each gets a payment_code.status event with
    `reason`; a code paid concurrently keeps its status. Returns how many moved."""
    moved = 0
    for code in debt_codes(session, debt.id, LIVE_CODE_STATUSES):
        if set_code_status_if_active(session, code, status, now=now, reason=reason):
            moved += 1
    return moved


# The tables themselves: plain Core statements (not the ORM's bulk paths) for the two
# writes of issuing a code.
CREDITORS = cast(Table, Creditor.__table__)
PAYMENT_CODES = cast(Table, PaymentCode.__table__)
# The values go as parameters, not into the statement (`.values(...)`): a statement
# holding a code's values costs SQLAlchemy more to build and key for its cache than
# running it does.
_COUNTER = CREDITORS.c.next_payment_sequence
# Moves the creditor's counter on by `size` and returns where it now stands: one
# sequence (size 1) inside the issuing transaction, or a block (SequenceBlocks).
_MOVE_COUNTER = (
    update(CREDITORS)
    .where(CREDITORS.c.id == bindparam("creditor_id"))
    .values(next_payment_sequence=_COUNTER + bindparam("size"))
    .returning(_COUNTER)
)


# The code's `INSERT … ON CONFLICT DO NOTHING RETURNING id`, built once per backend
# (as _MOVE_COUNTER).
_CODE_INSERTS: dict[bool, Any] = {}


def _code_insert(session: Session) -> Any:
    postgres = is_postgres(session)
    statement = _CODE_INSERTS.get(postgres)
    if statement is None:
        statement = _CODE_INSERTS[postgres] = (
            insert_for(session, PAYMENT_CODES)
            .on_conflict_do_nothing()
            .returning(PAYMENT_CODES.c.id)
        )
    return statement


def _take_sequence(session: Session, creditor: Creditor) -> int:
    # From the transaction's SequenceBlocks when it has one (see there). Otherwise the
    # row lock serialises issuers of one creditor on PostgreSQL (SQLite's
    # BEGIN IMMEDIATE already does). One statement takes it and returns the counter it
    # wrote: an UPDATE of a column no key uses locks FOR NO KEY UPDATE, which the
    # key-share locks that inserting an event or message of this creditor takes do not
    # wait for. What this session has not flushed yet plays no part in it, so it is not
    # flushed first.
    blocks: SequenceBlocks | None = session.info.get(_SEQUENCE_BLOCKS)
    if blocks is not None:
        return blocks.take(creditor.id)
    with session.no_autoflush:
        taken: int = session.execute(
            _MOVE_COUNTER, {"creditor_id": creditor.id, "size": 1}
        ).scalar_one()
    set_committed_value(creditor, "next_payment_sequence", taken)
    return int(taken) - 1


# Where a transaction finds the SequenceBlocks it takes its sequences from.
_SEQUENCE_BLOCKS = "parley.payment_sequence_blocks"


class SequenceBlocks:
    """Payment sequences reserved ahead, a block of `size` per creditor at a time, each
    block in a short transaction of its own (PostgreSQL; a "hi/lo" allocator): a
    transaction that takes its sequences from here never locks the creditor's row, so
    transactions issuing codes for one creditor at once (the inbound worker's groups)
    do not wait for each other's commit, and a code costs its INSERT alone.

    Sequences stay unique per creditor (a block is the creditor's counter moved on by
    `size`, committed before any of it is used) but not gapless: what a block holds when
    the process ends, or when the transaction that took a sequence is rolled back, is
    never used. A reservation waits at most `lock_timeout` for the creditor's row
    (another transaction issuing in the old way holds it until it commits); past that
    it fails, and so does the caller's transaction, to be retried."""

    def __init__(self, db: Database, *, size: int = 32, lock_timeout: str = "2s") -> None:
        if not db.is_postgres:
            raise ValueError("sequence blocks need PostgreSQL (SQLite has one writer)")
        self._db = db
        self._size = size
        self._lock_timeout = lock_timeout
        self._lock = threading.Lock()
        self._free: dict[str, deque[int]] = {}

    def use_in(self, session: Session) -> None:
        """Codes issued in `session`'s transaction take their sequences from here."""
        session.info[_SEQUENCE_BLOCKS] = self

    def take(self, creditor_id: str) -> int:
        """The next free sequence of `creditor_id` (a new block reserved when none is)."""
        with self._lock:
            free = self._free.setdefault(creditor_id, deque())
            if not free:
                free.extend(self._reserve(creditor_id))
            return free.popleft()

    def _reserve(self, creditor_id: str) -> range:
        with self._db.engine.connect() as connection, connection.begin():
            connection.execute(
                text("SELECT set_config('lock_timeout', :timeout, true)"),
                {"timeout": self._lock_timeout},
            )
            end = int(
                connection.execute(
                    _MOVE_COUNTER, {"creditor_id": creditor_id, "size": self._size}
                ).scalar_one()
            )
        return range(end - self._size, end)


def _insert_code(
    session: Session,
    creditor: Creditor,
    debt: Debt,
    scheme: CodeScheme,
    terms: PayTerms,
    now: datetime,
) -> PaymentCode:
    # References are unique across creditors (the webhook has no other key), and so are
    # (creditor, scheme, sequence) and tokens: a sequence whose code collides with one
    # already stored, or stored by a concurrent issuer meanwhile, inserts nothing
    # (ON CONFLICT DO NOTHING) and is skipped. One statement, no savepoint, and nothing
    # else this session holds is flushed for it, unless the code names an installment
    # not written yet. The statement runs on the session's connection (the ORM's own
    # execution path costs more than the insert): the look-ups read ahead for the debt's
    # codes are dropped by hand.
    if terms.installment_id is not None and any(
        isinstance(obj, Installment) for obj in session.new
    ):
        session.flush()
    connection = session.connection()
    for _ in range(_SEQUENCE_ATTEMPTS):
        sequence = _take_sequence(session, creditor)
        built = scheme.build(
            creditor,
            sequence=sequence,
            amount=terms.amount,
            currency=debt.currency,
            due=terms.due_date,
        )
        values: dict[str, Any] = {
            "id": new_id(),
            "creditor_id": creditor.id,
            "debt_id": debt.id,
            "installment_id": terms.installment_id,
            "rule_version_id": terms.rule_version_id,
            "kind": terms.kind,
            "scheme": scheme.name,
            "sequence": sequence,
            "reference": built.reference,
            "display": built.display,
            "barcode_data": built.barcode_data,
            "amount": terms.amount,
            "discount": terms.discount,
            "currency": debt.currency,
            "due_date": terms.due_date,
            "expires_on": code_expiry(terms),
            "status": "active",
            "token": secrets.token_urlsafe(TOKEN_BYTES),
            "paid_at": None,
            "created_at": now,
            "updated_at": now,
        }
        stored = connection.scalar(_code_insert(session), values)
        wrote(session, PAYMENT_CODES.name, debt.id)
        if stored is None:
            continue
        # The row as written, in the session as if it had been loaded.
        code = PaymentCode(**values)
        make_transient_to_detached(code)
        session.add(code)
        return code
    raise RuntimeError("no free payment reference after several sequences")


def choose_scheme(creditor: Creditor, debt: Debt, terms: PayTerms) -> tuple[CodeScheme, str | None]:
    """The creditor's scheme when it can make this code, else the reference scheme and
    the reason. A trial build (no sequence is used) catches values the scheme cannot
    carry, e.g. an amount too large for a boleto."""
    wanted = SCHEMES.get(creditor.payment_scheme, SCHEMES["reference"])
    reason = wanted.unavailable_reason(creditor, debt.currency)
    if reason is None:
        try:
            wanted.build(
                creditor,
                sequence=0,
                amount=terms.amount,
                currency=debt.currency,
                due=terms.due_date,
            )
        except SchemeUnavailable as exc:
            reason = str(exc)
    if reason is None:
        return wanted, None
    return SCHEMES["reference"], reason


def _supersedes(new_kind: str, new_installment_id: str | None, old: PaymentCode) -> bool:
    """Whether issuing a (kind, installment) code makes `old` stale: whole-debt asks
    replace each other; an installment replaces its own older code and any whole-debt
    ask (the debt is in a plan now). Codes of other installments stay valid."""
    if new_kind == "installment":
        return old.kind in WHOLE_DEBT_KINDS or old.installment_id == new_installment_id
    return old.kind in WHOLE_DEBT_KINDS


def issue_code(
    session: Session, creditor: Creditor, debt: Debt, terms: PayTerms, now: datetime
) -> PaymentCode:
    """The payment code for `terms` (from offers.service.pay_terms).

    An active code for the same kind, amount, installment, due date and scheme is
    reused, so repeated PAY replies get the same code. Otherwise the debt's stale
    active codes are superseded and a new one is issued with the creditor's next
    sequence. A boleto/PIX creditor whose settings or the debt's currency do not allow
    the scheme gets a reference code instead, with an event saying why.
    """
    # Two PAY replies at once must not both issue: the second waits here, then reuses.
    hold_debt(session, debt.id)
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    today = local_today(debtor, now)
    live = []
    for code in debt_codes(session, debt.id, LIVE_CODE_STATUSES):
        if is_expired(code, today):
            set_code_status_if_active(session, code, "expired", now=now)
        elif code.status in LIVE_CODE_STATUSES:
            live.append(code)
    scheme, problem = choose_scheme(creditor, debt, terms)
    for code in live:
        if (
            code.kind == terms.kind
            and code.amount == terms.amount
            and code.installment_id == terms.installment_id
            and code.due_date == terms.due_date
            and code.currency == debt.currency
            and code.scheme == scheme.name
        ):
            return code
    for code in live:
        if code.status in LIVE_CODE_STATUSES and _supersedes(
            terms.kind, terms.installment_id, code
        ):
            set_code_status(session, code, "superseded", now=now)
    if problem is not None:
        _record_fallback(session, creditor, debt, problem, now)
    code = _insert_code(session, creditor, debt, scheme, terms, now)
    record_event(
        session,
        creditor_id=creditor.id,
        actor=ACTOR,
        kind="payment_code.issued",
        now=now,
        debt_id=debt.id,
        debtor_id=debt.debtor_id,
        to_value=code.reference,
        data={
            "payment_code_id": code.id,
            "kind": code.kind,
            "scheme": code.scheme,
            "amount": code.amount,
            "due_date": code.due_date.isoformat(),
            "installment_id": code.installment_id,
        },
    )
    return code


def _record_fallback(
    session: Session, creditor: Creditor, debt: Debt, reason: str, now: datetime
) -> None:
    logger.warning(
        "payment scheme unavailable, issuing a reference code",
        extra={"creditor_id": creditor.id, "scheme": creditor.payment_scheme, "reason": reason},
    )
    record_event(
        session,
        creditor_id=creditor.id,
        actor=ACTOR,
        kind="payment_code.scheme_fallback",
        now=now,
        debt_id=debt.id,
        debtor_id=debt.debtor_id,
        from_value=creditor.payment_scheme,
        to_value="reference",
        data={"reason": reason},
    )


def find_code_by_token(session: Session, token: str) -> PaymentCode | None:
    """The code behind a payment-page token (None for anything malformed or unknown)."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    return session.scalars(select(PaymentCode).where(PaymentCode.token == token)).first()


def find_code_by_reference(session: Session, reference: str) -> PaymentCode | None:
    """The code a processor's `reference` names: the reference itself, or a boleto
    typed line, or a whole PIX payload."""
    ref = reference.strip()
    candidates = {ref, ref.upper()}
    digits = _TYPED_LINE_NOISE.sub("", ref)
    if len(digits) == 47 and digits.isascii() and digits.isdigit():
        with contextlib.suppress(InvalidPaymentCode):
            candidates.add(boleto_barcode_from_typed_line(digits))
    if ref.startswith("000201"):
        try:
            txid = pix_parse(ref).get("62.05")
        except InvalidPaymentCode:
            txid = None
        if txid:
            candidates.add(txid)
    return session.scalars(
        select(PaymentCode).where(PaymentCode.reference.in_(sorted(candidates)))
    ).first()


def reconcile_codes(session: Session, now: datetime, *, limit: int = 500) -> int:
    """Periodic upkeep: expire active codes past their date (in the debtor's zone),
    and mark installment codes paid/canceled with their installment (the codes of
    settled or closed debts end with them: app.actions.lifecycle). Returns how many
    codes changed."""
    changed = 0
    # A debtor's local date is at most one day ahead of UTC's.
    horizon = now.astimezone(UTC).date() + timedelta(days=1)
    rows = session.execute(
        select(PaymentCode, Debtor)
        .join(Debt, Debt.id == PaymentCode.debt_id)
        .join(Debtor, Debtor.id == Debt.debtor_id)
        .where(
            PaymentCode.status == "active",
            PaymentCode.expires_on.is_not(None),
            PaymentCode.expires_on < horizon,
        )
        .order_by(PaymentCode.expires_on)
        .limit(limit)
    ).all()
    # Each change is guarded by status = 'active' (set_code_status_if_active): a code
    # a payment marked paid after the select above keeps its status.
    for code, debtor in rows:
        if is_expired(code, local_today(debtor, now)) and set_code_status_if_active(
            session, code, "expired", now=now
        ):
            changed += 1
    stale = session.execute(
        select(PaymentCode, Installment.status)
        .join(Installment, Installment.id == PaymentCode.installment_id)
        .where(PaymentCode.status == "active", Installment.status.in_(("paid", "canceled")))
        .limit(limit)
    ).all()
    for code, installment_status in stale:
        status: PaymentCodeStatus = "paid" if installment_status == "paid" else "canceled"
        if set_code_status_if_active(session, code, status, now=now):
            changed += 1
    return changed


# ---------------------------------------------------------------------- payments


@dataclass(frozen=True)
class PaymentReport:
    """One payment as the processor reports it (validated webhook body)."""

    payment_id: str
    reference: str
    amount: int
    currency: str
    paid_at: datetime
    raw: dict[str, Any]


@dataclass(frozen=True)
class ReplayConflict:
    """A field in which a redelivered payment_id differs from the stored payment."""

    field: str
    stored: str
    received: str


@dataclass(frozen=True)
class PaymentOutcome:
    """What happened to a reported payment; `replay` when it had been received before.
    `conflicts` lists what a redelivery changed (amount, reference, currency): such a
    replay is refused, and nothing of it is stored or applied."""

    payment: Payment
    replay: bool
    debt: Debt | None
    written_off: int = 0
    conflicts: tuple[ReplayConflict, ...] = ()

    @property
    def stored_for_review(self) -> bool:
        return self.payment.status != "applied"


def find_payment(session: Session, payment_id: str) -> Payment | None:
    """The payment stored for a processor's payment_id."""
    return session.scalars(select(Payment).where(Payment.payment_id == payment_id)).first()


def match_status(
    report: PaymentReport, code: PaymentCode | None, debt: Debt | None
) -> PaymentStatus:
    if code is None:
        return "unmatched"
    if report.currency != code.currency or debt is None or report.currency != debt.currency:
        return "currency_mismatch"
    return "applied"


def _replay_conflicts(payment: Payment, report: PaymentReport) -> tuple[ReplayConflict, ...]:
    pairs = (
        ("amount", str(payment.amount), str(report.amount)),
        ("reference", payment.reference, report.reference),
        ("currency", payment.currency, report.currency),
    )
    return tuple(ReplayConflict(f, old, new) for f, old, new in pairs if old != new)


def replay(
    session: Session, payment: Payment, report: PaymentReport, now: datetime
) -> PaymentOutcome:
    debt = session.get(Debt, payment.debt_id) if payment.debt_id else None
    conflicts = _replay_conflicts(payment, report)
    if conflicts:
        logger.warning(
            "payment redelivered with different details; refused",
            extra={
                "payment_id": payment.payment_id,
                "fields": ",".join(c.field for c in conflicts),
            },
        )
        if debt is not None:
            record_event(
                session,
                creditor_id=debt.creditor_id,
                actor=ACTOR,
                kind="payment.replay_mismatch",
                now=now,
                debt_id=debt.id,
                debtor_id=debt.debtor_id,
                to_value=payment.payment_id,
                data={
                    "conflicts": {
                        c.field: {"stored": c.stored, "received": c.received} for c in conflicts
                    }
                },
            )
    return PaymentOutcome(payment, replay=True, debt=debt, conflicts=conflicts)


def flag_currency_mismatch(
    session: Session, payment: Payment, code: PaymentCode, debt: Debt, now: datetime
) -> None:
    record_event(
        session,
        creditor_id=debt.creditor_id,
        actor=ACTOR,
        kind="payment.needs_review",
        now=now,
        debt_id=debt.id,
        debtor_id=debt.debtor_id,
        to_value=payment.payment_id,
        data={
            "reason": "currency_mismatch",
            "amount": payment.amount,
            "currency": payment.currency,
            "expected_currency": debt.currency,
            "code_currency": code.currency,
        },
    )
    debt.needs_review = True
    debt.updated_at = now


def honours_lump_sum(code: PaymentCode, payment: Payment, debtor: Debtor) -> bool:
    """A lump-sum code still standing, paid in full by its expiry date (the processor's
    paid_at, in the debtor's zone: a late webhook does not cost the debtor the discount,
    even if the code was marked expired meanwhile). A superseded or canceled code (its
    discount was computed on terms that no longer hold) or one already paid is not."""
    if code.kind != "lump_sum" or code.expires_on is None or code.discount <= 0:
        return False
    if code.status not in ("active", "expired"):
        return False
    return payment.amount >= code.amount and local_today(debtor, payment.paid_at) <= (
        code.expires_on
    )
