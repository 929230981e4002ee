"""SMS segment counting and GSM-7 helpers (pure functions, no I/O).

Carriers bill per segment, and PRODUCT.md requires a statement to fit in at most
two segments, so the count must match what the network does:

* GSM 03.38 7-bit default alphabet ("GSM-7"): 160 septets in a single SMS,
  153 per part when concatenated (7 septets go to the UDH). Characters of the
  extension table are sent as ESC + char and cost 2 septets.
* Any character outside that alphabet switches the *whole* message to UCS-2:
  70 UTF-16 code units single, 67 per part. Characters outside the BMP (most
  emoji) are surrogate pairs and cost 2 code units.
* A part never ends in the middle of an escape sequence or a surrogate pair; the
  pair moves whole to the next part, which can cost an extra segment.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SegmentInfo",
    "count_segments",
    "is_gsm7",
    "to_gsm7_friendly",
]

# GSM 03.38 basic table in code-point order 0x00..0x7F. 0x1B (ESC) is the escape
# to the extension table, not a printable character, so it is left out: a raw
# "\x1b" in a body is not representable text.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# Extension table (each costs ESC + char = 2 septets). "\x0c" is form feed.
GSM7_EXTENSION: frozenset[str] = frozenset("\x0c^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

GSM7 = "GSM-7"
UCS2 = "UCS-2"


@dataclass(frozen=True)
class SegmentInfo:
    """How a body travels: encoding, number of segments and units used.

    ``units`` is septets for GSM-7 (extension characters count 2) and UTF-16
    code units for UCS-2 (a surrogate pair counts 2). It is the payload size,
    without the padding that keeps pairs whole across parts.
    """

    encoding: str
    segments: int
    units: int


def is_gsm7(body: str) -> bool:
    """True when every character of ``body`` is in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body)


def _pack(unit_sizes: list[int], single: int, part: int) -> int:
    """Number of segments for a sequence of indivisible units (sizes 1 or 2)."""
    total = sum(unit_sizes)
    if total <= single:
        # An empty body still goes out as one (empty) SMS.
        return 1
    segments = 1
    used = 0
    for size in unit_sizes:
        if used + size > part:
            # An escape sequence / surrogate pair is never split: start a new part.
            segments += 1
            used = 0
        used += size
    return segments


def count_segments(body: str) -> SegmentInfo:
    """Count the SMS segments ``body`` needs, choosing GSM-7 when possible.

    An empty body counts as one segment of 0 units.
    """
    if is_gsm7(body):
        sizes = [2 if ch in GSM7_EXTENSION else 1 for ch in body]
        return SegmentInfo(GSM7, _pack(sizes, GSM7_SINGLE, GSM7_PART), sum(sizes))
    # Python str indexes code points; UCS-2/UTF-16 needs 2 units above the BMP.
    sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in body]
    return SegmentInfo(UCS2, _pack(sizes, UCS2_SINGLE, UCS2_PART), sum(sizes))


# Explicit replacements for characters that NFD decomposition does not handle.
# Only typographic variants whose plain form carries the same meaning.
_FRIENDLY: dict[str, str] = {
    "\u00a0": " ",  # no-break space (babel puts it in formatted amounts)
    "\u202f": " ",  # narrow no-break space
    "\u2007": " ",  # figure space
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\t": " ",
    "\u200b": "",  # zero-width space
    "\u200c": "",  # zero-width non-joiner
    "\u2060": "",  # word joiner
    "\ufeff": "",  # BOM / zero-width no-break space
    "\u00ad": "",  # soft hyphen (invisible unless a line breaks there)
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2026": "...",
    "\u2022": "-",  # bullet
    "\u00ba": "o",  # masculine ordinal (pt/es "nº", "1º")
    "\u00aa": "a",  # feminine ordinal ("1ª")
    "\u2028": "\n",  # line separator
    "\u2029": "\n",  # paragraph separator
}


def _friendly_char(ch: str) -> str:
    if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
        return ch
    mapped = _FRIENDLY.get(ch)
    if mapped is not None:
        return mapped
    # Accented Latin letters (ã, õ, ç, á, í, ó, ú, â, ê, ô, À, ...): drop the
    # combining marks when the base letter is GSM-7. NFD (not NFKD) so that
    # compatibility forms such as "²" or "½" are not silently changed in meaning.
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    if base and base != ch and is_gsm7(base):
        return base
    return ch


def to_gsm7_friendly(body: str) -> str:
    """Replace characters outside GSM-7 by close GSM-7 equivalents where harmless.

    Characters already in the GSM-7 tables (é, ñ, ü, Ç, €, ...) are left untouched;
    accented letters outside it lose their accent (ã -> a, ç -> c, ó -> o),
    typographic quotes/dashes/spaces become their ASCII forms and "…" becomes
    "...". Anything with no harmless equivalent (emoji, CJK, ...) is kept, so the
    result may still need UCS-2: check with :func:`is_gsm7`.
    """
    return "".join(_friendly_char(ch) for ch in body)
