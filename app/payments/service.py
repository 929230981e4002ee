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
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.callbacks.service import cancel_callbacks_for
from app.config import Settings
from app.conversations.promises import cancel_open_promises
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.events import record_event, set_debt_status
from app.messaging.models import Message
from app.messaging.service import cancel_pending_messages, enqueue_message
from app.offers.models import Installment, Plan
from app.offers.service import (
    PayTerms,
    active_plan,
    apply_payment_to_plan,
    pay_terms,
    plan_installments,
)
from app.payments import texts
from app.payments.models import Payment, PaymentCode
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
    session: Session, code: PaymentCode, status: str, *, now: datetime, reason: str | None = None
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
    session: Session, code: PaymentCode, status: str, *, now: datetime, reason: str | None = None
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


def debt_codes(session: Session, debt_id: str, statuses: Iterable[str] = ()) -> list[PaymentCode]:
    """The debt's codes, oldest first (only those in `statuses` when given)."""
    query = select(PaymentCode).where(PaymentCode.debt_id == debt_id)
    wanted = tuple(statuses)
    if wanted:
        query = query.where(PaymentCode.status.in_(wanted))
    return list(session.scalars(query.order_by(PaymentCode.created_at, PaymentCode.sequence)))


def expire_debt_codes(session: Session, debt: Debt, today: date, now: datetime) -> int:
    """Expire the debt's active codes whose date has passed; returns how many."""
    expired = 0
    for code in debt_codes(session, debt.id, LIVE_CODE_STATUSES):
        if is_expired(code, today) and set_code_status_if_active(session, code, "expired", now=now):
            expired += 1
    return expired


def retire_codes(session: Session, debt: Debt, *, now: datetime, reason: str) -> int:
    """Supersede every active code of `debt` (each with a payment_code.status event
    carrying `reason`), e.g. when a re-import changes its amount or currency: the codes
    ask for terms that no longer hold, and a lump-sum discount computed on the old
    balance is no longer honoured if one of them is paid anyway (the payment itself is
    still applied). A code paid concurrently keeps its status. Returns how many moved."""
    retired = 0
    for code in debt_codes(session, debt.id, LIVE_CODE_STATUSES):
        if set_code_status_if_active(session, code, "superseded", now=now, reason=reason):
            retired += 1
    return retired


