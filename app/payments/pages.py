"""The debtor's payment page and the plain notice pages (expired, settled, unknown),
rendered with Jinja2 from app/payments/templates.

The pages are self-contained: styles and the one small script (the copy button, an
enhancement: the page works with JavaScript off) are inline and allowed by hash in the
Content-Security-Policy, so nothing loads from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from app.creditors.models import Creditor
from app.debts.models import Debt, Debtor
from app.offers.models import Installment, Plan
from app.payments.models import PaymentCode
from app.payments.texts import PageText

STYLE = """
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
font-size:1.0625rem;line-height:1.5;color:#1a1a1a;background:#f4f5f7}
main{max-width:34rem;margin:0 auto;padding:1rem;background:#fff;min-height:100vh}
h1{font-size:1.375rem;margin:.25rem 0 1rem}
h2{font-size:1.125rem;margin:1.5rem 0 .5rem}
.creditor{font-weight:600;color:#444;margin:0}
.summary{display:grid;grid-template-columns:1fr 1fr;gap:.5rem 1rem;margin:1rem 0;padding:0}
@media (max-width:26rem){.summary{grid-template-columns:1fr}}
.summary dt{color:#444;font-size:.9375rem}
.summary dd{margin:0;font-size:1.375rem;font-weight:700}
.note{background:#eef6ee;border-left:4px solid #2e7d32;padding:.5rem .75rem}
.banner{background:#e8f0fe;border-left:4px solid #0b57d0;padding:.5rem .75rem;font-weight:600}
figure{margin:1rem 0;text-align:center}
figure img{width:100%;height:auto;max-width:32rem;background:#fff}
figure img.qr{max-width:18rem}
.code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1rem;overflow-wrap:anywhere;word-break:normal;
user-select:all;-webkit-user-select:all;background:#f4f5f7;border:1px solid #c4c7cc;
border-radius:6px;padding:.75rem;margin:.5rem 0}
button{font:inherit;font-weight:600;min-height:3rem;padding:.5rem 1.25rem;border:0;
border-radius:6px;background:#0b57d0;color:#fff;cursor:pointer}
button:focus-visible,a:focus-visible{outline:3px solid #f9ab00;outline-offset:2px}
a{color:#0b57d0}
table{width:100%;border-collapse:collapse;font-size:.9375rem}
caption{text-align:left;font-weight:600;padding-bottom:.25rem}
th,td{text-align:left;padding:.4rem .25rem;border-bottom:1px solid #dfe1e5}
td.num,th.num{text-align:right}
tr.current{background:#fff8e1;font-weight:600}
.hint{color:#444;font-size:.9375rem;margin:.25rem 0}
footer{margin-top:2rem;color:#444;font-size:.9375rem}
""".strip()

COPY_SCRIPT = """
(function () {
  var button = document.getElementById("copy-button");
  var code = document.getElementById("payment-code");
  var status = document.getElementById("copy-status");
  if (!button || !code || !status) { return; }
  function selectCode() {
    var range = document.createRange();
    range.selectNodeContents(code);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function fallback() {
    selectCode();
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }
  function report(ok) {
    var key = ok ? "data-copied" : "data-failed";
    status.textContent = button.getAttribute(key);
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var text = code.textContent.trim();
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { report(true); },
        function () { report(fallback()); });
    } else {
      report(fallback());
    }
  });
})();
""".strip()


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self'; "
    f"style-src {_csp_hash(STYLE)}; script-src {_csp_hash(COPY_SCRIPT)}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_environment = Environment(
    loader=PackageLoader("app.payments", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class ScheduleRow:
    """One installment as the page lists it."""

    number: int
    due: str
    amount: str
    status: str
    current: bool


def contact_line(t: PageText, creditor_name: str, phone: str | None) -> Markup:
    """ "Questions? Call <creditor> at <phone>" with the number as a tel: link."""
    if not phone:
        return escape(t("contact_no_phone"))
    link = Markup('<a href="tel:{0}">{0}</a>').format(phone)
    return escape(t("contact", creditor=creditor_name, phone="\x00")).replace("\x00", link)


def first_name(full_name: str) -> str:
    """The only thing the page says about who the debtor is: the first given name, also
    of a name written "Surname, Given" (as many ledgers export them)."""
    surname, comma, given = full_name.partition(",")
    parts = (given if comma and given.strip() else surname).split()
    return parts[0] if parts else ""


def _installment_status(t: PageText, installment: Installment, today: date, currency: str) -> str:
    if installment.status == "paid":
        return t("status_paid")
    if installment.status == "canceled":
        return t("status_canceled")
    if installment.paid_amount > 0:
        return t("status_partial", paid=t.money(installment.paid_amount, currency))
    if installment.status == "late" or installment.due_date < today:
        return t("status_late")
    return t("status_due")


def schedule_rows(
    t: PageText,
    installments: list[Installment],
    *,
    currency: str,
    today: date,
    current_id: str | None,
) -> list[ScheduleRow]:
    """The plan's installments with what is paid, in order."""
    return [
        ScheduleRow(
            number=i.number,
            due=t.date(i.due_date),
            amount=t.money(i.amount, currency),
            status=_installment_status(t, i, today, currency),
            current=i.id == current_id,
        )
        for i in installments
    ]


def render_code_page(
    t: PageText,
    *,
    code: PaymentCode,
    creditor: Creditor,
    debtor: Debtor,
    debt: Debt,
    plan: Plan | None,
    installments: list[Installment],
    image_path: str,
    symbology: str,
    today: date,
) -> str:
    """The payment page of one code: what to pay, by when, the image and the code to
    copy, the plan schedule when there is one, and how to reach the creditor."""
    amount = t.money(code.amount, code.currency)
    installment = next((i for i in installments if i.id == code.installment_id), None)
    return _environment.get_template("payment.html").render(
        t=t,
        lang=t.language,
        style=Markup(STYLE),  # noqa: S704 (our own constant, not user input)
        script=Markup(COPY_SCRIPT),  # noqa: S704 (our own constant, not user input)
        creditor_name=creditor.name,
        contact=contact_line(t, creditor.name, creditor.contact_phone),
        creditor_identity=", ".join(
            part for part in (creditor.legal_name, creditor.tax_id, creditor.address) if part
        ),
        name=first_name(debtor.name),
        amount=amount,
        due=t.date(code.due_date),
        scheme=code.scheme,
        kind=code.kind,
        display=code.display,
        image_path=image_path,
        image_class="qr" if symbology == "qr" else "barcode",
        image_alt=t(f"image_alt_{code.scheme}", amount=amount, code=code.display),
        paid_on=(
            t.date(code.paid_at.astimezone(ZoneInfo(debtor.timezone)).date())
            if code.status == "paid" and code.paid_at
            else None
        ),
        lump_sum_note=(
            t(
                "lump_sum_note",
                amount=amount,
                date=t.date(code.expires_on or code.due_date),
                balance=t.money(debt.balance, debt.currency),
            )
            if code.kind == "lump_sum" and code.status == "active" and debt.balance > code.amount
            else None
        ),
        installment_note=(
            t("installment_note", number=installment.number, count=plan.installment_count)
            if installment is not None and plan is not None
            else None
        ),
        schedule=schedule_rows(
            t, installments, currency=code.currency, today=today, current_id=code.installment_id
        ),
    )


def render_notice_page(
    t: PageText, *, kind: str, creditor_name: str | None, contact_phone: str | None
) -> str:
    """A plain page for a link that cannot be paid: `kind` is "expired", "settled" or
    "unknown" (unknown links name no creditor)."""
    return _environment.get_template("notice.html").render(
        t=t,
        lang=t.language,
        style=Markup(STYLE),  # noqa: S704 (our own constant, not user input)
        title=t(f"{kind}_title"),
        body=t(f"{kind}_body"),
        creditor_name=creditor_name,
        contact=contact_line(t, creditor_name, contact_phone) if creditor_name else None,
    )
