"""Images of payment codes: boleto/reference barcodes and PIX QR codes, as SVG or PNG.

Pure functions from a string to image bytes; output is deterministic for a given input
and library version (no timestamps, no random ids), so it can be cached or hashed.

Sizes:
  * ITF (boleto): FEBRABAN proportions, narrow bar 0.254 mm, wide = 3 x narrow, bars
    13 mm tall, so the 44-digit symbol is about 103 mm wide plus quiet zones. The PNG is
    rendered at 300 dpi, i.e. exactly 3 px per narrow bar (no anti-aliasing smear).
  * Code 128 (reference codes): same 0.254 mm module, 15 mm tall.
  * QR: white background, error correction M, 4-module quiet zone; PNG at least
    400 px wide.
The SVGs carry a ``viewBox`` so a page can scale them with ``width: 100%`` on narrow
phone screens while keeping their physical size when printed.
"""

from __future__ import annotations

import io
import math
from typing import Any

import qrcode
import qrcode.constants
import qrcode.image.pil
import qrcode.image.svg
from barcode import ITF, Code128
from barcode.writer import ImageWriter, SVGWriter

__all__ = ["SYMBOLOGIES", "barcode_png", "barcode_svg", "qr_png", "qr_svg"]

SYMBOLOGIES = ("itf", "code128")

_DPI = 300
_MODULE_MM = 0.254  # 3 px at 300 dpi
_CSS_PX_PER_MM = 96 / 25.4
_QR_MIN_PX = 400
_QR_BORDER = 4

_COMMON_OPTIONS: dict[str, Any] = {
    "module_width": _MODULE_MM,
    "font_size": 10,
    "text_distance": 4.0,
    "background": "white",
    "foreground": "black",
    "write_text": True,
}
_OPTIONS: dict[str, dict[str, Any]] = {
    # ITF needs a quiet zone of at least 10 narrow bars; FEBRABAN asks for >= 5 mm.
    "itf": {**_COMMON_OPTIONS, "module_height": 13.0, "quiet_zone": 6.4},
    "code128": {**_COMMON_OPTIONS, "module_height": 15.0, "quiet_zone": 6.4},
}


class _ScalableSVGWriter(SVGWriter):  # type: ignore[misc]
    """python-barcode's SVG writer plus a ``viewBox`` (its sizes are in mm only)."""

    def _init(self, code: list[str]) -> None:
        super()._init(code)
        width, height = self.calculate_size(len(code[0]), 1)
        self._root.setAttribute(
            "viewBox",
            f"0 0 {width * _CSS_PX_PER_MM:.3f} {height * _CSS_PX_PER_MM:.3f}",
        )


def _symbol(symbology: str, data: str, writer: Any) -> Any:
    if symbology == "itf":
        # python-barcode's ITF silently prepends "0" to odd-length data and would change
        # what is encoded; boleto data is always 44 digits, so refuse instead.
        if not data or len(data) % 2 or not (data.isascii() and data.isdigit()):
            raise ValueError("ITF data must be a non-empty, even number of ASCII digits")
        # narrow=1, wide=3 modules: the 1:3 ratio of the FEBRABAN layout. ITF adds no
        # check digit of its own; the boleto's check digit is already in the 44 digits.
        return ITF(data, writer=writer, narrow=1, wide=3)
    if symbology == "code128":
        if not data or not data.isascii() or not data.isprintable():
            raise ValueError("Code 128 data must be non-empty printable ASCII")
        return Code128(data, writer=writer)
    raise ValueError(f"unknown symbology {symbology!r}; expected one of {SYMBOLOGIES}")


def barcode_svg(symbology: str, data: str) -> bytes:
    """Render ``data`` as an SVG barcode (``"itf"`` for boletos, ``"code128"`` for
    reference codes), with the data printed underneath as text. Raises ``ValueError``
    for an unknown symbology or data the symbology cannot carry unchanged."""
    symbol = _symbol(symbology, data, _ScalableSVGWriter())
    out = io.BytesIO()
    symbol.write(out, options=_OPTIONS[symbology])
    return out.getvalue()


def barcode_png(symbology: str, data: str) -> bytes:
    """Render ``data`` as a grayscale PNG barcode at 300 dpi (same symbologies and
    errors as :func:`barcode_svg`); a boleto comes out about 1366 x 245 px, ~5 KB."""
    writer = ImageWriter(format="PNG", mode="L", dpi=_DPI)
    symbol = _symbol(symbology, data, writer)
    out = io.BytesIO()
    symbol.write(out, options=_OPTIONS[symbology])
    return out.getvalue()


def _qr(data: str) -> Any:
    if not data:
        raise ValueError("QR data must not be empty")
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=_QR_BORDER,
    )
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_svg(data: str) -> bytes:
    """Render ``data`` (e.g. a PIX payload) as a standalone SVG QR code with a white
    background, drawn as a single path."""
    image = _qr(data).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_png(data: str) -> bytes:
    """Render ``data`` as a 1-bit PNG QR code, at least 400 px wide (whole pixels per
    module, so no module is blurred); a PIX payload gives a few KB."""
    qr = _qr(data)
    side_modules = qr.modules_count + 2 * _QR_BORDER
    qr.box_size = max(1, math.ceil(_QR_MIN_PX / side_modules))
    image = qr.make_image(image_factory=qrcode.image.pil.PilImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()
