"""The payment webhook, the debtor's payment page with its barcode/QR images, and the
payment codes of a debt in the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import date
from typing import Annotated, NoReturn

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access.deps import CanManageDebts, CanViewAmounts
from app.access_log import mask_client, request_client
from app.actions.payments import receive_payment
from app.clock import Clock
from app.config import MIN_SECRET_LENGTH, Settings
from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor, Event
from app.debts.queries import get_debt
from app.deps import ClockDep, SessionDep, SettingsDep
from app.errors import (
    NotFound,
    ParleyError,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
    error_body,
)
from app.offers.models import Installment, Plan
from app.offers.queries import active_plan, plan_installments
from app.payments import queue
from app.payments.models import PAYMENT_STATUSES, Payment, PaymentCode
from app.payments.pages import CONTENT_SECURITY_POLICY, render_code_page, render_notice_page
from app.payments.queue import PAYMENT_FILTERS
from app.payments.rendering import barcode_png, barcode_svg, qr_png, qr_svg
from app.payments.schemas import (
    DebtState,
    PaymentCodeList,
    PaymentCodeOut,
    PaymentIn,
    PaymentList,
    PaymentOut,
    PaymentResult,
    PaymentReviewIn,
)
from app.payments.service import (
    PaymentOutcome,
    PaymentReport,
    code_image_url,
    debt_codes,
    find_code_by_token,
    is_expired,
    local_today,
    payment_page_url,
    scheme_of,
)
from app.payments.texts import negotiate_language, page_text
from app.throttle import FailureThrottle

logger = logging.getLogger("parley.payments")

router = APIRouter(tags=["payments"])

SIGNATURE_HEADER = "X-Parley-Signature"
MAX_WEBHOOK_BODY = 64 * 1024
# A processor's payment is a flat object; anything nested deeper is refused (422) before
# it can reach the JSON encoder of the database layer.
MAX_JSON_DEPTH = 32
# An image is the code itself: kept out of shared caches like the page, and gone (410)
# once the code can no longer be paid. The ETag still spares a re-download. Bump the
# version when the rendering changes.
IMAGE_RENDER_VERSION = "1"
IMAGE_CACHE_CONTROL = "private, no-store"
IMAGE_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
# The page shows personal data and changes with every payment: never stored by caches.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
}


class PayloadTooLarge(ParleyError):
    status_code = 413
    code = "payload_too_large"


class Gone(ParleyError):
    status_code = 410
    code = "gone"


def code_local_today(session: Session, code: PaymentCode, clock: Clock) -> date:
    """Today in the code's debtor's zone (what expiry is measured in)."""
    debt = session.get(Debt, code.debt_id)
    debtor = session.get(Debtor, debt.debtor_id) if debt is not None else None
    if debtor is None:
        return clock.now().date()
    return local_today(debtor, clock.now())


# ------------------------------------------------------------------------ webhook


def payment_signature(secret: str, body: bytes) -> str:
    """The X-Parley-Signature value for `body`: "sha256=" + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_secret(settings: Settings) -> str | None:
    """The payment webhook's signing secret, or None (with an error logged) when it is
    missing or shorter than MIN_SECRET_LENGTH characters: a short secret can be guessed,
    so it counts as not configured and every webhook is refused."""
    secret = settings.payment_webhook_secret
    if secret is None:
        logger.error("payment webhook refused: PARLEY_PAYMENT_WEBHOOK_SECRET is not set")
        return None
    value = secret.get_secret_value()
    if len(value.strip()) < MIN_SECRET_LENGTH:
        logger.error(
            "payment webhook refused: PARLEY_PAYMENT_WEBHOOK_SECRET is shorter than "
            f"{MIN_SECRET_LENGTH} characters and counts as not set; configure a longer one"
        )
        return None
    return value


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"payment webhook bodies are at most {MAX_WEBHOOK_BODY} bytes")


async def capped_body(request: Request, limit: int = MAX_WEBHOOK_BODY) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed `limit`: by its
    Content-Length before anything is read, else while it is streamed in."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large()
    return bytes(body)


