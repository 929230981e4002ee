"""The payment page in a real headless browser: Debian's Chromium driven by Playwright,
against the real app served by uvicorn on a loopback port. On a phone-sized screen the
page renders, its barcode loads (and scans, as the browser drew it), the copy button puts
the code on the clipboard, and a screenshot is kept in test-artifacts/. With JavaScript
off the code is still there to select by hand.

Chromium comes from Debian (`apt-get install chromium`; .ci/run installs it when it is
missing). Without /usr/bin/chromium these tests skip, except on CI (CI=true), where they
fail."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import zxingcpp
from PIL import Image
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    sync_playwright,
)

from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.payments.models import PaymentCode
from tests.conftest import Tenant
from tests.helpers import import_debt, send_sms
from tests.payments_support import (
    BR_PHONE,
    US_PHONE,
    boleto_tenant,
    codes,
    import_br_debt,
    pix_tenant,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# An iPhone 12-15 sized screen.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
TIMEOUT_MS = 10_000
SERVER_START_SECONDS = 10.0
SERVER_STOP_SECONDS = 10.0
SCREENSHOTS = {
    "reference": "payment-page-phone.png",
    "boleto": "payment-page-phone-boleto.png",
    "pix": "payment-page-phone-pix.png",
}
# What each scheme's page must show: (title, heading, amount, copied message, format).
EXPECTED = {
    "reference": (
        "Acme Finance – Payment",
        "Hello Alex,",
        "$123.60",
        "Code copied.",
        zxingcpp.BarcodeFormat.Code128,
    ),
    "boleto": (
        "Credora Cobrança – Pagamento",
        "Olá, Maria!",
        "R$ 123,60",
        "Código copiado.",
        zxingcpp.BarcodeFormat.ITF,
    ),
    "pix": (
        "Credora Pix – Pagamento",
        "Olá, Maria!",
        "R$ 123,60",
        "Código copiado.",
        zxingcpp.BarcodeFormat.QRCode,
    ),
}
IMAGE_LOADED = """() => {
  const image = document.querySelector("figure img");
  return image !== null && image.complete && image.naturalWidth > 0;
}"""


def normalise(text: str) -> str:
    """Text as read off the page, with no-break spaces as plain spaces."""
    return " ".join(text.replace("\xa0", " ").split())


# ------------------------------------------------------------------ the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; on CI the browser tests must run", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


# -------------------------------------------------------------- the live server


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free loopback port; yields its URL."""
    # Bound here and handed to uvicorn, so no other process can take the port between.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped before it started serving")
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start within {SERVER_START_SECONDS} s")
            time.sleep(0.01)  # poll the flag; the deadline above bounds the wait
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_STOP_SECONDS)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@dataclass
class Live:
    url: str
    http: httpx.Client
    app: Any


@pytest.fixture
def live(db: Database, settings: Settings, clock: FixedClock) -> Iterator[Live]:
    app = create_app(settings, clock=clock, database=db)
    with serve(app) as url, httpx.Client(base_url=url, trust_env=False, timeout=10) as http:
        yield Live(url, http, app)


def issue_by_pay(
    live: Live, db: Database, clock: FixedClock, tenant: Tenant, scheme: str
) -> PaymentCode:
    """Import a debt and text PAY, over HTTP to the live app; returns the code issued."""
    if scheme == "reference":
        debt_id = import_debt(live.http, tenant)  # type: ignore[arg-type]
        phone = US_PHONE
    else:
        creditor = boleto_tenant(db, clock) if scheme == "boleto" else pix_tenant(db, clock)
        debt_id = import_br_debt(live.http, creditor)  # type: ignore[arg-type]
        phone = BR_PHONE
    # In the debtor's language: a message in English would switch the page to English.
    send_sms(live.http, phone, "PAY" if phone == US_PHONE else "PAGAR", app=live.app)  # type: ignore[arg-type]
    [code] = codes(db, debt_id)
    assert code.scheme == scheme
    return code


@contextmanager
def phone_page(browser: Browser, live: Live, **options: Any) -> Iterator[tuple[Page, list[str]]]:
    """A fresh phone-sized tab on the live app, and the errors it reports."""
    context: BrowserContext = browser.new_context(base_url=live.url, **PHONE, **options)
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        # A failed load is reported with its URL by on_response below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        # Browsers ask for /favicon.ico on their own; the page links no icon.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", on_response)
    try:
        yield page, errors
    finally:
        context.close()


def decode(png: bytes) -> list[zxingcpp.Barcode]:
    return list(zxingcpp.read_barcodes(Image.open(io.BytesIO(png))))


# ------------------------------------------------------------------------ tests


@pytest.mark.parametrize("scheme", ["reference", "boleto", "pix"])
def test_page_renders_on_a_phone_and_the_copy_button_copies_the_code(
    browser: Browser,
    live: Live,
    db: Database,
    clock: FixedClock,
    tenant: Tenant,
    scheme: str,
) -> None:
    code: PaymentCode = issue_by_pay(live, db, clock, tenant, scheme)
    title, heading, amount, copied, symbology = EXPECTED[scheme]

    with phone_page(browser, live) as (page, errors):
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
        response = page.goto(f"/p/{code.token}")
        assert response is not None and response.status == 200

        # It renders: title, greeting, amount and the code, all on screen.
        assert page.title() == title
        h1 = page.locator("h1")
        assert h1.is_visible() and normalise(h1.inner_text()) == heading
        amount_shown = page.locator(".summary dd").first
        assert amount_shown.is_visible() and normalise(amount_shown.inner_text()) == amount
        shown = page.locator("#payment-code")
        assert shown.is_visible() and shown.inner_text().strip() == code.display

        # The barcode/QR image loaded and fits the screen; nothing scrolls sideways.
        page.wait_for_function(IMAGE_LOADED, timeout=TIMEOUT_MS)
        image = page.locator("figure img")
        assert image.is_visible()
        box = image.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["width"] >= 200
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # The image as the browser drew it (the SVG) scans back to the code.
        found = decode(image.screenshot())
        assert [(b.format, b.text) for b in found] == [(symbology, code.barcode_data)]

        # The copy button (shown by the script) puts the code on the clipboard.
        button = page.locator("#copy-button")
        assert button.is_visible()
        button.click()
        page.wait_for_function(
            "text => document.getElementById('copy-status').textContent === text",
            arg=copied,
            timeout=TIMEOUT_MS,
        )
        assert page.evaluate("navigator.clipboard.readText()") == code.display

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / SCREENSHOTS[scheme]), full_page=True)
        # No script error and no Content-Security-Policy violation on the way.
        assert errors == []


def test_page_without_javascript_still_shows_the_code(
    browser: Browser, live: Live, db: Database, clock: FixedClock, tenant: Tenant
) -> None:
    code: PaymentCode = issue_by_pay(live, db, clock, tenant, "reference")

    with phone_page(browser, live, java_script_enabled=False) as (page, errors):
        response = page.goto(f"/p/{code.token}")
        assert response is not None and response.status == 200
        shown = page.locator("#payment-code")
        assert shown.is_visible() and shown.inner_text().strip() == code.display
        assert page.locator(".hint").is_visible()
        # The button only works with the script, so without it the button stays hidden.
        assert page.locator("#copy-button").count() == 1
        assert not page.locator("#copy-button").is_visible()
        image = page.locator("figure img")
        assert image.is_visible()
        assert image.evaluate("image => image.complete && image.naturalWidth > 0")
        assert errors == []
