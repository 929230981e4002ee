"""PAY answers: the payment code for what is due now, with its page link (and the
barcode as MMS where the creditor enables it and the number can receive it)."""

from __future__ import annotations

from app.actions.codes import issue_current_code
from app.actions.reply import ReplyContext
from app.offers.models import Installment, Plan
from app.payments.service import code_image_url, mms_allowed, payment_page_url
from app.payments.texts import pay_text


class PaymentsDesk:
    """Answers PAY with the payment code of what is due now."""

    def answer_pay(self, ctx: ReplyContext) -> None:
        """Issue (or reuse) the code for the focus debt's current terms and reply with
        it: the typed line / PIX payload / reference, and the payment page link."""
        debt = ctx.debt
        # The terms are worked out under the debt's lock (a payment may be landing now).
        code = issue_current_code(ctx.session, ctx.creditor, debt, ctx.now) if debt else None
        if debt is None or code is None:
            ctx.reply(ctx.text("nothing_due"))
            return
        number = count = None
        if code.installment_id is not None:
            installment = ctx.session.get(Installment, code.installment_id)
            plan = ctx.session.get(Plan, installment.plan_id) if installment else None
            if installment is not None and plan is not None:
                number, count = installment.number, plan.installment_count
        body = pay_text(
            creditor_name=ctx.creditor.name,
            language=ctx.language,
            kind=code.kind,
            scheme=code.scheme,
            amount=code.amount,
            currency=code.currency,
            due=code.due_date,
            display=code.display,
            url=payment_page_url(ctx.settings, code),
            balance=debt.balance,
            installment_number=number,
            installment_count=count,
        )
        media = (
            [code_image_url(ctx.settings, code)] if mms_allowed(ctx.creditor, ctx.debtor) else []
        )
        ctx.reply(body, kind="payment_code", media_urls=media)
