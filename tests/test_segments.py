from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SegmentInfo,
    count_segments,
    is_gsm7,
    to_gsm7_friendly,
)

EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", SegmentInfo("GSM-7", 1, 0)),
        ("a" * 160, SegmentInfo("GSM-7", 1, 160)),
        ("a" * 161, SegmentInfo("GSM-7", 2, 161)),
        ("a" * 306, SegmentInfo("GSM-7", 2, 306)),
        ("a" * 307, SegmentInfo("GSM-7", 3, 307)),
        # Extension characters cost 2 septets.
        ("€" * 80, SegmentInfo("GSM-7", 1, 160)),
        ("€" * 80 + "a", SegmentInfo("GSM-7", 2, 161)),
        ("a" * 159 + "{", SegmentInfo("GSM-7", 2, 161)),
        ("a" * 158 + "€", SegmentInfo("GSM-7", 1, 160)),
        ("a" * 159 + "€", SegmentInfo("GSM-7", 2, 161)),
        # An escape sequence is never split: part 1 holds 152 septets, "€" opens
        # part 2 (2 + 151), and the last "a" needs a third part although
        # ceil(306 / 153) == 2.
        ("a" * 152 + "€" + "a" * 152, SegmentInfo("GSM-7", 3, 306)),
        ("a" * 151 + "€" + "a" * 153, SegmentInfo("GSM-7", 2, 306)),
        ("ã" * 70, SegmentInfo("UCS-2", 1, 70)),
        ("ã" * 71, SegmentInfo("UCS-2", 2, 71)),
        ("ã" * 134, SegmentInfo("UCS-2", 2, 134)),
        ("ã" * 135, SegmentInfo("UCS-2", 3, 135)),
        # Emoji are surrogate pairs: 2 code units each.
        (EMOJI * 35, SegmentInfo("UCS-2", 1, 70)),
        (EMOJI * 35 + "a", SegmentInfo("UCS-2", 2, 71)),
        ("a" * 69 + EMOJI, SegmentInfo("UCS-2", 2, 71)),
        # A surrogate pair is never split: part 1 holds 66 units, the pair opens
        # part 2 (2 + 65) and one unit spills into a third part.
        ("ã" * 66 + EMOJI + "ã" * 66, SegmentInfo("UCS-2", 3, 134)),
        ("ã" * 65 + EMOJI + "ã" * 67, SegmentInfo("UCS-2", 2, 134)),
        # Extension characters are ordinary UCS-2 characters once in UCS-2.
        ("ã" + "€" * 69, SegmentInfo("UCS-2", 1, 70)),
    ],
)
def test_count_segments_boundaries(body: str, expected: SegmentInfo) -> None:
    assert count_segments(body) == expected


def test_portuguese_tilde_switches_to_ucs2_but_acute_e_does_not() -> None:
    assert count_segments("O boleto é de R$ 10,00 e vence sexta. É fácil").encoding == "UCS-2"
    assert count_segments("O boleto é de R$ 10,00 e vence sexta. É simples").encoding == "GSM-7"
    assert count_segments("O boleto não foi pago").encoding == "UCS-2"
    assert count_segments("¿Cuándo?").encoding == "UCS-2"  # á is not in GSM-7
    assert count_segments("¡Señor, años, pingüino!").encoding == "GSM-7"


def test_is_gsm7_tables() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points minus ESC
    assert len(GSM7_EXTENSION) == 10  # form feed ^ { } \ [ ~ ] | €
    assert is_gsm7("".join(sorted(GSM7_BASIC | GSM7_EXTENSION)))
    for ch in ["ã", "õ", "ç", "á", "í", "ó", "ú", "â", "ê", "ô", "`", "\x1b", "\t", EMOJI, "’"]:
        assert not is_gsm7(ch), ch
    for ch in ["é", "è", "à", "ñ", "ü", "Ç", "¡", "¿", "€", "£", "¥", "\n", "\r"]:
        assert is_gsm7(ch), ch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ã õ ç á í ó ú â ê ô", "a o c a i o u a e o"),
        ("ÃÕÁÍÓÚÂÊÔÀ", "AOAIOUAEOA"),
        ("“ação” ‘sim’", "\"acao\" 'sim'"),
        ("R$\u00a01.234,56 e R$\u202f10", "R$ 1.234,56 e R$ 10"),
        ("a – b — c", "a - b - c"),
        ("Espere…", "Espere..."),
        ("nº 3, 1ª parcela", "no 3, 1a parcela"),
        # Characters already in the table are untouched.
        ("é è à ñ ü Ç ¡ ¿ € £ {}[]~|^\\", "é è à ñ ü Ç ¡ ¿ € £ {}[]~|^\\"),
        # Nothing harmless to replace an emoji with: kept.
        (f"Obrigado {EMOJI}", f"Obrigado {EMOJI}"),
    ],
)
def test_to_gsm7_friendly(text: str, expected: str) -> None:
    assert to_gsm7_friendly(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Olá, João! Você tem uma dívida de R$ 1.234,56 com a Loja Exemplo, vencida há 30 dias.",
        "Responda PAGAR para receber o código, PARCELAR para ver as opções de parcelamento.",
        "Não conseguimos falar com você. Ligação às 14h? Opção nº 2 – “sim” ou “não”…",
        "Hola, José: tiene una deuda de 41,20 US$ con Tienda Ejemplo. ¿Quiere pagar en cuotas?",
        "Responda PAGAR para recibir el código de pago. Envíe STOP para no recibir más mensajes.",
        "Información: llámenos al teléfono de atención. ¡Gracias! Ñandú, pingüino, acción.",
    ],
)
def test_friendly_keeps_typical_pt_es_text_gsm7(text: str) -> None:
    friendly = to_gsm7_friendly(text)
    assert is_gsm7(friendly), friendly
    assert count_segments(friendly).encoding == "GSM-7"


@given(st.text())
def test_friendly_is_idempotent_and_leaves_gsm7_alone(text: str) -> None:
    friendly = to_gsm7_friendly(text)
    assert to_gsm7_friendly(friendly) == friendly
    if is_gsm7(text):
        assert friendly == text


@given(st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)), max_size=700))
def test_gsm7_segment_bounds(text: str) -> None:
    info = count_segments(text)
    septets = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    assert info.encoding == "GSM-7"
    assert info.units == septets
    if septets <= 160:
        assert info.segments == 1
    else:
        # At most one septet per part is lost to an unsplit escape sequence.
        assert math.ceil(septets / 153) <= info.segments <= math.ceil(septets / 152)


@given(st.text(min_size=1, max_size=400).filter(lambda s: not is_gsm7(s)))
def test_ucs2_segment_bounds(text: str) -> None:
    info = count_segments(text)
    units = len(text.encode("utf-16-le")) // 2
    assert info.encoding == "UCS-2"
    assert info.units == units
    if units <= 70:
        assert info.segments == 1
    else:
        assert math.ceil(units / 67) <= info.segments <= math.ceil(units / 66)
