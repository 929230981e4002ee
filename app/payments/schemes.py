"""Payment-code algorithms: boleto (FEBRABAN cobrança), PIX BR Code, reference codes.

Pure functions only: no database, no clock (callers pass ``today``), no I/O.

Boleto barcode (44 digits)::

    BBB M D FFFF VVVVVVVVVV LLLLLLLLLLLLLLLLLLLLLLLLL
    bank, currency, general check digit, due-date factor, amount (centavos), free field

Typed line ("linha digitável", 47 digits)::

    field 1: bar[0:4] + bar[19:24] + mod10     (10 digits)
    field 2: bar[24:34] + mod10                (11 digits)
    field 3: bar[34:44] + mod10                (11 digits)
    field 4: bar[4]  (general check digit)     (1 digit)
    field 5: bar[5:19] (factor + amount)       (14 digits)

Error detection is not uniform across the typed line: fields 1-3 carry a mod-10
(Luhn-style) digit that catches every single-digit error. Fields 4-5 are guarded only by
the barcode's mod-11 digit, and because remainders 0, 1 and 10 all map to check digit
"1", a single-digit change there goes unnoticed when it moves the remainder between
those three values (about 2 in 11 changes when the check digit is "1"). This is a
property of the FEBRABAN scheme, not of this implementation.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = [
    "BOLETO_AGREEMENT_DIGITS",
    "BOLETO_SEQUENCE_DIGITS",
    "BoletoFields",
    "InvalidPaymentCode",
    "boleto_barcode",
    "boleto_barcode_from_typed_line",
    "boleto_check_digit",
    "boleto_due_factor",
    "boleto_factor_to_date",
    "boleto_format_typed_line",
    "boleto_free_field",
    "boleto_parse_barcode",
    "boleto_typed_line",
    "crc16_ccitt_false",
    "mod10",
    "pix_parse",
    "pix_payload",
    "reference_code",
    "reference_is_valid",
]


class InvalidPaymentCode(ValueError):
    """A boleto barcode, typed line or PIX payload is malformed or fails its checks."""


# --------------------------------------------------------------------------- boleto

#: Factor 0 is this date; factors count days from here (Carta Circular BCB 2.926).
BOLETO_BASE_DATE = date(1997, 10, 7)
_FACTOR_MIN = 1000
_FACTOR_MAX = 9999
#: Factors 1000..9999 form a cycle of 9000 days: 9999 was 2025-02-21, 1000 again on
#: 2025-02-22, so 9999 falls on 2049-10-13 and 1000 comes back on 2049-10-14 (press
#: articles call 2049-10-13 "the next restart"; it is the last day of the cycle).
_CYCLE_DAYS = _FACTOR_MAX - _FACTOR_MIN + 1
#: First day of the first cycle (factor 1000).
_FIRST_CYCLE_START = BOLETO_BASE_DATE + timedelta(days=_FACTOR_MIN)

_BARCODE_LEN = 44
_TYPED_LINE_LEN = 47
_AMOUNT_MAX = 9_999_999_999  # ten digits of centavos

#: Width of the agreement ("convênio") part of :func:`boleto_free_field`.
BOLETO_AGREEMENT_DIGITS = 10
#: Width of the sequence ("nosso número") part of :func:`boleto_free_field`.
BOLETO_SEQUENCE_DIGITS = 25 - BOLETO_AGREEMENT_DIGITS

# Separators people (and bank apps) put in typed lines; anything else is rejected so a
# stray letter is not silently dropped.
_TYPED_LINE_SEPARATORS = re.compile(r"[\s.\-]")


def _require_digits(value: str, length: int, what: str) -> None:
    # isdigit() accepts non-ASCII digits such as "²" or Arabic-Indic ones; boleto codes
    # are strictly ASCII.
    if len(value) != length or not (value.isascii() and value.isdigit()):
        raise ValueError(f"{what} must be exactly {length} ASCII digits, got {value!r}")


@dataclass(frozen=True)
class BoletoFields:
    """The data a boleto barcode carries (everything except the check digit).

    ``due_date`` is ``None`` when the factor is 0000 (no due date). ``amount`` is in
    centavos; 0 means "amount filled in at payment time".
    """

    bank_code: str
    currency_code: str
    due_date: date | None
    amount: int
    free_field: str

    def __post_init__(self) -> None:
        _require_digits(self.bank_code, 3, "bank_code")
        _require_digits(self.currency_code, 1, "currency_code")
        _require_digits(self.free_field, 25, "free_field")
        if isinstance(self.amount, bool) or not 0 <= self.amount <= _AMOUNT_MAX:
            raise ValueError(f"amount must be 0..{_AMOUNT_MAX} centavos, got {self.amount!r}")
        if self.due_date is not None and self.due_date < _FIRST_CYCLE_START:
            raise ValueError(f"due_date must be on or after {_FIRST_CYCLE_START.isoformat()}")


def boleto_due_factor(due: date) -> int:
    """Return the 4-digit due-date factor (1000..9999) for ``due``.

    Days since 1997-10-07, wrapping from 9999 back to 1000 every 9000 days
    (2025-02-21 -> 9999, 2025-02-22 -> 1000). Dates before 2000-07-03 (factor 1000 of
    the first cycle) raise ``ValueError``: factors below 1000 are outside the cycle.
    """
    days = (due - BOLETO_BASE_DATE).days
    if days < _FACTOR_MIN:
        raise ValueError(f"due date {due.isoformat()} is before {_FIRST_CYCLE_START}")
    return _FACTOR_MIN + (days - _FACTOR_MIN) % _CYCLE_DAYS


def boleto_factor_to_date(factor: int, today: date) -> date:
    """Return the date with this factor that is nearest to ``today``.

    A factor names one date per 9000-day cycle; the payer's "now" disambiguates. On an
    exact tie (4500 days either way) the later date wins, since boletos are issued for
    the future. Raises :class:`InvalidPaymentCode` for factors outside 1000..9999
    (0000 means "no due date" and is handled by :func:`boleto_parse_barcode`).
    """
    if isinstance(factor, bool) or not _FACTOR_MIN <= factor <= _FACTOR_MAX:
        raise InvalidPaymentCode(f"due-date factor must be 1000..9999, got {factor!r}")
    first = _FIRST_CYCLE_START + timedelta(days=factor - _FACTOR_MIN)
    centre = max(0, round((today - first).days / _CYCLE_DAYS))
    candidates: list[date] = []
    for cycle in (centre - 1, centre, centre + 1):
        if cycle < 0:
            continue
        try:
            candidates.append(first + timedelta(days=cycle * _CYCLE_DAYS))
        except OverflowError:  # beyond date.max: that cycle does not exist
            continue
    return min(candidates, key=lambda d: (abs((d - today).days), -d.toordinal()))


def mod10(digits: str) -> str:
    """FEBRABAN modulo-10 check digit (typed-line fields).

    Weights 2, 1, 2, 1 ... from the rightmost digit; two-digit products contribute the
    sum of their digits; the check digit is ``(10 - total % 10) % 10``.
    """
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"mod10 needs ASCII digits, got {digits!r}")
    total = 0
    for position, char in enumerate(reversed(digits)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def boleto_check_digit(barcode43: str) -> str:
    """General check digit of a barcode, given its other 43 digits in order.

    Modulo 11 with weights 2..9 repeating from the right; ``11 - total % 11``, where
    results 0, 1, 10 and 11 become "1" (the digit 0 is never used in this position).
    """
    _require_digits(barcode43, _BARCODE_LEN - 1, "barcode without check digit")
    total = 0
    for position, char in enumerate(reversed(barcode43)):
        total += int(char) * (2 + position % 8)
    digit = 11 - total % 11
    return "1" if digit in (0, 1, 10, 11) else str(digit)


def _without_check_digit(barcode: str) -> str:
    return barcode[:4] + barcode[5:]


def _validated_barcode(barcode: str) -> str:
    if len(barcode) != _BARCODE_LEN or not (barcode.isascii() and barcode.isdigit()):
        raise InvalidPaymentCode(f"a boleto barcode is 44 digits, got {barcode!r}")
    if barcode[4] != boleto_check_digit(_without_check_digit(barcode)):
        raise InvalidPaymentCode("boleto barcode check digit does not match")
    return barcode


def boleto_barcode(fields: BoletoFields) -> str:
    """Assemble the 44-digit barcode (with its mod-11 check digit) from ``fields``."""
    factor = 0 if fields.due_date is None else boleto_due_factor(fields.due_date)
    body = (
        f"{fields.bank_code}{fields.currency_code}{factor:04d}"
        f"{fields.amount:010d}{fields.free_field}"
    )
    return body[:4] + boleto_check_digit(body) + body[4:]


def boleto_typed_line(barcode: str) -> str:
    """Return the 47-digit typed line for a barcode (digits only, no punctuation).

    Raises :class:`InvalidPaymentCode` if the barcode is malformed or its check digit
    is wrong, so an invalid barcode never reaches a debtor as a typed line.
    """
    bar = _validated_barcode(barcode)
    field1 = bar[0:4] + bar[19:24]
    field2 = bar[24:34]
    field3 = bar[34:44]
    return (
        field1
        + mod10(field1)
        + field2
        + mod10(field2)
        + field3
        + mod10(field3)
        + bar[4]
        + bar[5:19]
    )


def _clean_typed_line(line: str) -> str:
    digits = _TYPED_LINE_SEPARATORS.sub("", line)
    if len(digits) != _TYPED_LINE_LEN or not (digits.isascii() and digits.isdigit()):
        raise InvalidPaymentCode(f"a boleto typed line is 47 digits, got {line!r}")
    return digits


def boleto_barcode_from_typed_line(line: str) -> str:
    """Rebuild the 44-digit barcode from a typed line, verifying every check digit.

    Spaces, dots and hyphens are ignored; any other non-digit, a wrong length, a wrong
    field check digit or a wrong general check digit raises :class:`InvalidPaymentCode`.
    """
    digits = _clean_typed_line(line)
    for start, end in ((0, 9), (10, 20), (21, 31)):
        if digits[end] != mod10(digits[start:end]):
            raise InvalidPaymentCode(f"typed line check digit at position {end + 1} is wrong")
    barcode = digits[0:4] + digits[32] + digits[33:47] + digits[4:9] + digits[10:20]
    barcode += digits[21:31]
    return _validated_barcode(barcode)


def boleto_format_typed_line(line: str) -> str:
    """Human form ``AAAAA.AAAAA BBBBB.BBBBBB CCCCC.CCCCCC D EEEEEEEEEEEEEE``.

    The line is validated first (same rules as :func:`boleto_barcode_from_typed_line`),
    so a mistyped line is never shown to a payer as if it were good.
    """
    digits = _clean_typed_line(line)
    boleto_barcode_from_typed_line(digits)
    return (
        f"{digits[0:5]}.{digits[5:10]} {digits[10:15]}.{digits[15:21]} "
        f"{digits[21:26]}.{digits[26:32]} {digits[32]} {digits[33:47]}"
    )


def boleto_parse_barcode(barcode: str, today: date) -> BoletoFields:
    """Split a 44-digit barcode into :class:`BoletoFields`, checking its check digit.

    Factor 0000 gives ``due_date=None``; other factors resolve to the date nearest
    ``today`` (see :func:`boleto_factor_to_date`). Surrounding whitespace is ignored.
    """
    bar = _validated_barcode(barcode.strip())
    factor = int(bar[5:9])
    due = None if factor == 0 else boleto_factor_to_date(factor, today)
    return BoletoFields(
        bank_code=bar[0:3],
        currency_code=bar[3],
        due_date=due,
        amount=int(bar[9:19]),
        free_field=bar[19:44],
    )


def boleto_free_field(agreement: str, sequence: int) -> str:
    """Build a 25-digit free field: agreement (10 digits) then sequence (15 digits).

    Layout (Parley's own, documented here; each bank defines its own free-field layout,
    so check it against the bank's contract before registering real boletos)::

        positions 1-10   agreement number, digits only, left zero-padded
        positions 11-25  sequence ("nosso número"), left zero-padded

    Raises ``ValueError`` if the agreement is empty, not digits, or longer than
    :data:`BOLETO_AGREEMENT_DIGITS`, or the sequence is negative or does not fit in
    :data:`BOLETO_SEQUENCE_DIGITS` digits.
    """
    if not agreement or not (agreement.isascii() and agreement.isdigit()):
        raise ValueError(f"agreement must be ASCII digits, got {agreement!r}")
    if len(agreement) > BOLETO_AGREEMENT_DIGITS:
        raise ValueError(f"agreement has more than {BOLETO_AGREEMENT_DIGITS} digits")
    if isinstance(sequence, bool) or not 0 <= sequence < 10**BOLETO_SEQUENCE_DIGITS:
        raise ValueError(f"sequence must fit in {BOLETO_SEQUENCE_DIGITS} digits")
    return agreement.zfill(BOLETO_AGREEMENT_DIGITS) + str(sequence).zfill(BOLETO_SEQUENCE_DIGITS)


# ----------------------------------------------------------------------------- PIX

_PIX_GUI = "br.gov.bcb.pix"
_PIX_NAME_MAX = 25
_PIX_CITY_MAX = 15
_PIX_TXID = re.compile(r"[A-Za-z0-9]{1,25}")
# Per the BR Code manual the key is at most 77 characters: the 26 template holds at most
# 99, of which "0014br.gov.bcb.pix" and the "01LL" header take 22.
_PIX_KEY_MAX = 99 - (4 + len(_PIX_GUI)) - 4
# EMV templates whose values are themselves TLV lists: merchant account information
# (26-51), additional data (62), language template (64) and unreserved templates (80-99).
_EMV_TEMPLATE_IDS = frozenset(
    [f"{n:02d}" for n in range(26, 52)] + ["62", "64"] + [f"{n:02d}" for n in range(80, 100)]
)
_PIX_MANDATORY_IDS = ("00", "52", "53", "58", "59", "60", "63")


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no
    final XOR (check value for ``b"123456789"`` is 0x29B1)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"EMV field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def _plain_ascii(text: str, limit: int, what: str) -> str:
    # BR Code text fields are restricted to printable ASCII; bank apps reject or mangle
    # accents, so fold them ("São Paulo" -> "Sao Paulo") and drop whatever cannot fold.
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if " " <= c <= "~")
    collapsed = " ".join(kept.split())
    result = collapsed[:limit].rstrip()
    if not result:
        raise ValueError(f"PIX {what} is empty after removing unsupported characters")
    return result


def pix_payload(
    *,
    key: str,
    name: str,
    city: str,
    amount: int | None,
    txid: str,
    currency: str = "986",
) -> str:
    """Build a static PIX BR Code ("copia e cola") string.

    Fields in order: 00 "01"; 26 {00 br.gov.bcb.pix, 01 key}; 52 "0000"; 53 currency;
    54 amount as "123.45" (omitted when ``amount`` is None); 58 "BR"; 59 name (accents
    folded, truncated to 25); 60 city (accents folded, truncated to 15); 62 {05 txid,
    "***" when empty}; 63 CRC-16/CCITT-FALSE as 4 upper-case hex digits.

    ``amount`` is in centavos and must be positive. ``txid`` must be 1-25 ASCII letters
    or digits (or empty): it is the reconciliation handle, so it is never truncated.
    Raises ``ValueError`` on invalid input.
    """
    if not key or not key.isascii() or not key.isprintable() or len(key) > _PIX_KEY_MAX:
        raise ValueError(f"PIX key must be 1-{_PIX_KEY_MAX} printable ASCII characters")
    if len(currency) != 3 or not (currency.isascii() and currency.isdigit()):
        raise ValueError(f"currency must be a 3-digit ISO 4217 code, got {currency!r}")
    if txid and not _PIX_TXID.fullmatch(txid):
        raise ValueError(f"txid must be 1-25 ASCII letters or digits, got {txid!r}")
    parts = [
        _tlv("00", "01"),
        _tlv("26", _tlv("00", _PIX_GUI) + _tlv("01", key)),
        _tlv("52", "0000"),
        _tlv("53", currency),
    ]
    if amount is not None:
        if isinstance(amount, bool) or amount <= 0:
            raise ValueError(f"amount must be a positive number of centavos, got {amount!r}")
        parts.append(_tlv("54", f"{amount // 100}.{amount % 100:02d}"))
        if len(parts[-1]) > 4 + 13:  # EMV limits the amount to 13 characters
            raise ValueError("amount is too large for a BR Code")
    parts += [
        _tlv("58", "BR"),
        _tlv("59", _plain_ascii(name, _PIX_NAME_MAX, "name")),
        _tlv("60", _plain_ascii(city, _PIX_CITY_MAX, "city")),
        _tlv("62", _tlv("05", txid or "***")),
        "6304",
    ]
    body = "".join(parts)
    return body + f"{crc16_ccitt_false(body.encode('ascii')):04X}"


def _parse_tlv(text: str, context: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        header = text[pos : pos + 4]
        if len(header) < 4 or not (header.isascii() and header.isdigit()):
            raise InvalidPaymentCode(f"malformed TLV header {header!r} in {context}")
        length = int(header[2:])
        value = text[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise InvalidPaymentCode(f"field {header[:2]} in {context} runs past the end")
        fields.append((header[:2], value))
        pos += 4 + length
    return fields


def pix_parse(payload: str) -> dict[str, str]:
    """Parse a BR Code payload and verify its CRC.

    Returns every top-level field by its two-digit ID (raw value, e.g. ``"54"`` ->
    ``"123.45"``) plus, for template fields (26-51, 62, 64, 80-99), each sub-field as
    ``"ID.SUB"`` (e.g. ``"26.01"`` is the PIX key, ``"62.05"`` the txid).

    Raises :class:`InvalidPaymentCode` when the TLV structure is broken, an ID repeats,
    the payload does not start with 00="01" or end with the 63 CRC field, the CRC does
    not match, a mandatory field (52, 53, 58, 59, 60) is missing, or no merchant account
    template carries the ``br.gov.bcb.pix`` identifier.
    """
    text = payload.strip()
    if len(text) < 8 or text[-8:-4] != "6304":
        raise InvalidPaymentCode("BR Code must end with the CRC field 6304XXXX")
    try:
        declared = int(text[-4:], 16)
    except ValueError:
        raise InvalidPaymentCode("BR Code CRC is not hexadecimal") from None
    if crc16_ccitt_false(text[:-4].encode("utf-8")) != declared:
        raise InvalidPaymentCode("BR Code CRC does not match")

    result: dict[str, str] = {}
    fields = _parse_tlv(text, "payload")
    for tag, value in fields:
        if tag in result:
            raise InvalidPaymentCode(f"field {tag} appears twice")
        result[tag] = value
        if tag in _EMV_TEMPLATE_IDS:
            for sub, sub_value in _parse_tlv(value, f"template {tag}"):
                if f"{tag}.{sub}" in result:
                    raise InvalidPaymentCode(f"field {tag}.{sub} appears twice")
                result[f"{tag}.{sub}"] = sub_value
    if fields[0] != ("00", "01"):
        raise InvalidPaymentCode("BR Code must start with 000201")
    if fields[-1][0] != "63":
        raise InvalidPaymentCode("the CRC field 63 must be last")
    missing = [tag for tag in _PIX_MANDATORY_IDS if tag not in result]
    if missing:
        raise InvalidPaymentCode(f"mandatory BR Code fields missing: {', '.join(missing)}")
    if not any(result.get(f"{n:02d}.00", "").lower() == _PIX_GUI for n in range(26, 52)):
        raise InvalidPaymentCode("no merchant account template with br.gov.bcb.pix")
    return result


# ------------------------------------------------------------------ reference codes

# ISO/IEC 7064 MOD 37-2: a pure system with prime modulus 37 over the alphabet 0-9A-Z,
# the check character drawn from 0-9A-Z plus "*". Because 37 is prime and the weights
# are successive powers of 2 (never 0 mod 37, and adjacent weights differ by a factor of
# 2), every single substitution and every adjacent transposition changes the checksum.
# The hybrid MOD 37,36 (no "*") was rejected: it misses some adjacent transpositions.
_REF_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
_REF_MODULUS = 37
_REF_SEQUENCE_MIN_DIGITS = 8
_REF_PREFIX = re.compile(r"[0-9A-Z]{1,6}")
_REF_SHAPE = re.compile(r"[0-9A-Z]{1,6}[0-9]{8,}[0-9A-Z*]")


def _mod37_2_checksum(text: str) -> int:
    total = 0
    for char in text:
        total = (total * 2 + _REF_ALPHABET.index(char)) % _REF_MODULUS
    return total


def reference_code(prefix: str, sequence: int) -> str:
    """Return ``prefix`` + sequence (zero-padded to at least 8 digits) + check character.

    ``prefix`` is the creditor's 1-6 upper-case letters/digits. The check character is
    ISO/IEC 7064 MOD 37-2 over the whole string, so it is 0-9, A-Z or "*". Example:
    ``reference_code("ACME", 42)`` -> ``"ACME00000042"`` + check.
    """
    if not _REF_PREFIX.fullmatch(prefix):
        raise ValueError(f"prefix must be 1-6 upper-case letters or digits, got {prefix!r}")
    if isinstance(sequence, bool) or sequence < 0:
        raise ValueError(f"sequence must be a non-negative integer, got {sequence!r}")
    body = prefix + str(sequence).zfill(_REF_SEQUENCE_MIN_DIGITS)
    # Append the character c that makes (2 * checksum(body) + c) % 37 == 1.
    check = (1 - 2 * _mod37_2_checksum(body)) % _REF_MODULUS
    return body + _REF_ALPHABET[check]


def reference_is_valid(code: str) -> bool:
    """True if ``code`` has the reference shape and its MOD 37-2 check character holds.

    Surrounding whitespace and lower case are tolerated (debtors type these by hand).
    Note: when the prefix ends in digits, prefix and sequence cannot be told apart from
    the code alone; validity does not depend on where the boundary is.
    """
    normalized = code.strip().upper()
    if not _REF_SHAPE.fullmatch(normalized):
        return False
    return _mod37_2_checksum(normalized) == 1
