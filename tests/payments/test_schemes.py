"""Tests for app.payments.schemes and app.payments.rendering.

Published vectors are cited next to each one (repository and file). Everything else is
checked with properties: round trips, every check digit, and error detection.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from app.payments.rendering import barcode_png, barcode_svg, qr_png, qr_svg
from app.payments.schemes import (
    BoletoFields,
    InvalidPaymentCode,
    boleto_barcode,
    boleto_barcode_from_typed_line,
    boleto_check_digit,
    boleto_due_factor,
    boleto_factor_to_date,
    boleto_format_typed_line,
    boleto_free_field,
    boleto_parse_barcode,
    boleto_typed_line,
    crc16_ccitt_false,
    mod10,
    pix_parse,
    pix_payload,
    reference_code,
    reference_is_valid,
)

MAX_RENDER_BYTES = 500 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# --------------------------------------------------------------- boleto: published

# (barcode, typed line as published, fields, a "today" near the due date)
PUBLISHED_BOLETOS = [
    pytest.param(
        # eduardocereto/pyboleto tests/test_banco_do_brasil.py (due 2011-03-08, 2952.95)
        "00196490000002952950000007777777000008765418",
        "00190.00009 07777.777009 00087.654182 6 49000000295295",
        BoletoFields("001", "9", date(2011, 3, 8), 295295, "0000007777777000008765418"),
        date(2011, 3, 1),
        id="pyboleto-bb",
    ),
    pytest.param(
        # eduardocereto/pyboleto tests/test_banco_itau.py (due 2009-10-19, 29.80)
        "34199439500000029801090000015710293013280000",
        "34191.09008 00015.710296 30132.800001 9 43950000002980",
        BoletoFields("341", "9", date(2009, 10, 19), 2980, "1090000015710293013280000"),
        date(2009, 10, 19),
        id="pyboleto-itau",
    ),
    pytest.param(
        # eduardokum/laravel-boleto tests/UtilTest.php (testFuncaoLinhaDigitavel and
        # testFuncaoFormatarLinhaDigitavel); the date is factor 9536 decoded by us.
        "75691953600000100001111101012312300000016001",
        "75691.11110 01012.312300 00000.160010 1 95360000010000",
        BoletoFields("756", "9", date(2023, 11, 16), 10000, "1111101012312300000016001"),
        date(2024, 1, 1),
        id="laravel-boleto-sicoob",
    ),
    pytest.param(
        # mrmgomes/boleto-utils test/test.js (Caixa, due 2022-05-10, 214.03). That file
        # also claims factor 8981 means 2049-09-25 after the restart: it adds 10000 days
        # instead of 9000 (see test_factor_after_restart_is_9000_days_later).
        "10499898100000214032006561000100040099726390",
        "10492006506100010004200997263900989810000021403",
        BoletoFields("104", "9", date(2022, 5, 10), 21403, "2006561000100040099726390"),
        date(2022, 5, 1),
        id="boleto-utils-caixa",
    ),
    pytest.param(
        # mrmgomes/boleto-utils test/test.js (credit-card boleto: factor 0000, amount 0)
        "23797000000000000004150090019801673500021140",
        "23794150099001980167035000211405700000000000000",
        BoletoFields("237", "9", None, 0, "4150090019801673500021140"),
        date(2026, 1, 1),
        id="boleto-utils-no-due-date",
    ),
]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.mark.parametrize(("barcode", "line", "fields", "today"), PUBLISHED_BOLETOS)
def test_published_boleto_round_trips(
    barcode: str, line: str, fields: BoletoFields, today: date
) -> None:
    assert boleto_barcode(fields) == barcode
    assert boleto_typed_line(barcode) == _digits(line)
    assert boleto_barcode_from_typed_line(line) == barcode
    assert boleto_barcode_from_typed_line(_digits(line)) == barcode
    assert boleto_parse_barcode(barcode, today) == fields
    formatted = boleto_format_typed_line(line)
    assert _digits(formatted) == _digits(line)
    if " " in line:  # published in human form: ours must be identical
        assert formatted == line


def test_format_typed_line_shape() -> None:
    formatted = boleto_format_typed_line("75691111100101231230000000160010195360000010000")
    assert re.fullmatch(r"\d{5}\.\d{5} \d{5}\.\d{6} \d{5}\.\d{6} \d \d{14}", formatted)


@pytest.mark.parametrize(
    ("barcode43", "digit"),
    [
        # Romulosanttos/gerar-boletos tests/boleto/gerador-de-digito-padrao-test.js
        ("0019386000000040000000001207113000900020618", "5"),
        ("2379316800000001002949060000000000300065800", "6"),
        ("3999100100001200000351202000003910476618602", "3"),
        ("3999597400000001002461722000000001934404542", "1"),
    ],
)
def test_published_general_check_digits(barcode43: str, digit: str) -> None:
    assert boleto_check_digit(barcode43) == digit


@pytest.mark.parametrize(
    ("digits", "digit"),
    [
        # Romulosanttos/gerar-boletos tests/boleto/gerador-de-digito-padrao-test.js
        ("237929490", "9"),
        ("6000000000", "4"),
        ("0300065800", "9"),
        ("399903512", "8"),
        # eduardokum/laravel-boleto tests/UtilTest.php (testModulos)
        ("123456789", "7"),
    ],
)
def test_published_mod10(digits: str, digit: str) -> None:
    assert mod10(digits) == digit


def test_check_digit_maps_0_1_10_11_to_1() -> None:
    # Find bodies whose raw result 11 - sum % 11 is 10 and 11 (remainders 1 and 0).
    seen: set[int] = set()
    for n in range(200):
        body = f"{n:043d}"
        total = sum(int(c) * (2 + i % 8) for i, c in enumerate(reversed(body)))
        seen.add(total % 11)
        if total % 11 in (0, 1, 10):
            assert boleto_check_digit(body) == "1"
        else:
            assert boleto_check_digit(body) == str(11 - total % 11)
    assert {0, 1, 10} <= seen


# ------------------------------------------------------------- boleto: due factor


@pytest.mark.parametrize(
    ("due", "factor"),
    [
        # BoletoNet/boleto2net Boleto2.Net.Testes/FatorVencimento.cs
        (date(2025, 2, 22), 1000),
        (date(2025, 2, 23), 1001),
        (date(2014, 1, 18), 5947),
        (date(2014, 3, 12), 6000),
        (date(2017, 1, 21), 7046),
        (date(2025, 2, 21), 9999),
        # eduardokum/laravel-boleto tests/UtilTest.php (testDatas)
        (date(2016, 12, 25), 7019),
        # FEBRABAN "Manual Operacional do Fator de Vencimento" v01 (2012) table
        (date(2000, 7, 3), 1000),
        (date(2000, 7, 4), 1001),
        (date(2012, 4, 27), 5316),
        (date(2025, 2, 20), 9998),
        # Computed from the rule (9000-day cycle), not published: end of cycle 2 and
        # the start of cycle 3.
        (date(2049, 10, 13), 9999),
        (date(2049, 10, 14), 1000),
    ],
)
def test_due_factor(due: date, factor: int) -> None:
    assert boleto_due_factor(due) == factor
    # Decoding from the due date itself, or a month either side, gives it back.
    for delta in (-31, 0, 31):
        assert boleto_factor_to_date(factor, due + timedelta(days=delta)) == due


def test_due_factor_rejects_dates_before_the_cycle() -> None:
    with pytest.raises(ValueError):
        boleto_due_factor(date(2000, 7, 2))


def test_factor_to_date_picks_nearest_cycle() -> None:
    assert boleto_factor_to_date(1000, date(2010, 1, 1)) == date(2000, 7, 3)
    assert boleto_factor_to_date(1000, date(2025, 3, 1)) == date(2025, 2, 22)
    assert boleto_factor_to_date(9999, date(2025, 3, 1)) == date(2025, 2, 21)
    # An old factor read today means the next cycle once the old date is > 4500 days
    # away: factor 4900 (2011-03-08) read in 2026 is 2035-10-28.
    assert boleto_factor_to_date(4900, date(2026, 1, 1)) == date(2035, 10, 28)


def test_factor_after_restart_is_9000_days_later() -> None:
    first = boleto_factor_to_date(8981, date(2022, 5, 1))
    second = boleto_factor_to_date(8981, date(2046, 12, 1))
    assert first == date(2022, 5, 10)
    assert second == date(2046, 12, 30)
    assert (second - first).days == 9000


def test_factor_to_date_tie_prefers_the_later_date() -> None:
    d1 = date(2010, 1, 1)
    factor = boleto_due_factor(d1)
    midpoint = d1 + timedelta(days=4500)
    assert boleto_factor_to_date(factor, midpoint) == d1 + timedelta(days=9000)
    assert boleto_factor_to_date(factor, midpoint - timedelta(days=1)) == d1


@pytest.mark.parametrize("factor", [0, 1, 999, 10000, -1])
def test_factor_to_date_rejects_out_of_range(factor: int) -> None:
    with pytest.raises(InvalidPaymentCode):
        boleto_factor_to_date(factor, date(2026, 1, 1))


@given(
    due=st.dates(min_value=date(2000, 7, 3), max_value=date(2199, 12, 31)),
    offset=st.integers(min_value=-4499, max_value=4499),
)
def test_factor_round_trip_within_half_a_cycle(due: date, offset: int) -> None:
    factor = boleto_due_factor(due)
    assert 1000 <= factor <= 9999
    assert boleto_factor_to_date(factor, due + timedelta(days=offset)) == due


# --------------------------------------------------------------- boleto: errors


def _with_valid_check_digit(body43: str) -> str:
    return body43[:4] + boleto_check_digit(body43) + body43[4:]


def test_parse_rejects_factor_below_1000() -> None:
    barcode = _with_valid_check_digit("0019" + "0500" + "0000001000" + "0" * 25)
    with pytest.raises(InvalidPaymentCode):
        boleto_parse_barcode(barcode, date(2026, 1, 1))


@pytest.mark.parametrize(
    "barcode",
    [
        "00196490000002952950000007777777000008765419",  # wrong free field digit
        "00195490000002952950000007777777000008765418",  # wrong check digit
        "0019649000000295295000000777777700000876541",  # 43 digits
        "0019649000000295295000000777777700000876541X",
        "",
    ],
)
def test_bad_barcodes_are_rejected(barcode: str) -> None:
    with pytest.raises(InvalidPaymentCode):
        boleto_parse_barcode(barcode, date(2011, 3, 1))
    with pytest.raises(InvalidPaymentCode):
        boleto_typed_line(barcode)


@pytest.mark.parametrize(
    "line",
    [
        "00190.00009 07777.777009 00087.654182 6 4900000029529",  # 46 digits
        "00190.00009 07777.777009 00087.654182 6 490000002952950",  # 48 digits
        "00190.0000A 07777.777009 00087.654182 6 49000000295295",  # letter
        "00190/00009 07777.777009 00087.654182 6 49000000295295",  # odd separator
        "00190.00008 07777.777009 00087.654182 6 49000000295295",  # field 1 DV
        "00190.00009 07777.777008 00087.654182 6 49000000295295",  # field 2 DV
        "00190.00009 07777.777009 00087.654181 6 49000000295295",  # field 3 DV
        "00190.00009 07777.777009 00087.654182 7 49000000295295",  # general DV
        "00190.00009 07777.777009 00087.654182 6 49000000295296",  # amount
    ],
)
def test_bad_typed_lines_are_rejected(line: str) -> None:
    with pytest.raises(InvalidPaymentCode):
        boleto_barcode_from_typed_line(line)
    with pytest.raises(InvalidPaymentCode):
        boleto_format_typed_line(line)


def test_typed_line_accepts_hyphens_and_newlines() -> None:
    line = "00190.00009-07777.777009\n00087.654182  6  49000000295295 "
    assert boleto_barcode_from_typed_line(line) == "00196490000002952950000007777777000008765418"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bank_code": "01"},
        {"bank_code": "0a1"},
        {"currency_code": "99"},
        {"amount": -1},
        {"amount": 10_000_000_000},
        {"free_field": "1" * 24},
        {"free_field": "１" * 25},  # full-width digits are not ASCII
        {"due_date": date(2000, 7, 2)},
    ],
)
def test_boleto_fields_validate(kwargs: dict[str, Any]) -> None:
    base = BoletoFields("001", "9", date(2025, 3, 1), 100, "0" * 25)
    with pytest.raises(ValueError):
        replace(base, **kwargs)


def test_free_field_layout() -> None:
    assert boleto_free_field("1234567", 42) == "0001234567" + "000000000000042"
    assert boleto_free_field("9" * 10, 10**15 - 1) == "9" * 25
    assert len(boleto_free_field("1", 0)) == 25


@pytest.mark.parametrize(
    ("agreement", "sequence"),
    [("", 1), ("12345678901", 1), ("12a", 1), ("1", -1), ("1", 10**15), ("١٢", 1)],
)
def test_free_field_rejects_what_does_not_fit(agreement: str, sequence: int) -> None:
    with pytest.raises(ValueError):
        boleto_free_field(agreement, sequence)


# ------------------------------------------------------------- boleto: properties

boleto_fields = st.builds(
    BoletoFields,
    bank_code=st.from_regex(r"\A[0-9]{3}\Z"),
    currency_code=st.sampled_from(["9", "0"]),
    due_date=st.none() | st.dates(min_value=date(2000, 7, 3), max_value=date(2099, 12, 31)),
    amount=st.integers(min_value=0, max_value=9_999_999_999),
    free_field=st.from_regex(r"\A[0-9]{25}\Z"),
)


@given(boleto_fields)
def test_generated_boleto_round_trips(fields: BoletoFields) -> None:
    barcode = boleto_barcode(fields)
    assert len(barcode) == 44
    assert barcode.isdigit()
    line = boleto_typed_line(barcode)
    assert len(line) == 47
    assert boleto_barcode_from_typed_line(line) == barcode
    assert boleto_barcode_from_typed_line(boleto_format_typed_line(line)) == barcode
    today = fields.due_date or date(2026, 1, 1)
    assert boleto_parse_barcode(barcode, today) == fields


@given(boleto_fields)
def test_every_check_digit_verifies(fields: BoletoFields) -> None:
    barcode = boleto_barcode(fields)
    line = boleto_typed_line(barcode)
    assert barcode[4] == boleto_check_digit(barcode[:4] + barcode[5:])
    assert barcode[4] != "0"
    assert line[9] == mod10(line[0:9])
    assert line[20] == mod10(line[10:20])
    assert line[31] == mod10(line[21:31])
    assert line[32] == barcode[4]


@given(boleto_fields)
def test_single_digit_change_in_typed_line_is_detected(fields: BoletoFields) -> None:
    line = boleto_typed_line(boleto_barcode(fields))
    for position, original in enumerate(line):
        for replacement in "0123456789":
            if replacement == original:
                continue
            changed = line[:position] + replacement + line[position + 1 :]
            try:
                boleto_barcode_from_typed_line(changed)
            except InvalidPaymentCode:
                continue
            # Only the FEBRABAN mod-11 blind spot may let a change through: a digit of
            # field 5 (factor/amount) whose change keeps the general DV at "1", because
            # remainders 0, 1 and 10 all map to "1". Fields 1-4 are always covered.
            assert position >= 33, (changed, position)
            assert line[32] == "1"


def test_the_mod11_blind_spot_exists() -> None:
    # Documents the limitation asserted above with a concrete case: this barcode's
    # general DV is "1"; changing one amount digit keeps it "1".
    fields = BoletoFields("001", "9", date(2026, 1, 1), 0, "0" * 25)
    undetected = []
    for amount in range(1, 1000):
        barcode = boleto_barcode(replace(fields, amount=amount))
        if barcode[4] != "1":
            continue
        line = boleto_typed_line(barcode)
        for position in range(33, 47):
            for digit in "0123456789":
                changed = line[:position] + digit + line[position + 1 :]
                if changed == line:
                    continue
                try:
                    boleto_barcode_from_typed_line(changed)
                except InvalidPaymentCode:
                    continue
                undetected.append(changed)
        if undetected:
            break
    assert undetected


# ----------------------------------------------------------------------------- PIX

# Banco Central do Brasil, "Manual de Padrões para Iniciação do Pix" (BR Code manual),
# static QR example; also reproduced in e.g. tests of open-source BR Code libraries.
BCB_MANUAL_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
# eduardokum/laravel-boleto tests/UtilTest.php (testFuncaoDecodePixCopiaECola): has the
# optional 01 field and a txid with hyphens, which our builder does not emit.
LARAVEL_PIX = (
    "00020101021226370014br.gov.bcb.pix0115teste@teste.com52040000530398654031005802BR"
    "5914NOME_DA_PESSOA6006CIDADE62160512id-transacao6304DA67"
)


def test_crc16_ccitt_false_check_value() -> None:
    # The catalogue check value of CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740).
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


def test_pix_payload_reproduces_the_central_bank_example() -> None:
    payload = pix_payload(
        key="123e4567-e12b-12d1-a456-426655440000",
        name="Fulano de Tal",
        city="BRASILIA",
        amount=None,
        txid="",
    )
    assert payload == BCB_MANUAL_EXAMPLE
    assert payload.endswith("1D3D")


def test_pix_parse_central_bank_example() -> None:
    parsed = pix_parse(BCB_MANUAL_EXAMPLE)
    assert parsed["26.00"] == "br.gov.bcb.pix"
    assert parsed["26.01"] == "123e4567-e12b-12d1-a456-426655440000"
    assert parsed["59"] == "Fulano de Tal"
    assert parsed["60"] == "BRASILIA"
    assert parsed["62.05"] == "***"
    assert parsed["63"] == "1D3D"
    assert "54" not in parsed


def test_pix_parse_published_laravel_payload() -> None:
    parsed = pix_parse(LARAVEL_PIX)
    assert parsed["01"] == "12"
    assert parsed["26.01"] == "teste@teste.com"
    assert parsed["54"] == "100"
    assert parsed["62.05"] == "id-transacao"
    assert parsed["63"] == "DA67"


def test_pix_payload_with_amount_accents_and_truncation() -> None:
    payload = pix_payload(
        key="+5511999998888",
        name="Cobrança Ação São João Comércio Ltda",
        city="São José dos Campos",
        amount=12345,
        txid="PARLEY0001",
    )
    parsed = pix_parse(payload)
    assert parsed["54"] == "123.45"
    assert parsed["59"] == "Cobranca Acao Sao Joao Co"  # 25 characters
    assert parsed["60"] == "Sao Jose dos Ca"  # 15 characters
    assert parsed["62.05"] == "PARLEY0001"
    assert parsed["53"] == "986"
    assert parsed["58"] == "BR"
    assert payload.isascii()
    assert re.fullmatch(r"[0-9A-F]{4}", payload[-4:])


@pytest.mark.parametrize(("amount", "text"), [(1, "0.01"), (100, "1.00"), (123456, "1234.56")])
def test_pix_amount_format(amount: int, text: str) -> None:
    payload = pix_payload(key="k@example.com", name="A", city="B", amount=amount, txid="T1")
    assert f"54{len(text):02d}{text}" in payload
    assert pix_parse(payload)["54"] == text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"txid": "id-transacao"},  # hyphen: not alphanumeric
        {"txid": "A" * 26},
        {"amount": 0},
        {"amount": -5},
        {"amount": 10**13},
        {"name": "   "},
        {"city": "😀"},
        {"key": ""},
        {"key": "x" * 78},
        {"key": "josé@example.com"},
        {"currency": "BRL"},
    ],
)
def test_pix_payload_rejects_bad_input(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "key": "k@example.com",
        "name": "Parley",
        "city": "Recife",
        "amount": 100,
        "txid": "ABC",
    }
    args.update(kwargs)
    with pytest.raises(ValueError):
        pix_payload(**args)


def test_pix_key_of_77_characters_fits() -> None:
    payload = pix_payload(key="x" * 77, name="A", city="B", amount=None, txid="")
    assert pix_parse(payload)["26.01"] == "x" * 77


def _with_crc(body: str) -> str:
    body += "6304"
    return body + f"{crc16_ccitt_false(body.encode()):04X}"


@pytest.mark.parametrize(
    "payload",
    [
        BCB_MANUAL_EXAMPLE[:-1] + "C",  # wrong CRC
        BCB_MANUAL_EXAMPLE[:-8],  # no CRC field
        BCB_MANUAL_EXAMPLE.replace("Fulano", "Fulana"),  # tampered content
        BCB_MANUAL_EXAMPLE[:-4] + "XYZW",  # CRC not hex
        _with_crc("000201" + "5204000053039865802BR5901A6001B"),  # no 26 template
        _with_crc("000201" + "26180014br.gov.bcb.xyz" + "5204000053039865802BR5901A6001B"),
        _with_crc("000202" + "26180014br.gov.bcb.pix" + "5204000053039865802BR5901A6001B"),
        _with_crc("000201" + "26180014br.gov.bcb.pix" + "52040000530398658025BR5901A6001B"),
        _with_crc("000201" + "26180014br.gov.bcb.pix" + "5204000053039865802BR6001B"),  # no 59
        _with_crc("000201" + "26180014br.gov.bcb.pix" + "52040000520400005802BR5901A6001B"),
        _with_crc("000201" + "26190014br.gov.bcb.pix" + "5204000053039865802BR5901A6001B"),
        "",
    ],
)
def test_pix_parse_rejects_bad_payloads(payload: str) -> None:
    with pytest.raises(InvalidPaymentCode):
        pix_parse(payload)


def test_pix_parse_minimal_valid_payload_helper() -> None:
    # The helper above builds valid payloads; this one differs from the rejects only in
    # being well formed, so each reject really tests what its comment says.
    parsed = pix_parse(
        _with_crc("000201" + "26180014br.gov.bcb.pix" + "5204000053039865802BR5901A6001B")
    )
    assert parsed["26.00"] == "br.gov.bcb.pix"


@given(
    position=st.integers(min_value=0, max_value=len(BCB_MANUAL_EXAMPLE) - 5),
    char=st.characters(min_codepoint=32, max_codepoint=126),
)
def test_pix_single_character_change_is_detected(position: int, char: str) -> None:
    # CRC-16 detects every burst error up to 16 bits, so any one changed character
    # before the CRC value is caught.
    if BCB_MANUAL_EXAMPLE[position] == char:
        return
    changed = BCB_MANUAL_EXAMPLE[:position] + char + BCB_MANUAL_EXAMPLE[position + 1 :]
    with pytest.raises(InvalidPaymentCode):
        pix_parse(changed)


@given(
    key=st.from_regex(r"\A[A-Za-z0-9@.+\-]{1,77}\Z"),
    name=st.text(min_size=1, max_size=40).filter(lambda s: any(c.isalnum() for c in s)),
    amount=st.none() | st.integers(min_value=1, max_value=999_999_999_999),
    txid=st.from_regex(r"\A[A-Za-z0-9]{0,25}\Z"),
)
def test_pix_payload_round_trips(key: str, name: str, amount: int | None, txid: str) -> None:
    try:
        payload = pix_payload(key=key, name=name, city="Recife", amount=amount, txid=txid)
    except ValueError:
        # Only a name made entirely of characters that cannot be folded to ASCII.
        assert not any(c.isascii() and c.isalnum() for c in name)
        return
    parsed = pix_parse(payload)
    assert parsed["26.01"] == key
    assert parsed["62.05"] == (txid or "***")
    assert 1 <= len(parsed["59"]) <= 25
    if amount is None:
        assert "54" not in parsed
    else:
        assert parsed["54"] == f"{amount // 100}.{amount % 100:02d}"


# ----------------------------------------------------------------- reference codes


def test_reference_iso7064_mod37_2_vector() -> None:
    # ISO/IEC 7064 MOD 37-2 example, as in arthurdejong/python-stdnum
    # stdnum/iso7064/mod_37_2.py doctest: check character of G123489654321 is Y.
    assert reference_code("G", 123489654321) == "G123489654321Y"
    assert reference_is_valid("G123489654321Y")
    assert not reference_is_valid("G123489654321X")


def test_reference_format() -> None:
    code = reference_code("ACME", 42)
    assert code.startswith("ACME00000042")
    assert len(code) == 13
    assert reference_is_valid(code)
    assert reference_is_valid(f"  {code.lower()} ")
    assert len(reference_code("A", 123_456_789_012)) == 1 + 12 + 1


@pytest.mark.parametrize(
    ("prefix", "sequence"),
    [("", 1), ("ABCDEFG", 1), ("acme", 1), ("AC-E", 1), ("ÁCME", 1), ("ACME", -1)],
)
def test_reference_code_rejects_bad_input(prefix: str, sequence: int) -> None:
    with pytest.raises(ValueError):
        reference_code(prefix, sequence)


@pytest.mark.parametrize(
    "code",
    ["", "ACME0000004", "ACME0000042", "ACME-00000042X", "ABCDEFG00000042X", "ACME0000004A2X"],
)
def test_reference_is_valid_rejects_bad_shapes(code: str) -> None:
    assert not reference_is_valid(code)


reference_args = st.tuples(
    st.from_regex(r"\A[0-9A-Z]{1,6}\Z"),
    st.integers(min_value=0, max_value=10**12),
)
REF_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"


@given(reference_args)
def test_reference_round_trip_and_single_substitutions(args: tuple[str, int]) -> None:
    prefix, sequence = args
    code = reference_code(prefix, sequence)
    assert reference_is_valid(code)
    assert code[-1] in REF_CHARS
    for position, original in enumerate(code):
        for replacement in REF_CHARS:
            if replacement != original:
                changed = code[:position] + replacement + code[position + 1 :]
                assert not reference_is_valid(changed), changed


@given(reference_args)
def test_reference_adjacent_transpositions_are_detected(args: tuple[str, int]) -> None:
    code = reference_code(*args)
    for position in range(len(code) - 1):
        a, b = code[position], code[position + 1]
        if a != b:
            swapped = code[:position] + b + a + code[position + 2 :]
            assert not reference_is_valid(swapped), swapped


# ------------------------------------------------------------------------ rendering

# Interleaved 2 of 5 digit patterns (N = narrow, W = wide), ISO/IEC 16390.
ITF_PATTERNS = {
    "NNWWN": "0",
    "WNNNW": "1",
    "NWNNW": "2",
    "WWNNN": "3",
    "NNWNW": "4",
    "WNWNN": "5",
    "NWWNN": "6",
    "NNNWW": "7",
    "WNNWN": "8",
    "NWNWN": "9",
}
SAMPLE_BARCODE = "00196490000002952950000007777777000008765418"


def _decode_itf(runs: list[float]) -> str:
    """Decode alternating bar/space widths (starting and ending with a bar)."""
    narrow = min(runs)
    kinds = "".join("W" if width > 2 * narrow else "N" for width in runs)
    assert kinds[:4] == "NNNN", kinds[:4]  # start: narrow bar, space, bar, space
    assert kinds[-3:] == "WNN", kinds[-3:]  # stop: wide bar, narrow space, narrow bar
    body = kinds[4:-3]
    assert len(body) % 10 == 0
    digits = []
    for i in range(0, len(body), 10):
        pair = body[i : i + 10]
        digits.append(ITF_PATTERNS[pair[0::2]])  # bars carry the first digit
        digits.append(ITF_PATTERNS[pair[1::2]])  # spaces carry the second
    return "".join(digits)


def _png_row_runs(png: bytes, y_fraction: float) -> list[float]:
    with Image.open(io.BytesIO(png)) as image:
        gray = image.convert("L")
        y = int(gray.height * y_fraction)
        row = gray.crop((0, y, gray.width, y + 1)).tobytes()
    dark = [value < 128 for value in row]
    runs: list[tuple[bool, int]] = []
    for is_dark in dark:
        if runs and runs[-1][0] == is_dark:
            runs[-1] = (is_dark, runs[-1][1] + 1)
        else:
            runs.append((is_dark, 1))
    # Drop the quiet zones.
    while runs and not runs[0][0]:
        runs.pop(0)
    while runs and not runs[-1][0]:
        runs.pop()
    return [float(width) for _, width in runs]


def _svg_bar_runs(svg: bytes) -> list[float]:
    rects = re.findall(
        rb'<rect x="([\d.]+)mm" y="[\d.]+mm" width="([\d.]+)mm" height="[\d.]+mm" '
        rb'style="fill:black;"',
        svg,
    )
    bars = [(float(x), float(w)) for x, w in rects]
    runs: list[float] = []
    for i, (x, width) in enumerate(bars):
        if i:
            previous_x, previous_width = bars[i - 1]
            runs.append(round(x - (previous_x + previous_width), 3))
        runs.append(width)
    return runs


def test_itf_svg_encodes_exactly_the_44_digits() -> None:
    svg = barcode_svg("itf", SAMPLE_BARCODE)
    assert svg.startswith(b"<?xml")
    assert b"<svg" in svg
    assert b"viewBox=" in svg
    assert f">{SAMPLE_BARCODE}<".encode() in svg
    assert len(svg) < MAX_RENDER_BYTES
    assert _decode_itf(_svg_bar_runs(svg)) == SAMPLE_BARCODE


def test_itf_png_encodes_exactly_the_44_digits() -> None:
    png = barcode_png("itf", SAMPLE_BARCODE)
    assert png.startswith(PNG_MAGIC)
    assert len(png) < MAX_RENDER_BYTES
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.width >= 300
        assert image.width > 3 * image.height  # a wide, short strip
    # Bars span roughly the top two thirds; sample a row well inside them.
    assert _decode_itf(_png_row_runs(png, 0.3)) == SAMPLE_BARCODE


@given(boleto_fields)
def test_itf_svg_round_trips_any_boleto(fields: BoletoFields) -> None:
    barcode = boleto_barcode(fields)
    assert _decode_itf(_svg_bar_runs(barcode_svg("itf", barcode))) == barcode


def test_code128_renders_reference_codes() -> None:
    code = reference_code("ACME", 42)
    svg = barcode_svg("code128", code)
    assert svg.startswith(b"<?xml")
    assert f">{code}<".encode() in svg
    assert len(svg) < MAX_RENDER_BYTES
    png = barcode_png("code128", code)
    assert png.startswith(PNG_MAGIC)
    assert len(png) < MAX_RENDER_BYTES
    with Image.open(io.BytesIO(png)) as image:
        assert image.width >= 300
    # "*" (a possible MOD 37-2 check character) is encodable too.
    assert barcode_png("code128", "ACME00000001*").startswith(PNG_MAGIC)


def test_rendering_is_deterministic() -> None:
    assert barcode_svg("itf", SAMPLE_BARCODE) == barcode_svg("itf", SAMPLE_BARCODE)
    assert barcode_png("itf", SAMPLE_BARCODE) == barcode_png("itf", SAMPLE_BARCODE)
    assert qr_png(BCB_MANUAL_EXAMPLE) == qr_png(BCB_MANUAL_EXAMPLE)
    assert qr_svg(BCB_MANUAL_EXAMPLE) == qr_svg(BCB_MANUAL_EXAMPLE)


@pytest.mark.parametrize(
    ("symbology", "data"),
    [
        ("itf", "123"),  # odd length would be silently zero-padded by python-barcode
        ("itf", ""),
        ("itf", "12AB"),
        ("itf", "١٢"),  # Arabic-Indic digits
        ("code128", ""),
        ("code128", "ação"),
        ("ean13", "1234567890128"),
    ],
)
def test_barcode_rejects_unencodable_data(symbology: str, data: str) -> None:
    with pytest.raises(ValueError):
        barcode_svg(symbology, data)
    with pytest.raises(ValueError):
        barcode_png(symbology, data)


@pytest.mark.parametrize("data", ["x", BCB_MANUAL_EXAMPLE, "A" * 1000])
def test_qr_png(data: str) -> None:
    png = qr_png(data)
    assert png.startswith(PNG_MAGIC)
    assert len(png) < MAX_RENDER_BYTES
    with Image.open(io.BytesIO(png)) as image:
        assert image.width == image.height
        assert image.width >= 400


def test_qr_svg() -> None:
    svg = qr_svg(BCB_MANUAL_EXAMPLE)
    assert svg.startswith(b"<?xml")
    assert b"<svg" in svg
    assert b"viewBox=" in svg
    assert b'fill="white"' in svg  # readable on dark-mode screens
    assert len(svg) < MAX_RENDER_BYTES


def test_qr_rejects_empty_data() -> None:
    with pytest.raises(ValueError):
        qr_png("")
    with pytest.raises(ValueError):
        qr_svg("")