async def verified_payment_body(request: Request) -> bytes:
    """The raw body of a payment webhook whose signature checks out (401 when missing or
    wrong, and when no usable secret is configured, since then nothing can be verified;
    413 for a body over MAX_WEBHOOK_BODY, refused before any HMAC is computed)."""
    settings: Settings = request.app.state.settings
    secret = webhook_secret(settings)
    if secret is None:
        raise Unauthorized("payment webhooks are not accepted: no signing secret is configured")
    body = await capped_body(request)
    given = request.headers.get(SIGNATURE_HEADER, "").strip()
    scheme, _, digest = given.partition("=")
    expected = payment_signature(secret, body)
    presented = f"{scheme.lower()}={digest.lower()}".encode()
    if not given or not hmac.compare_digest(expected.encode(), presented):
        logger.warning(
            "payment webhook refused: missing or wrong signature",
            extra={"client": mask_client(request_client(request))},
        )
        raise Unauthorized(f"missing or invalid {SIGNATURE_HEADER}")
    return body


VerifiedPaymentBody = Annotated[bytes, Depends(verified_payment_body)]


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _nested_deeper_than(value: object, limit: int) -> bool:
    # Iterative, so it cannot itself run out of stack.
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = list(item)
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_payment(body: bytes) -> PaymentReport:
    """The webhook body as a PaymentReport (422 with the field errors otherwise,
    including for JSON nested too deeply to decode or deeper than MAX_JSON_DEPTH)."""
    try:
        raw = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise ValidationFailed("malformed JSON: nested too deeply", field="body") from None
    except ValueError as exc:
        raise ValidationFailed(f"malformed JSON: {exc}", field="body") from None
    if not isinstance(raw, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    if _nested_deeper_than(raw, MAX_JSON_DEPTH):
        raise ValidationFailed(
            f"the body is nested deeper than {MAX_JSON_DEPTH} levels", field="body"
        )
    try:
        data = PaymentIn.model_validate(raw)
    except ValidationError as exc:
        fields = [
            (".".join(str(p) for p in error["loc"]) or "body", str(error["msg"]))
            for error in exc.errors()
        ]
        summary = "; ".join(f"{f}: {m}" for f, m in fields)
        raise ValidationFailed(summary, fields=fields) from None
    except (RecursionError, ValueError) as exc:
        raise ValidationFailed(f"invalid body: {exc}", field="body") from None
    return PaymentReport(
        payment_id=data.payment_id,
        reference=data.reference,
        amount=data.amount,
        currency=data.currency,
        paid_at=data.paid_at,
        raw=raw,
    )


def _written_off(session: Session, payment: Payment) -> int:
    if payment.debt_id is None:
        return 0
    events = session.scalars(
        select(Event).where(Event.debt_id == payment.debt_id, Event.kind == "debt.write_off")
    )
    return sum(
        int(e.to_value or 0)
        for e in events
        if (e.data or {}).get("payment_id") == payment.payment_id
    )


def payment_result(session: Session, outcome: PaymentOutcome) -> PaymentResult:
    """The webhook's answer for an outcome (the same shape for a replay)."""
    payment, debt = outcome.payment, outcome.debt
    return PaymentResult(
        status=payment.status,
        payment_id=payment.payment_id,
        reference=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        applied_amount=payment.applied_amount,
        excess_amount=payment.excess_amount,
        written_off=outcome.written_off if not outcome.replay else _written_off(session, payment),
        needs_review=payment.needs_review,
        replay=outcome.replay,
        debt=(
            DebtState(id=debt.id, status=debt.status, balance=debt.balance, currency=debt.currency)
            if debt is not None
            else None
        ),
    )


@router.post(
    "/webhooks/payments",
    tags=["webhooks"],
    response_model=PaymentResult,
    responses={
        202: {"model": PaymentResult, "description": "stored for review, not applied"},
        401: {"description": "missing or invalid signature, or no usable secret configured"},
        409: {"description": "payment_id already received with another amount/reference/currency"},
        413: {"description": "body larger than 64 KiB"},
        422: {"description": "malformed JSON or missing fields"},
    },
)
def payment_webhook(
    request: Request, body: VerifiedPaymentBody, session: SessionDep, clock: ClockDep
) -> JSONResponse:
    """A payment from the processor (signed with PARLEY_PAYMENT_WEBHOOK_SECRET). Applied
    once per payment_id: 200 "applied"; 202 when stored for review (unknown reference,
    other currency); a replay answers 200 with the original outcome, or 409 when it differs
    from the original in amount, reference or currency (nothing of it is stored)."""
    report = parse_payment(body)
    outcome = receive_payment(session, report, now=clock.now())
    if outcome.conflicts:
        # Returned, not raised: the payment.replay_mismatch event is committed.
        fields = [
            (c.field, f"received {c.received}, already stored as {c.stored}")
            for c in outcome.conflicts
        ]
        message = (
            f"payment_id {report.payment_id!r} was already received with a different "
            + ", ".join(c.field for c in outcome.conflicts)
        )
        return JSONResponse(error_body("payment_replay_mismatch", message, fields), 409)
    result = payment_result(session, outcome)
    status_code = 202 if outcome.stored_for_review and not outcome.replay else 200
    return JSONResponse(result.model_dump(mode="json"), status_code=status_code)


# ------------------------------------------------------------------ page, images


def _html(content: str, status_code: int) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code, headers=PAGE_HEADERS)


