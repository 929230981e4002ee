"""What the payments domain says, per language (en, es, pt-BR): the PAY answer, the
thank-you text, and the payment page.

SMS texts are folded to GSM-7 like every other Parley text, except the payment code
itself, which is inserted verbatim afterwards (folding could change a PIX payload and
break its CRC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from babel.dates import format_date

from app.money import format_money
from app.texts import (
    BABEL_LOCALES,
    Language,
    format_local_date,
    normalize_language,
    register,
    render,
    short_creditor_name,
    translate,
)

if TYPE_CHECKING:
    from app.offers.models import Installment

SMS: dict[str, dict[str, str]] = {
    "pay_balance": {
        "en": "{creditor}: to pay {amount} by {due}, use this {label}.",
        "es": "{creditor}: para pagar {amount} hasta el {due}, use esta {label}.",
        "pt-BR": "{creditor}: para pagar {amount} ate {due}, use este {label}.",
    },
    "pay_lump_sum": {
        "en": "{creditor}: pay {amount} instead of {balance} by {due} and your balance is "
        "settled in full. Use this {label}.",
        "es": "{creditor}: pague {amount} en lugar de {balance} hasta el {due} y su saldo "
        "queda saldado. Use esta {label}.",
        "pt-BR": "{creditor}: pague {amount} em vez de {balance} ate {due} e seu saldo fica "
        "quitado. Use este {label}.",
    },
    "pay_installment": {
        "en": "{creditor}: installment {number} of {count}, {amount} due {due}. Use this {label}.",
        "es": "{creditor}: cuota {number} de {count}, {amount} vence el {due}. Use esta {label}.",
        "pt-BR": "{creditor}: parcela {number} de {count}, {amount} vence em {due}. Use este "
        "{label}.",
    },
    "pay_link": {
        "en": "Pay online: {url}",
        "es": "Pague en linea: {url}",
        "pt-BR": "Pague pelo link: {url}",
    },
    "thanks_settled": {
        "en": "{creditor}: thank you! We received your payment of {paid}. Your balance is "
        "paid in full and you will get no more reminders.",
        "es": "{creditor}: gracias! Recibimos su pago de {paid}. Su saldo esta pagado y no "
        "recibira mas recordatorios.",
        "pt-BR": "{creditor}: obrigado! Recebemos seu pagamento de {paid}. Seu saldo esta "
        "quitado e voce nao recebera mais lembretes.",
    },
    "thanks_balance": {
        "en": "{creditor}: thank you! We received your payment of {paid}. Remaining "
        "balance: {balance}. Reply PAY for a payment code.",
        "es": "{creditor}: gracias! Recibimos su pago de {paid}. Saldo pendiente: {balance}. "
        "Responda PAGAR para el codigo de pago.",
        "pt-BR": "{creditor}: obrigado! Recebemos seu pagamento de {paid}. Saldo restante: "
        "{balance}. Responda PAGAR para o codigo de pagamento.",
    },
    "thanks_plan": {
        "en": "{creditor}: thank you! We received your payment of {paid}. Next installment: "
        "{next_amount} due {next_due}.",
        "es": "{creditor}: gracias! Recibimos su pago de {paid}. Proxima cuota: {next_amount} "
        "con vencimiento el {next_due}.",
        "pt-BR": "{creditor}: obrigado! Recebemos seu pagamento de {paid}. Proxima parcela: "
        "{next_amount} com vencimento em {next_due}.",
    },
}

# What the code is called in the SMS, per scheme (the article in the templates agrees
# with these nouns in es/pt).
CODE_LABELS: dict[str, dict[str, str]] = {
    "boleto": {
        "en": "boleto typed line",
        "es": "linea digitable del boleto",
        "pt-BR": "codigo do boleto (linha digitavel)",
    },
    "pix": {
        "en": "PIX copy-and-paste code",
        "es": "clave PIX copia y pega",
        "pt-BR": "codigo PIX copia e cola",
    },
    "reference": {
        "en": "payment reference",
        "es": "referencia de pago",
        "pt-BR": "codigo de referencia",
    },
}

register("payment", SMS)
register("payment.label", CODE_LABELS)


def _sms(name: str, language: str, **params: object) -> str:
    return render(f"payment.{name}", language, **params)


def pay_text(
    *,
    creditor_name: str,
    language: str,
    kind: str,
    scheme: str,
    amount: int,
    currency: str,
    due: date,
    display: str,
    url: str,
    balance: int | None = None,
    installment_number: int | None = None,
    installment_count: int | None = None,
) -> str:
    """The PAY answer: what to pay by when, the code to type or copy, the page link."""
    language = normalize_language(language)
    params: dict[str, object] = {
        "creditor": short_creditor_name(creditor_name),
        "amount": format_money(amount, currency, language),
        "due": format_local_date(due, language),
        "label": translate(f"payment.label.{scheme}", language),
    }
    if kind == "lump_sum" and balance is not None:
        intro = _sms(
            "pay_lump_sum", language, balance=format_money(balance, currency, language), **params
        )
    elif kind == "installment" and installment_number and installment_count:
        intro = _sms(
            "pay_installment",
            language,
            number=installment_number,
            count=installment_count,
            **params,
        )
    else:
        intro = _sms("pay_balance", language, **params)
    link = _sms("pay_link", language, url=url)
    return f"{intro}\n{display}\n{link}"


def thanks_text(
    *,
    creditor_name: str,
    language: str,
    paid: int,
    currency: str,
    balance: int,
    next_installment: Installment | None,
) -> str:
    """The thank-you text after a payment was applied."""
    language = normalize_language(language)
    params: dict[str, object] = {
        "creditor": short_creditor_name(creditor_name),
        "paid": format_money(paid, currency, language),
        "balance": format_money(balance, currency, language),
    }
    if balance == 0:
        return _sms("thanks_settled", language, **params)
    if next_installment is not None:
        return _sms(
            "thanks_plan",
            language,
            next_amount=format_money(next_installment.outstanding, currency, language),
            next_due=format_local_date(next_installment.due_date, language),
            **params,
        )
    return _sms("thanks_balance", language, **params)


# ------------------------------------------------------------------------- page

PAGE: dict[str, dict[str, str]] = {
    "en": {
        "title": "Payment",
        "greeting": "Hello {name},",
        "intro": "Here is how to pay {creditor}.",
        "amount": "Amount to pay",
        "due": "Pay by",
        "lump_sum_note": "Pay {amount} by {date} and your balance of {balance} is settled in full.",
        "installment_note": "Installment {number} of {count}",
        "code_boleto": "Boleto typed line",
        "code_pix": "PIX copy-and-paste code",
        "code_reference": "Payment reference",
        "how_boleto": "Pay in your bank's app, at a bank or lottery outlet: scan the barcode "
        "or type the line below.",
        "how_pix": "Open your bank's app, choose PIX and scan the QR code, or use "
        '"copy and paste" with the code below.',
        "how_reference": "Quote this reference when you pay, so we can match your payment.",
        "image_alt_boleto": "Boleto barcode for {amount}",
        "image_alt_pix": "PIX QR code for {amount}",
        "image_alt_reference": "Barcode of payment reference {code}",
        "copy": "Copy code",
        "copied": "Code copied.",
        "copy_failed": "Could not copy. Select the code and copy it.",
        "select_hint": "Tap the code to select it.",
        "schedule": "Your payment plan",
        "col_number": "No.",
        "col_due": "Due",
        "col_amount": "Amount",
        "col_status": "Status",
        "status_paid": "Paid",
        "status_partial": "{paid} paid",
        "status_due": "Due",
        "status_late": "Late",
        "status_canceled": "Canceled",
        "current": "(this payment)",
        "paid_banner": "This code was paid on {date}. Thank you!",
        "contact": "Questions? Call {creditor} at {phone}.",
        "contact_no_phone": "Questions? Reply to our text message.",
        "expired_title": "This payment link has expired",
        "expired_body": "Reply PAY to our text message to get a new payment code.",
        "settled_title": "Nothing to pay",
        "settled_body": "There is nothing left to pay with this link. Thank you!",
        "unknown_title": "Payment link not found",
        "unknown_body": "This link is not valid. Please check the link in your text "
        "message, or contact the company that sent it.",
    },
    "es": {
        "title": "Pago",
        "greeting": "Hola {name}:",
        "intro": "Así puede pagar a {creditor}.",
        "amount": "Importe a pagar",
        "due": "Pagar hasta",
        "lump_sum_note": "Pague {amount} hasta el {date} y su saldo de {balance} queda "
        "saldado por completo.",
        "installment_note": "Cuota {number} de {count}",
        "code_boleto": "Línea digitable del boleto",
        "code_pix": "Clave PIX copia y pega",
        "code_reference": "Referencia de pago",
        "how_boleto": "Pague en la app de su banco, en un banco o en una lotería: escanee el "
        "código de barras o escriba la línea de abajo.",
        "how_pix": "Abra la app de su banco, elija PIX y escanee el código QR, o use "
        '"copia y pega" con el código de abajo.',
        "how_reference": "Indique esta referencia al pagar para que podamos identificar su pago.",
        "image_alt_boleto": "Código de barras del boleto por {amount}",
        "image_alt_pix": "Código QR PIX por {amount}",
        "image_alt_reference": "Código de barras de la referencia de pago {code}",
        "copy": "Copiar código",
        "copied": "Código copiado.",
        "copy_failed": "No se pudo copiar. Seleccione el código y cópielo.",
        "select_hint": "Toque el código para seleccionarlo.",
        "schedule": "Su plan de pagos",
        "col_number": "N.º",
        "col_due": "Vencimiento",
        "col_amount": "Importe",
        "col_status": "Estado",
        "status_paid": "Pagada",
        "status_partial": "{paid} pagado",
        "status_due": "Pendiente",
        "status_late": "Atrasada",
        "status_canceled": "Cancelada",
        "current": "(este pago)",
        "paid_banner": "Este código se pagó el {date}. ¡Gracias!",
        "contact": "¿Preguntas? Llame a {creditor} al {phone}.",
        "contact_no_phone": "¿Preguntas? Responda a nuestro mensaje de texto.",
        "expired_title": "Este enlace de pago ha vencido",
        "expired_body": "Responda PAGAR a nuestro mensaje de texto para recibir un nuevo "
        "código de pago.",
        "settled_title": "Nada que pagar",
        "settled_body": "No queda nada por pagar con este enlace. ¡Gracias!",
        "unknown_title": "Enlace de pago no encontrado",
        "unknown_body": "Este enlace no es válido. Revise el enlace de su mensaje de texto "
        "o contacte a la empresa que lo envió.",
    },
    "pt-BR": {
        "title": "Pagamento",
        "greeting": "Olá, {name}!",
        "intro": "Veja como pagar {creditor}.",
        "amount": "Valor a pagar",
        "due": "Pagar até",
        "lump_sum_note": "Pague {amount} até {date} e seu saldo de {balance} fica quitado.",
        "installment_note": "Parcela {number} de {count}",
        "code_boleto": "Linha digitável do boleto",
        "code_pix": "Código PIX copia e cola",
        "code_reference": "Código de referência",
        "how_boleto": "Pague no app do seu banco, em uma agência ou lotérica: leia o código "
        "de barras ou digite a linha abaixo.",
        "how_pix": "Abra o app do seu banco, escolha PIX e leia o QR code, ou use o "
        '"copia e cola" com o código abaixo.',
        "how_reference": "Informe este código ao pagar para identificarmos seu pagamento.",
        "image_alt_boleto": "Código de barras do boleto de {amount}",
        "image_alt_pix": "QR code PIX de {amount}",
        "image_alt_reference": "Código de barras da referência {code}",
        "copy": "Copiar código",
        "copied": "Código copiado.",
        "copy_failed": "Não foi possível copiar. Selecione o código e copie.",
        "select_hint": "Toque no código para selecioná-lo.",
        "schedule": "Seu parcelamento",
        "col_number": "Nº",
        "col_due": "Vencimento",
        "col_amount": "Valor",
        "col_status": "Situação",
        "status_paid": "Paga",
        "status_partial": "{paid} pago",
        "status_due": "Em aberto",
        "status_late": "Atrasada",
        "status_canceled": "Cancelada",
        "current": "(este pagamento)",
        "paid_banner": "Este código foi pago em {date}. Obrigado!",
        "contact": "Dúvidas? Ligue para {creditor}: {phone}.",
        "contact_no_phone": "Dúvidas? Responda à nossa mensagem de texto.",
        "expired_title": "Este link de pagamento expirou",
        "expired_body": "Responda PAGAR à nossa mensagem de texto para receber um novo "
        "código de pagamento.",
        "settled_title": "Nada a pagar",
        "settled_body": "Não há mais nada a pagar com este link. Obrigado!",
        "unknown_title": "Link de pagamento não encontrado",
        "unknown_body": "Este link não é válido. Confira o link da sua mensagem de texto ou "
        "fale com a empresa que o enviou.",
    },
}


register(
    "page",
    {key: {language: PAGE[language][key] for language in PAGE} for key in PAGE["en"]},
)


@dataclass(frozen=True)
class PageText:
    """The page strings of one language, with the formatting helpers the page needs."""

    language: Language

    def __call__(self, key: str, **params: object) -> str:
        return translate(f"page.{key}", self.language, **params)

    def money(self, amount: int, currency: str) -> str:
        return format_money(amount, currency, self.language)

    def date(self, day: date) -> str:
        return format_date(day, format="long", locale=BABEL_LOCALES[self.language])


def page_text(language: str | None) -> PageText:
    """Page strings for a debtor's language (English when unknown)."""
    return PageText(normalize_language(language))


def negotiate_language(accept_language: str | None) -> Language:
    """The first of our languages an Accept-Language header asks for (else English);
    used where no debtor is known."""
    if not accept_language:
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag))
    for _quality, _position, tag in sorted(ranked):
        primary = tag.replace("_", "-").split("-", 1)[0].lower()
        if primary in ("en", "es", "pt"):
            return normalize_language(primary)
    return "en"