def _take_sequence(session: Session, creditor: Creditor) -> int:
    # The row lock serialises issuers of one creditor on PostgreSQL (SQLite's
    # BEGIN IMMEDIATE already does); populate_existing re-reads the counter under it.
    # FOR NO KEY UPDATE, not FOR UPDATE: every insert of an event or message of this
    # creditor takes a key-share lock on its row, which FOR UPDATE would wait for.
    locked = session.execute(
        select(Creditor)
        .where(Creditor.id == creditor.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one()
    sequence = locked.next_payment_sequence
    locked.next_payment_sequence = sequence + 1
    session.flush()
    return sequence


def _is_taken(session: Session, creditor: Creditor, scheme: str, sequence: int, ref: str) -> bool:
    found = session.scalars(
        select(PaymentCode.id).where(
            or_(
                PaymentCode.reference == ref,
                (PaymentCode.creditor_id == creditor.id)
                & (PaymentCode.scheme == scheme)
                & (PaymentCode.sequence == sequence),
            )
        )
    ).first()
    return found is not None


def _insert_code(
    session: Session,
    creditor: Creditor,
    debt: Debt,
    scheme: CodeScheme,
    terms: PayTerms,
    now: datetime,
) -> PaymentCode:
    # References are unique across creditors (the webhook has no other key), so a
    # sequence whose reference another creditor already holds is skipped; one taken
    # by a concurrent issuer meanwhile fails the savepoint and is skipped too.
    for _ in range(_SEQUENCE_ATTEMPTS):
        sequence = _take_sequence(session, creditor)
        built = scheme.build(
            creditor,
            sequence=sequence,
            amount=terms.amount,
            currency=debt.currency,
            due=terms.due_date,
        )
        if _is_taken(session, creditor, scheme.name, sequence, built.reference):
            continue
        code = PaymentCode(
            creditor_id=creditor.id,
            debt_id=debt.id,
            installment_id=terms.installment_id,
            rule_version_id=terms.rule_version_id,
            kind=terms.kind,
            scheme=scheme.name,
            sequence=sequence,
            reference=built.reference,
            display=built.display,
            barcode_data=built.barcode_data,
            amount=terms.amount,
            discount=terms.discount,
            currency=debt.currency,
            due_date=terms.due_date,
            expires_on=code_expiry(terms),
            status="active",
            token=secrets.token_urlsafe(TOKEN_BYTES),
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(code)
                session.flush()
        except IntegrityError:
            continue
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
    session.execute(select(Debt.id).where(Debt.id == debt.id).with_for_update(key_share=True))
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    expire_debt_codes(session, debt, local_today(debtor, now), now)
    scheme, problem = choose_scheme(creditor, debt, terms)
    for code in debt_codes(session, debt.id, LIVE_CODE_STATUSES):
        if (
            code.kind == terms.kind
            and code.amount == terms.amount
            and code.installment_id == terms.installment_id
            and code.due_date == terms.due_date
            and code.currency == debt.currency
            and code.scheme == scheme.name
        ):
            return code
    for code in debt_codes(session, debt.id, LIVE_CODE_STATUSES):
        if _supersedes(terms.kind, terms.installment_id, code):
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


def issue_current_code(
    session: Session, creditor: Creditor, debt: Debt, now: datetime
) -> PaymentCode | None:
    """What PAY asks for: the code for the debt's current terms, worked out after taking
    the debt's lock and re-reading it, so a PAY racing a payment never asks for the
    pre-payment amount. None when nothing is due. (`debt` is refreshed in place.)"""
    locked = lock_debt(session, debt.id)
    terms = pay_terms(session, locked, now)
    if terms is None:
        return None
    return issue_code(session, creditor, locked, terms, now)


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
    mark installment codes paid/canceled with their installment, and cancel the codes
    of settled or closed debts. Returns how many codes changed."""
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
        if set_code_status_if_active(session, code, installment_status, now=now):
            changed += 1
    ended = session.scalars(
        select(PaymentCode)
        .join(Debt, Debt.id == PaymentCode.debt_id)
        .where(PaymentCode.status == "active", Debt.status.in_(("settled", "closed")))
        .limit(limit)
    ).all()
    for code in ended:
        if set_code_status_if_active(session, code, "canceled", now=now):
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


def lock_debt(session: Session, debt_id: str) -> Debt:
    """The debt, locked for the rest of the transaction and re-read under the lock (the
    session's copy is refreshed too, so nothing computed afterwards sees a stale
    balance)."""
    # FOR NO KEY UPDATE: serialises payments of one debt without conflicting with the
    # key-share locks that inserting rows referencing the debt takes (no deadlock
    # between two payments that each inserted their row first).
    return session.execute(
        select(Debt)
        .where(Debt.id == debt_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _match_status(report: PaymentReport, code: PaymentCode | None, debt: Debt | None) -> str:
    if code is None:
        return "unmatched"
    if report.currency != code.currency or debt is None or report.currency != debt.currency:
        return "currency_mismatch"
    return "applied"


def receive_payment(session: Session, report: PaymentReport, *, now: datetime) -> PaymentOutcome:
    """Store a reported payment once and apply it.

    Idempotent on `payment_id`: the row is inserted first inside a savepoint; a replay
    (or a concurrent delivery losing the unique-constraint race) changes nothing and
    returns the stored outcome, unless it differs in amount, reference or currency (see
    PaymentOutcome.conflicts). A reference no code has, or a currency other than the
    code's or the debt's, is stored for review and not applied.
    """
    existing = find_payment(session, report.payment_id)
    if existing is not None:
        return _replay(session, existing, report, now)
    code = find_code_by_reference(session, report.reference)
    status = _match_status(report, code, session.get(Debt, code.debt_id) if code else None)
    payment = Payment(
        payment_id=report.payment_id,
        creditor_id=code.creditor_id if code else None,
        payment_code_id=code.id if code else None,
        debt_id=code.debt_id if code else None,
        reference=report.reference,
        amount=report.amount,
        currency=report.currency,
        paid_at=report.paid_at,
        status=status,
        applied_amount=0,
        excess_amount=0,
        needs_review=status != "applied",
        raw=report.raw,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
    except IntegrityError:
        existing = find_payment(session, report.payment_id)
        if existing is None:
            raise
        logger.info("payment delivered twice at once", extra={"payment_id": report.payment_id})
        return _replay(session, existing, report, now)
    if code is None:
        # No event: the event log is per creditor, and no creditor is known.
        logger.warning(
            "payment with an unknown reference stored for review",
            extra={"payment_id": report.payment_id},
        )
        return PaymentOutcome(payment, replay=False, debt=None)
    debt = lock_debt(session, code.debt_id)
    session.refresh(code)
    # Decided again under the lock: a re-import may have changed the debt's currency.
    status = _match_status(report, code, debt)
    if status != payment.status:
        payment.status = status
        payment.needs_review = status != "applied"
    if status == "currency_mismatch":
        _flag_currency_mismatch(session, payment, code, debt, now)
        return PaymentOutcome(payment, replay=False, debt=debt)
    written_off = _apply(session, payment, code, debt, now)
    return PaymentOutcome(payment, replay=False, debt=debt, written_off=written_off)


def _replay_conflicts(payment: Payment, report: PaymentReport) -> tuple[ReplayConflict, ...]:
    pairs = (
        ("amount", str(payment.amount), str(report.amount)),
        ("reference", payment.reference, report.reference),
        ("currency", payment.currency, report.currency),
    )
    return tuple(ReplayConflict(f, old, new) for f, old, new in pairs if old != new)


def _replay(
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


def _flag_currency_mismatch(
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


def _honours_lump_sum(code: PaymentCode, payment: Payment, debtor: Debtor) -> bool:
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


def _apply(session: Session, payment: Payment, code: PaymentCode, debt: Debt, now: datetime) -> int:
    """Apply a matched payment to its debt (and plan); returns the discount written off."""
    debtor = session.get(Debtor, debt.debtor_id)
    assert debtor is not None
    honour_lump_sum = _honours_lump_sum(code, payment, debtor)
    balance_before = debt.balance
    applied = min(payment.amount, debt.balance)
    excess = payment.amount - applied
    if applied > 0 and active_plan(session, debt.id) is not None:
        # Installments take the payment first for the code's own, then in order.
        apply_payment_to_plan(
            session, debt, applied, first_installment_id=code.installment_id, now=now, actor=ACTOR
        )
    debt.balance -= applied
    payment.applied_amount = applied
    payment.excess_amount = excess
    record_event(
        session,
        creditor_id=debt.creditor_id,
        actor=ACTOR,
        kind="payment.applied",
        now=now,
        debt_id=debt.id,
        debtor_id=debt.debtor_id,
        to_value=payment.payment_id,
        data={
            "payment_code_id": code.id,
            "reference": code.reference,
            "amount": payment.amount,
            "applied": applied,
            "excess": excess,
            "paid_at": payment.paid_at.isoformat(),
        },
    )
    written_off = 0
    if honour_lump_sum and debt.balance > 0:
        # At most the discount the code was issued with; anything more stays owed.
        written_off = min(code.discount, debt.balance)
        debt.balance -= written_off
        record_event(
            session,
            creditor_id=debt.creditor_id,
            actor=ACTOR,
            kind="debt.write_off",
            now=now,
            debt_id=debt.id,
            debtor_id=debt.debtor_id,
            to_value=written_off,
            data={
                "reason": "lump-sum discount",
                "payment_id": payment.payment_id,
                "payment_code_id": code.id,
                "rule_version_id": code.rule_version_id,
            },
        )
    if debt.balance != balance_before:
        record_event(
            session,
            creditor_id=debt.creditor_id,
            actor=ACTOR,
            kind="debt.balance",
            now=now,
            debt_id=debt.id,
            debtor_id=debt.debtor_id,
            from_value=balance_before,
            to_value=debt.balance,
            data={"payment_id": payment.payment_id},
        )
    if excess > 0:
        payment.needs_review = True
        debt.needs_review = True
        record_event(
            session,
            creditor_id=debt.creditor_id,
            actor=ACTOR,
            kind="payment.excess",
            now=now,
            debt_id=debt.id,
            debtor_id=debt.debtor_id,
            to_value=excess,
            data={"payment_id": payment.payment_id, "reason": "paid more than the balance"},
        )
    debt.updated_at = now
    if payment.amount >= code.amount or honour_lump_sum:
        set_code_status(session, code, "paid", now=now)
    if debt.balance == 0:
        settle_debt(session, debt, now=now)
    else:
        _retire_stale_codes(session, debt, now)
    if applied > 0:
        _thank(session, debt, debtor, payment, now)
    return written_off


def _retire_stale_codes(session: Session, debt: Debt, now: datetime) -> None:
    """After a payment, codes that ask for an amount no longer owed are superseded (the
    next PAY issues the right one); codes of installments now paid are paid."""
    installments: dict[str, Installment] = {}
    plan = active_plan(session, debt.id)
    if plan is not None:
        installments = {i.id: i for i in plan_installments(session, plan.id)}
    for code in debt_codes(session, debt.id, LIVE_CODE_STATUSES):
        if code.kind == "installment":
            installment = installments.get(code.installment_id or "")
            if installment is None or installment.status == "canceled":
                set_code_status(session, code, "canceled", now=now)
            elif installment.status == "paid":
                set_code_status(session, code, "paid", now=now)
            elif installment.outstanding != code.amount:
                set_code_status(session, code, "superseded", now=now)
        elif code.kind == "balance" and code.amount != debt.balance:
            set_code_status(session, code, "superseded", now=now)
        elif code.kind == "lump_sum":
            # Its discount was computed on the balance before this payment.
            set_code_status(session, code, "superseded", now=now)


def settle_debt(session: Session, debt: Debt, *, now: datetime) -> None:
    """The balance reached zero: the debt is settled and every reminder stops (pending
    messages about it canceled, open promises canceled, live codes canceled, a plan
    still running closed)."""
    set_debt_status(session, debt, "settled", now=now, actor=ACTOR, data={"reason": "paid in full"})
    cancel_callbacks_for(session, debt_id=debt.id, now=now, actor=ACTOR, reason="debt paid in full")
    cancel_pending_messages(session, now=now, actor=ACTOR, reason="debt settled", debt_id=debt.id)
    cancel_open_promises(session, debt.id, now=now, actor=ACTOR, reason="debt settled")
    plan = active_plan(session, debt.id)
    if plan is not None:
        _close_plan(session, plan, now)
    for code in debt_codes(session, debt.id, LIVE_CODE_STATUSES):
        set_code_status(session, code, "canceled", now=now)


def _close_plan(session: Session, plan: Plan, now: datetime) -> None:
    # Only reached when the debt was settled some other way than the installments
    # (a lump-sum write-off, a balance code): what is left of the plan is withdrawn.
    for installment in plan_installments(session, plan.id):
        if installment.status in ("pending", "late"):
            installment.status = "canceled"
    record_event(
        session,
        creditor_id=plan.creditor_id,
        actor=ACTOR,
        kind="plan.status",
        now=now,
        debt_id=plan.debt_id,
        debtor_id=plan.debtor_id,
        from_value=plan.status,
        to_value="canceled",
        data={"reason": "debt settled"},
    )
    plan.status = "canceled"
    plan.ended_at = now
    plan.updated_at = now


def _next_installment(session: Session, debt: Debt) -> Installment | None:
    plan = active_plan(session, debt.id)
    if plan is None:
        return None
    for installment in plan_installments(session, plan.id):
        if installment.status in ("pending", "late") and installment.outstanding > 0:
            return installment
    return None


def _thank(
    session: Session, debt: Debt, debtor: Debtor, payment: Payment, now: datetime
) -> Message:
    creditor = session.get(Creditor, debt.creditor_id)
    assert creditor is not None
    body = texts.thanks_text(
        creditor_name=creditor.name,
        language=debtor.language,
        paid=payment.amount,
        currency=debt.currency,
        balance=debt.balance,
        next_installment=_next_installment(session, debt) if debt.balance > 0 else None,
    )
    # Caused by the debtor's own payment, so not capped; but a payment can be reported at
    # any hour, so the thanks waits for the debtor's contact window.
    return enqueue_message(
        session,
        creditor=creditor,
        debtor=debtor,
        debt=debt,
        body=body,
        kind="payment_thanks",
        now=now,
        actor=ACTOR,
        initiated=False,
        is_reply=False,
    )