@router.get("/p/{token}", response_class=HTMLResponse, include_in_schema=False)
def payment_page(token: str, request: Request, session: SessionDep, clock: ClockDep) -> Response:
    """The debtor's payment page (200), a plain notice for an expired or replaced code
    (410, with the creditor's contact) or an unknown link (404, generic; an address that
    keeps trying unknown links gets 429)."""
    code = find_code_or_throttle(request, session, token)
    if code is None:
        t = page_text(negotiate_language(request.headers.get("Accept-Language")))
        page = render_notice_page(t, kind="unknown", creditor_name=None, contact_phone=None)
        return _html(page, 404)
    debt = session.get(Debt, code.debt_id)
    creditor = session.get(Creditor, code.creditor_id)
    debtor = session.get(Debtor, debt.debtor_id) if debt else None
    assert debt is not None and creditor is not None and debtor is not None
    t = page_text(debtor.language)
    today = local_today(debtor, clock.now())
    payable = code.status == "active" and not is_expired(code, today)
    if not payable and code.status != "paid":
        kind = "settled" if debt.balance == 0 or debt.status == "settled" else "expired"
        page = render_notice_page(
            t, kind=kind, creditor_name=creditor.name, contact_phone=creditor.contact_phone
        )
        return _html(page, 410)
    plan: Plan | None = None
    if code.installment_id is not None:
        installment = session.get(Installment, code.installment_id)
        plan = session.get(Plan, installment.plan_id) if installment else None
    else:
        plan = active_plan(session, debt.id)
    installments = plan_installments(session, plan.id) if plan is not None else []
    page = render_code_page(
        t,
        code=code,
        creditor=creditor,
        debtor=debtor,
        debt=debt,
        plan=plan,
        installments=installments,
        image_path=f"/p/{code.token}/barcode.svg",
        symbology=scheme_of(code).symbology,
        today=today,
    )
    return _html(page, 200)


def find_code_or_throttle(request: Request, session: Session, token: str) -> PaymentCode | None:
    """The code behind a page or image token. Unknown tokens count against the client's
    address (app/throttle.py); past the limit it is refused with 429 before any look-up."""
    throttle: FailureThrottle = request.app.state.page_token_throttle
    client = request_client(request)
    wait = throttle.retry_after(client)
    if wait is not None:
        logger.warning(
            "payment page throttled", extra={"client": mask_client(client), "retry_after": wait}
        )
        raise TooManyRequests("too many unknown payment links; try again later", wait)
    code = find_code_by_token(session, token)
    if code is None:
        throttle.record_failure(client)
        logger.info("unknown payment link", extra={"client": mask_client(client)})
    return code


def _image(
    token: str, extension: str, request: Request, session: Session, clock: Clock
) -> Response:
    code = find_code_or_throttle(request, session, token)
    if code is None:
        raise NotFound("payment code not found")
    if code.status != "active" or is_expired(code, code_local_today(session, code, clock)):
        raise Gone("this payment code is paid, expired or replaced")
    symbology = scheme_of(code).symbology
    tag = hashlib.sha256(
        f"{IMAGE_RENDER_VERSION}:{symbology}:{extension}:{code.barcode_data}".encode()
    ).hexdigest()[:32]
    etag = f'"{tag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": IMAGE_CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
    }
    if_none_match = request.headers.get("If-None-Match", "")
    candidates = {c.strip().removeprefix("W/") for c in if_none_match.split(",")}
    if etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    if symbology == "qr":
        content = qr_svg(code.barcode_data) if extension == "svg" else qr_png(code.barcode_data)
    elif extension == "svg":
        content = barcode_svg(symbology, code.barcode_data)
    else:
        content = barcode_png(symbology, code.barcode_data)
    if extension == "svg":
        # Our SVGs carry no script; the policy makes sure none would run if opened directly.
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return Response(content, media_type=IMAGE_TYPES[extension], headers=headers)


