"""Terms a debtor proposes in their own words (a pure module, no database).

"could I send you 40 dollars every month?", "half today, the remainder in two months",
"posso pagar em 8 vezes no dia 5", "pago 300 ahora y el resto en 3 cuotas": an amount per
period (weekly, biweekly or monthly), a down payment with the rest later, a number of
installments and a preferred day of the month. Amounts are major units as the debtor
wrote them (a Decimal); the offers desk turns them into the debt's minor units and the
matching rule decides what is allowed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Final

__all__ = ["ProposedTerms", "parse_terms"]

WEEKLY, BIWEEKLY, MONTHLY = "weekly", "biweekly", "monthly"

_NUMBER_WORDS: Final[dict[str, int]] = {
    **dict.fromkeys(("one", "um", "uma", "uno", "una", "un"), 1),
    **dict.fromkeys(("two", "dois", "duas", "dos"), 2),
    **dict.fromkeys(("three", "tres"), 3),
    **dict.fromkeys(("four", "quatro", "cuatro"), 4),
    **dict.fromkeys(("five", "cinco"), 5),
    **dict.fromkeys(("six", "seis"), 6),
    **dict.fromkeys(("seven", "sete", "siete"), 7),
    **dict.fromkeys(("eight", "oito", "ocho"), 8),
    **dict.fromkeys(("nine", "nove", "nueve"), 9),
    **dict.fromkeys(("ten", "dez", "diez"), 10),
    **dict.fromkeys(("eleven", "onze", "once"), 11),
    **dict.fromkeys(("twelve", "doze", "doce"), 12),
    **dict.fromkeys(("fifteen", "quinze", "quince"), 15),
    **dict.fromkeys(("eighteen", "dezoito", "dieciocho"), 18),
    **dict.fromkeys(("twenty", "vinte", "veinte"), 20),
    **dict.fromkeys(("twenty four", "vinte e quatro", "veinticuatro"), 24),
    **dict.fromkeys(("thirty", "trinta", "treinta"), 30),
    **dict.fromkeys(("forty", "quarenta", "cuarenta"), 40),
    **dict.fromkeys(("fifty", "cinquenta", "cincuenta"), 50),
    **dict.fromkeys(("hundred", "a hundred", "one hundred", "cem", "cien"), 100),
}
_SHARES: Final[dict[str, Fraction]] = {
    **dict.fromkeys(("half", "a metade", "metade", "la mitad", "mitad", "meio"), Fraction(1, 2)),
    **dict.fromkeys(("a third", "one third", "um terco", "un tercio"), Fraction(1, 3)),
    **dict.fromkeys(("a quarter", "one quarter", "um quarto", "un cuarto"), Fraction(1, 4)),
}

# What joins an amount to its period: "40 a month", "40/mes", "40 por semana".
_PER = r"(?:(?:a|an|per|each|every|por|al|a la|cada|todo|toda|todos|todas|o|el|la|p|/)\s*)?"
_PERIOD_WORDS: Final = (
    (
        BIWEEKLY,
        r"biweekly|bi weekly|fortnight\w*|every (?:two|2|other) weeks?|each (?:two|2) weeks?"
        r"|(?:a )?cada (?:dos|duas|2|15|quince|quinze) (?:semanas|dias)|quincena\w*|quinzena\w*"
        r"|quincenal\w*|quinzenal\w*",
    ),
    (WEEKLY, r"weekly|week|semanal\w*|semana"),
    (MONTHLY, r"monthly|month|mensal\w*|mensual\w*|mes|mensalidades?"),
)
_PERIOD_RE: Final = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _PERIOD_WORDS))
_CURRENCY = (
    r"(?:us\$|r\$|mx\$|\$|€|usd|brl|mxn|eur|dollars?|dolares|bucks|reais|real|pesos?|euros?)"
)
# An amount: "$40", "40 dollars", "R$ 150,50", "1.200", "1,200.50".
_AMOUNT = (
    rf"(?:{_CURRENCY}\s*)?(?P<NAME>\d{{1,3}}(?:[.,]\d{{3}})+(?:[.,]\d{{1,2}})?|\d+(?:[.,]\d{{1,2}})?)"
    rf"(?!\s*(?:x\b|vezes|times|installments?|payments?|parcelas?|cuotas?|pagos?|meses|months?"
    rf"|weeks?|semanas|days?|dias|%|am|pm|h\b|hs|horas|st|nd|rd|th)\b)(?:\s*{_CURRENCY})?"
)
_AMOUNT_PER_PERIOD_RE: Final = re.compile(
    _AMOUNT.replace("NAME", "amount") + rf"\s*{_PER}(?P<period>{_PERIOD_RE.pattern})\b"
)
# "monthly payments of 40", "parcelas de 100", "cuotas de 500", "installments of $50".
_INSTALLMENTS_OF_RE: Final = re.compile(
    r"(?:(?P<period>weekly|biweekly|monthly|mensais|mensuales|semanais|semanales|quinzenais"
    r"|quincenales)\s+)?(?:installments?|payments?|parcelas?|prestacoes|cuotas?|pagos?|abonos?)"
    r"(?:\s+(?:mensais|mensuales|semanais|semanales|quinzenais|quincenales|monthly|weekly))?"
    r"\s+(?:of|de)\s+" + _AMOUNT.replace("NAME", "amount")
)
_COUNT_UNITS = (
    r"x|vezes|times|installments?|payments?|parcelas?|prestacoes|cuotas?|pagos?|pagamentos"
    r"|mensualidades|mensalidades|abonos"
)
_COUNT_RE: Final = re.compile(rf"(?<![\d.,$])(?P<count>\d{{1,2}})\s*(?:{_COUNT_UNITS})\b")
# "over 10 months", "en 10 meses", "durante 6 meses" (a number of monthly installments).
_MONTHS_COUNT_RE: Final = re.compile(
    r"(?:over|across|for|durante|ao longo de|a lo largo de|in|em|en|within)\s+(?P<count>\d{1,2})"
    r"\s*(?P<unit>months|meses|weeks|semanas)\b"
)
_DOWN_WORDS = (
    r"now|today|right now|upfront|up front|down|first|agora|hoje|ja|de entrada|entrada|ahora"
    r"|hoy|ya|de enganche|enganche|al contado|a vista|adelantado|adelantados"
)
_REST_WORDS = (
    r"rest|remainder|remaining|balance|the other half|resto|restante|o restante|lo demas"
    r"|el restante|lo que falta|o que falta|la otra mitad|a outra metade|saldo"
)
_SHARE_RX = "|".join(sorted((re.escape(k) for k in _SHARES), key=len, reverse=True))
# "half today", "200 now", "50% upfront", "entrada de 300", "pago 100 agora".
_DOWN_RE: Final = re.compile(
    rf"(?:(?:entrada|enganche|down payment|deposit|pago inicial|pagamento inicial|sinal)"
    rf"\s+(?:of|de)\s+(?:(?P<share1>{_SHARE_RX})|(?P<pct1>\d{{1,2}})\s*%|"
    + _AMOUNT.replace("NAME", "amount1")
    + rf"))|(?:(?P<share2>{_SHARE_RX})|(?P<pct2>\d{{1,2}})\s*%|"
    + _AMOUNT.replace("NAME", "amount2")
    + rf")\s*(?:{_DOWN_WORDS})\b"
)
_REST_RE: Final = re.compile(rf"\b(?:{_REST_WORDS})\b(?P<tail>.{{0,40}})")
_REST_IN_MONTHS_RE: Final = re.compile(
    r"^\s*(?:in|em|en|within|daqui a|dentro de|after|depois de|despues de)?\s*"
    r"(?:(?P<count>\d{1,2}) )?(?P<unit>months?|meses|mes|weeks?|semanas?)\b"
)
_REST_NEXT_MONTH_RE: Final = re.compile(
    r"^\s*(?:next month|mes que vem|proximo mes|el mes que viene|el proximo mes|no mes seguinte"
    r"|el mes siguiente|the following month)"
)
_DAY_RE: Final = re.compile(
    r"(?:\bon (?:the )?|\b(?:todo|cada|no|el|o|los|nos) (?:dia )?|\bdia )"
    r"(?P<day>\d{1,2})(?:st|nd|rd|th|º|o)?\b(?!\s*(?:de (?!cada)[a-z]{4,}|am|pm|h\b|hs|horas|:))"
    r"|\b(?P<day2>\d{1,2})(?:st|nd|rd|th)\b(?!\s*(?:am|pm))"
)
_PAYDAY_RE: Final = re.compile(
    r"get paid|paid on|payday|pay day|paycheck|salary|salario|recebo|receber|cobro|me pagan"
    r"|quincena|sueldo|each month|of the month|de cada mes|todo mes|todo dia|cada mes"
)


@dataclass(frozen=True)
class ProposedTerms:
    """What the debtor offered; every field is optional.

    ``amount`` is per period (``periodicity``, default monthly) in major units;
    ``down_payment`` (major units) or ``down_payment_share`` is paid first, the rest in
    ``rest_in_months`` as one payment or over ``count`` installments (the down payment
    not counted) or at ``amount`` per period. ``count`` without a down payment is the
    whole plan's number of installments; ``day`` the preferred day of the month.
    """

    amount: Decimal | None = None
    periodicity: str | None = None
    count: int | None = None
    down_payment: Decimal | None = None
    down_payment_share: Fraction | None = None
    rest_in_months: int | None = None
    day: int | None = None

    @property
    def has_down_payment(self) -> bool:
        return self.down_payment is not None or self.down_payment_share is not None

    @property
    def actionable(self) -> bool:
        """Whether this says enough to build a plan from (a day alone does not)."""
        return self.amount is not None or self.count is not None or self.has_down_payment

    def to_json(self) -> dict[str, object]:
        return {
            "amount": str(self.amount) if self.amount is not None else None,
            "periodicity": self.periodicity,
            "count": self.count,
            "down_payment": str(self.down_payment) if self.down_payment is not None else None,
            "down_payment_share": (
                str(self.down_payment_share) if self.down_payment_share is not None else None
            ),
            "rest_in_months": self.rest_in_months,
            "day": self.day,
        }


_UNITS_AFTER_ONE = (
    r"\s+(?:months?|mes|meses|weeks?|semanas?|installments?|payments?|parcelas?|cuotas?|pagos?"
    r"|vez|time)\b"
)


def _fold(text: str) -> str:
    lowered = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in lowered if not unicodedata.combining(ch))
    folded = re.sub(r"[!?¿¡;\"()]+", " ", folded)
    folded = re.sub(r"(?<=\d)\s*(?:º|ª)", "", folded)
    # Number words become digits ("dos meses" -> "2 meses"), longest first.
    for word in sorted(_NUMBER_WORDS, key=len, reverse=True):
        # "one"/"uma" only before a unit: "uma entrada de 200" has no amount 1.
        after = _UNITS_AFTER_ONE if _NUMBER_WORDS[word] == 1 else r"\s+(?:[a-z$]|\d)"
        folded = re.sub(rf"\b{word}\b(?={after})", str(_NUMBER_WORDS[word]), folded)
    return " ".join(folded.split())


def _amount(raw: str | None) -> Decimal | None:
    """ "1.200,50" / "1,200.50" / "40" / "40,5" as a Decimal."""
    if not raw:
        return None
    text = raw
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", text):
        text = re.sub(r"[.,]", "", text)
    else:
        match = re.fullmatch(r"(\d{1,3}(?:[.,]\d{3})*)[.,](\d{1,2})", text)
        if match:
            text = re.sub(r"[.,]", "", match.group(1)) + "." + match.group(2)
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value > 0 else None


def _period(match: re.Match[str]) -> str:
    for name, _ in _PERIOD_WORDS:
        if match.group(name):
            return name
    return MONTHLY


def _named_period(text: str) -> str | None:
    match = _PERIOD_RE.search(text)
    return _period(match) if match else None


def _down_payment(text: str) -> tuple[Decimal | None, Fraction | None, int]:
    match = _DOWN_RE.search(text)
    if match is None:
        return None, None, -1
    share = match.group("share1") or match.group("share2")
    pct = match.group("pct1") or match.group("pct2")
    if share:
        return None, _SHARES[share], match.end()
    if pct:
        value = Fraction(int(pct), 100)
        return (None, value, match.end()) if 0 < value < 1 else (None, None, -1)
    return _amount(match.group("amount1") or match.group("amount2")), None, match.end()


def parse_terms(text: str) -> ProposedTerms | None:
    """The terms a reply proposes, or None when it proposes none."""
    folded = _fold(text)
    if not re.search(r"\d|half|metade|mitad|third|terco|tercio|quarter", folded):
        return None
    amount: Decimal | None = None
    periodicity: str | None = None
    count: int | None = None
    rest_in_months: int | None = None

    down, share, down_end = _down_payment(folded)
    rest = _REST_RE.search(folded, max(down_end, 0)) if (down or share) else None
    if rest is not None:
        tail = rest.group("tail")
        months = _REST_IN_MONTHS_RE.match(tail)
        counted = _COUNT_RE.search(tail)
        per_period = _AMOUNT_PER_PERIOD_RE.search(tail)
        if per_period is not None:
            amount = _amount(per_period.group("amount"))
            periodicity = _period(per_period)
        elif counted is not None:
            count = int(counted.group("count"))
        elif months is not None:
            number = int(months.group("count") or 1)
            weeks = months.group("unit").startswith(("week", "semana"))
            rest_in_months = max(1, round(number / 4)) if weeks else number
        elif _REST_NEXT_MONTH_RE.match(tail):
            rest_in_months = 1
    if amount is None and count is None:
        per_period = _AMOUNT_PER_PERIOD_RE.search(folded)
        if per_period is not None and per_period.start() >= max(down_end, 0):
            amount = _amount(per_period.group("amount"))
            periodicity = _period(per_period)
        else:
            of = _INSTALLMENTS_OF_RE.search(folded)
            if of is not None and of.start() >= max(down_end, 0):
                amount = _amount(of.group("amount"))
                periodicity = (
                    _named_period(of.group("period") or "") or _named_period(folded) or MONTHLY
                )
    if count is None and rest_in_months is None and not (down or share):
        counted = _COUNT_RE.search(folded)
        if counted is not None:
            count = int(counted.group("count"))
        else:
            spread = _MONTHS_COUNT_RE.search(folded)
            if spread is not None and re.search(
                r"pay|pag|split|divid|parcel|cuota|installment|plan", folded
            ):
                count = int(spread.group("count"))
                if spread.group("unit") in ("weeks", "semanas"):
                    periodicity = WEEKLY
    if count is not None and not 1 <= count <= 99:
        count = None
    if periodicity is None and (count is not None or down or share):
        periodicity = _named_period(folded)
    day: int | None = None
    if _PAYDAY_RE.search(folded) or amount is not None or count is not None or down or share:
        for match in _DAY_RE.finditer(folded):
            value = int(match.group("day") or match.group("day2"))
            if 1 <= value <= 31:
                day = value
                break
    terms = ProposedTerms(
        amount=amount,
        periodicity=periodicity,
        count=count,
        down_payment=down,
        down_payment_share=share,
        rest_in_months=rest_in_months,
        day=day,
    )
    return terms if terms.actionable else None
