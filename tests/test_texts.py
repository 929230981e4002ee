"""The one message catalog: every text exists in every language, and every SMS text,
filled with the longest values Parley can put in it, fits two segments."""

from __future__ import annotations

import string
from datetime import date

import pytest

from app.callbacks import texts as callback_texts
from app.money import format_money
from app.offers.summary import plan_summary
from app.payments import texts as payment_texts
from app.segments import count_segments
from app.texts import CATALOG, LANGUAGES, format_local_date, render, short_creditor_name

# Importing the domains' text modules registers their texts in the catalog.
REGISTERED = (callback_texts.TEMPLATES, payment_texts.SMS, payment_texts.PAGE)

# The longest values each placeholder takes in production.
LONGEST_DATE = date(2026, 12, 31)
PAYMENT_URL = "https://parley.example.com/p/" + "x" * 32
SMS_TEXTS = sorted(name for name in CATALOG if not name.startswith(("page.", "payment.label.")))


def worst_case(language: str) -> dict[str, object]:
    money = format_money(99_999_999, "BRL", language)
    day = format_local_date(LONGEST_DATE, language)
    return {
        "creditor": short_creditor_name("Companhia Brasileira de Cobrança e Crédito Ltda"),
        "amount": money,
        "balance": money,
        "paid": money,
        "installment": money,
        "total": money,
        "next_amount": money,
        "due": day,
        "date": day,
        "first_due": day,
        "next_due": day,
        "when": "Wed Dec 31, 10:30-11:00" if language == "en" else "qua 31/12, 10:30-11:00",
        "days": 999,
        "number": 12,
        "count": 12,
        "phone": "+55 11 99999-9999",
        "url": PAYMENT_URL,
        "code": "",  # the payment code goes after the text, verbatim (and by MMS)
        "label": render("payment.label.boleto", language),
        "menu": "",
        # negotiation and contact preferences (issue 14)
        "summary": plan_summary(
            [99_999_999] * 11 + [99_999_998],
            [LONGEST_DATE] * 12,
            periodicity="biweekly",
            down_payment=99_999_999,
            currency="BRL",
            language=language,
        ),
        "down": money,
        "last": money,
        "rest": render(
            "summary_uneven",
            language,
            count=10,
            amount=money,
            last=money,
            period=render("period_biweekly", language),
            first=day,
        ),
        "period": render("period_biweekly", language),
        "first": day,
        "start": "10:00 PM",
        "end": "10:00 PM",
        "time": "10:30 PM",
        "window": render("preference_window", language, start="10:00 PM", end="10:00 PM"),
    }


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_text_exists_in_every_language_with_the_same_placeholders() -> None:
    assert all(f"callback.{name}" in CATALOG for name in callback_texts.TEMPLATES)
    assert all(f"payment.{name}" in CATALOG for name in payment_texts.SMS)
    for name, variants in CATALOG.items():
        assert set(variants) == set(LANGUAGES), name
        assert len({frozenset(placeholders(v)) for v in variants.values()}) == 1, name


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", SMS_TEXTS)
def test_every_sms_fits_two_segments_with_worst_case_values(name: str, language: str) -> None:
    params = worst_case(language)
    if "{menu}" in CATALOG[name][language]:
        params["menu"] = render("reply_menu", language)
        if name.startswith("callback."):
            params["menu"] = "A: Wed Dec 31 10:30, B: Wed Dec 31 11:00, C: Wed Dec 31 11:30"
        elif name.startswith("plan"):
            params["menu"] = "1: 3 x R$ 999.999,99, 2: 6 x R$ 999.999,99, 3: 12 x R$ 99.999,99"
    used = placeholders(CATALOG[name][language])
    text = render(name, language, **{k: v for k, v in params.items() if k in used})
    assert count_segments(text).segments <= 2, (name, language, len(text), text)