@router.get(
    "/p/{token}/barcode.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}},
        404: {"description": "unknown token"},
        410: {"description": "the code is paid, expired or replaced"},
    },
)
def payment_code_svg(
    token: str, request: Request, session: SessionDep, clock: ClockDep
) -> Response:
    """The code's barcode (boleto: ITF; reference: Code 128) or PIX QR code as SVG
    (410 once the code is paid, expired or replaced)."""
    return _image(token, "svg", request, session, clock)


@router.get(
    "/p/{token}/barcode.png",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}},
        404: {"description": "unknown token"},
        410: {"description": "the code is paid, expired or replaced"},
    },
)
def payment_code_png(
    token: str, request: Request, session: SessionDep, clock: ClockDep
) -> Response:
    """The same image as PNG (what MMS carries)."""
    return _image(token, "png", request, session, clock)


# --------------------------------------------------------------------------- API


def code_out(settings: Settings, code: PaymentCode) -> PaymentCodeOut:
    """The API view of a payment code."""
    return PaymentCodeOut(
        id=code.id,
        reference=code.reference,
        display=code.display,
        amount=code.amount,
        currency=code.currency,
        due_date=code.due_date,
        expires_on=code.expires_on,
        kind=code.kind,
        scheme=code.scheme,
        status=code.status,
        url=payment_page_url(settings, code),
        image_url=code_image_url(settings, code),
        installment_id=code.installment_id,
        created_at=code.created_at,
        paid_at=code.paid_at,
    )


@router.get("/api/v1/debts/{debt_id}/payment-codes")
def list_payment_codes(
    debt_id: str, principal: CanViewAmounts, session: SessionDep, settings: SettingsDep
) -> PaymentCodeList:
    """The payment codes issued for a debt of the key's creditor, oldest first."""
    debt = get_debt(session, principal.creditor, debt_id)
    return PaymentCodeList(items=[code_out(settings, c) for c in debt_codes(session, debt.id)])


@router.get("/api/v1/payments")
def list_payments(
    principal: CanViewAmounts,
    session: SessionDep,
    status: Annotated[
        str | None,
        Query(description="needs_review (the review queue) | " + " | ".join(PAYMENT_STATUSES)),
    ] = None,
    limit: int = 100,
    offset: int = 0,
) -> PaymentList:
    """The creditor's payments, newest first, with the number of all matches.
    `status=needs_review` is the review queue (wrong currency, more than the balance...),
    oldest first. A payment quoting a reference no code has cannot be told apart from
    another creditor's, so it is kept for the operator and shown to no creditor."""
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be between 1 and 1000", field="limit")
    if offset < 0:
        raise ValidationFailed("offset must not be negative", field="offset")
    if status is not None and status not in PAYMENT_FILTERS:
        raise ValidationFailed(f"must be one of {', '.join(PAYMENT_FILTERS)}", field="status")
    rows, total = queue.list_payments(
        session, principal.creditor.id, status=status, limit=limit, offset=offset
    )
    return PaymentList(items=[payment_out(p, d, r) for p, d, r in rows], total=total)


@router.post("/api/v1/payments/{payment_id}/reviewed")
def mark_payment_reviewed(
    payment_id: str,
    principal: CanManageDebts,
    session: SessionDep,
    clock: ClockDep,
    body: PaymentReviewIn | None = None,
) -> PaymentOut:
    """Take a payment out of the review queue (its event names who did it)."""
    payment = queue.mark_reviewed(
        session,
        principal.creditor.id,
        payment_id,
        note=body.note if body else None,
        now=clock.now(),
        actor=principal.actor,
    )
    debt = session.get(Debt, payment.debt_id) if payment.debt_id else None
    debtor = session.get(Debtor, debt.debtor_id) if debt else None
    return payment_out(payment, debt, debtor)


def payment_out(payment: Payment, debt: Debt | None, debtor: Debtor | None) -> PaymentOut:
    """The API view of a payment."""
    return PaymentOut(
        id=payment.id,
        payment_id=payment.payment_id,
        reference=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        paid_at=payment.paid_at,
        status=payment.status,
        applied_amount=payment.applied_amount,
        excess_amount=payment.excess_amount,
        needs_review=payment.needs_review,
        debt_id=payment.debt_id,
        debt_external_id=debt.external_id if debt else None,
        debtor_name=debtor.name if debtor else None,
        created_at=payment.created_at,
    )
