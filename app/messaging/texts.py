"""Every text Parley sends, per language (en, es, pt-BR), kept GSM-7 friendly so a
statement fits two segments.

Templates are `str.format` strings; `render` fills them and folds characters outside
GSM-7 (ã, ç, á ...) to their plain letters, as Brazilian and Spanish SMS usually do.
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_date

from app.messaging.segments import to_gsm7_friendly

LANGUAGES = ("en", "es", "pt-BR")
CREDITOR_NAME_MAX = 40

TEMPLATES: dict[str, dict[str, str]] = {
    "statement_overdue": {
        "en": "{creditor}: your balance of {amount} was due {due} ({days} days ago). {menu}",
        "es": "{creditor}: su saldo de {amount} vencio el {due} (hace {days} dias). {menu}",
        "pt-BR": "{creditor}: seu saldo de {amount} venceu em {due} (ha {days} dias). {menu}",
    },
    "statement_due": {
        "en": "{creditor}: your balance of {amount} is due {due}. {menu}",
        "es": "{creditor}: su saldo de {amount} vence el {due}. {menu}",
        "pt-BR": "{creditor}: seu saldo de {amount} vence em {due}. {menu}",
    },
    "statement_due_today": {
        "en": "{creditor}: your balance of {amount} is due today. {menu}",
        "es": "{creditor}: su saldo de {amount} vence hoy. {menu}",
        "pt-BR": "{creditor}: seu saldo de {amount} vence hoje. {menu}",
    },
    "reply_menu": {
        "en": "Reply PAY for a payment code, PLAN for installments, CALL to talk to us. "
        "Reply STOP to opt out.",
        "es": "Responda PAGAR para el codigo de pago, CUOTAS para pagar en cuotas, LLAMAR "
        "para hablar con nosotros. BAJA para no recibir mas.",
        "pt-BR": "Responda PAGAR para o codigo de pagamento, PARCELAR para parcelas, LIGAR "
        "para falar conosco. SAIR para nao receber mais.",
    },
}


def normalize_language(language: str | None, default: str = "en") -> str:
    """Map "pt", "pt_BR", "es-MX", "EN" ... onto one of LANGUAGES."""
    if not language:
        return default
    primary = language.replace("_", "-").split("-", 1)[0].lower()
    return {"en": "en", "es": "es", "pt": "pt-BR"}.get(primary, default)


def format_local_date(day: date, language: str) -> str:
    """A short date for an SMS: "Nov 1, 2026" / "1/11/26" / "01/11/2026"."""
    language = normalize_language(language)
    if language == "en":
        return format_date(day, format="medium", locale="en_US")
    return format_date(day, format="short", locale="es" if language == "es" else "pt_BR")


def short_creditor_name(name: str) -> str:
    """Creditor names are cut so a long one cannot push a statement past two segments."""
    name = " ".join(name.split())
    if len(name) <= CREDITOR_NAME_MAX:
        return name
    return name[: CREDITOR_NAME_MAX - 1].rstrip() + "."


def render(name: str, language: str, **params: object) -> str:
    """Fill template `name` in `language` (falling back to English) as GSM-7 text."""
    variants = TEMPLATES[name]
    template = variants.get(normalize_language(language), variants["en"])
    return to_gsm7_friendly(template.format(**params))
