"""The console in a real browser: Debian's Chromium driven by Playwright against the app
served by uvicorn, at desktop and phone width. An agent's day (search by phone, read the
conversation, answer from the inbox, claim and complete a call) and a finance team's
(edit a rule and watch the preview, upload a CSV, read the charts). Every page is checked
for sideways scrolling at 390 px and for script or Content-Security-Policy errors;
screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect, sync_playwright
from sqlalchemy import select

from app.callbacks.models import Callback
from app.clock import FixedClock
from app.db import Database
from app.main import create_app
from app.messaging.models import DeliverabilityGuard, Message
from tests.conftest import Tenant, make_settings
from tests.console.support import (
    PASSWORD,
    Portfolio,
    email_of,
    make_portfolio,
    make_users,
    pause_guard,
)
from tests.payments.test_page_in_a_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

# This suite's servers listen on these ports only (shared machines).
PORTS = range(18550, 18600)
TIMEOUT_MS = 10_000
VIEWPORTS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 900}, "timezone_id": "UTC"},
    "phone": {
        # An agent working from São Paulo for a New York team.
        "timezone_id": "America/Sao_Paulo",
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
# Form controls without a label, images (charts) without a name, buttons without text.
UNNAMED = """() => {
  const bad = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label")) bad.push(el.outerHTML);
  }
  for (const el of document.querySelectorAll("[role=img]")) {
    if (!el.getAttribute("aria-labelledby") && !el.getAttribute("aria-label")) bad.push(el.id);
  }
  for (const el of document.querySelectorAll("button")) {
    if (!el.textContent.trim()) bad.push(el.outerHTML);
  }
  return bad;
}"""


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


def _bind() -> socket.socket:
    for port in PORTS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        return sock
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@dataclass
class Live:
    url: str
    portfolio: Portfolio
    db: Database


@contextmanager
def _serve(app: Any, sock: socket.socket) -> Iterator[None]:
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-console", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)  # poll the flag; the deadline bounds the wait
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def live(
    db: Database, database_url: str, clock: FixedClock, tenant: Tenant, app: Any
) -> Iterator[Live]:
    """The portfolio built through the API (signed webhooks, as everywhere), then the
    app served over plain http on loopback, its public URL that address."""
    make_users(db, clock, tenant)
    with TestClient(app, base_url="https://testserver") as client:
        portfolio = make_portfolio(client, clock, tenant)
    sock = _bind()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    served = create_app(make_settings(database_url, public_url=url), clock=clock, database=db)
    with _serve(served, sock):
        yield Live(url, portfolio, db)


@contextmanager
def console(browser: Browser, live: Live, viewport: str) -> Iterator[tuple[Page, list[str]]]:
    """A fresh tab, and the errors it reports (script errors, CSP violations, 4xx/5xx
    other than the ones a test provokes)."""
    context = browser.new_context(base_url=live.url, **VIEWPORTS[viewport])
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 500 or (
            response.status >= 400 and "/console/static/" in response.url
        ):
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", on_response)
    try:
        yield page, errors
    finally:
        context.close()


def sign_in(page: Page, role: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Email").fill(email_of(role))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def check(page: Page, viewport: str, shot: str) -> None:
    """No sideways scroll, every control named, one heading; keep a screenshot."""
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{page.url} scrolls sideways at {viewport}"
    assert page.evaluate(UNNAMED) == [], page.url
    assert page.locator("h1").count() == 1, page.url
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{shot}-{viewport}.png"), full_page=True)


# ------------------------------------------------------------------------ tests


def test_wrong_password_is_refused_then_the_right_one_signs_in(
    browser: Browser, live: Live
) -> None:
    with console(browser, live, "desktop") as (page, errors):
        page.goto("/console/debts")
        expect(page).to_have_url(re.compile(r"/console/login\?next=/console/debts"))
        page.get_by_label("Email").fill(email_of("admin"))
        page.get_by_label("Password").fill("not my password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong email or password.")
        check(page, "desktop", "login-refused")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Debts")).to_be_visible()
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("status")).to_contain_text("You are logged out.")
        assert errors == []


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_agents_day(browser: Browser, live: Live, viewport: str) -> None:
    with console(browser, live, viewport) as (page, errors):
        sign_in(page, "agent")
        expect(page.locator('[data-stat="inbox"]')).to_have_text("1")
        check(page, viewport, "dashboard-agent")

        # Search by the phone number as someone would type it, open the debt.
        page.get_by_role("link", name="Debts").click()
        page.get_by_label("Search").fill("(415) 555-0123")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("#totals")).to_have_text("Showing 1–1 of 1")
        check(page, viewport, "debts-search")
        page.get_by_role("link", name="Alex Morgan").click()
        chat = page.locator("#conversation")
        expect(chat.locator("li.inbound").last).to_contain_text("grandmother's parrot")
        expect(chat.locator("li.outbound").first).to_be_visible()
        check(page, viewport, "debt-conversation")

        # Answer from the inbox with a canned reply: it is queued in the outbox.
        page.get_by_role("link", name="Inbox").click()
        card = page.locator("article.conversation").first
        card.get_by_role("button", name="Assign to me").click()
        expect(page.get_by_role("status")).to_have_text("Assigned to you.")
        card = page.locator("article.conversation").first
        expect(card.locator(".assignee")).to_have_text(email_of("agent"))
        canned = card.get_by_label("Canned reply")
        canned.select_option(index=1)
        box = card.get_by_label("Message")
        expect(box).to_have_value(re.compile(r"^Hi Alex, thanks for your message"))
        card.get_by_role("button", name="Send").click()
        expect(page.get_by_role("status")).to_contain_text("Reply queued")
        check(page, viewport, "inbox-replied")
        with live.db.transaction() as session:
            queued = session.scalars(select(Message).where(Message.kind == "agent")).one()
            assert queued.body.startswith("Hi Alex, thanks for your message")
            assert queued.status in ("queued", "scheduled")

        # Claim the call and complete it.
        page.get_by_role("link", name="Callbacks").click()
        zone = "America/Sao_Paulo" if viewport == "phone" else "UTC"
        expect(page.get_by_text(f"Times in {zone}")).to_be_visible()
        call = page.locator("article.callback").first
        call.get_by_role("button", name="Claim").click()
        expect(page.get_by_role("status")).to_have_text("Claimed.")
        call = page.locator("article.callback").first
        expect(call.locator(".cb-status")).to_have_text("claimed")
        call.locator("summary", has_text="Complete").click()
        call.get_by_label("Outcome").select_option("promise_to_pay")
        call.get_by_label("Notes").fill("Will pay on Friday")
        call.locator("form[action$='/complete'] button[type=submit]").click()
        expect(page.get_by_role("status")).to_have_text("Completed.")
        expect(page.locator("article.callback").first.locator(".cb-status")).to_have_text(
            "completed"
        )
        check(page, viewport, "callbacks-completed")
        with live.db.transaction() as session:
            callback = session.scalars(select(Callback)).one()
            assert (callback.status, callback.outcome) == ("completed", "promise_to_pay")
        assert errors == []


CSV = (
    "external_id,name,phone,language,timezone,amount,currency,due_date,description\n"
    "B-1,Sam Lee,+14155550177,en,America/New_York,5000,USD,2026-11-01,ok\n"
    "B-2,Bad Phone,12,en,America/New_York,5000,USD,2026-11-01,bad phone\n"
    "B-3,Bad Amount,+14155550178,en,America/New_York,-1,USD,2026-11-01,bad amount\n"
)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_finance_teams_day(browser: Browser, live: Live, viewport: str, tmp_path: Any) -> None:
    with console(browser, live, viewport) as (page, errors):
        sign_in(page, "admin")
        check(page, viewport, "dashboard-admin")

        # Edit a rule: the preview follows the form before anything is saved.
        page.get_by_role("link", name="Offer rules").click()
        check(page, viewport, "rules")
        page.get_by_role("link", name="Standard").click()
        preview = page.locator("#preview")
        expect(preview).to_contain_text("Pay in full: $450.00")
        page.get_by_label("Pay-in-full discount (%)").fill("20")
        expect(preview).to_contain_text("Pay in full: $400.00")
        page.get_by_label("Balance (minor units)", exact=True).fill("90000")
        expect(preview).to_contain_text("Pay in full: $720.00")
        page.get_by_label("Pay-in-full discount (%)").fill("120")
        expect(preview.get_by_role("alert")).to_contain_text("lump_sum_discount_pct")
        page.get_by_label("Pay-in-full discount (%)").fill("20")
        expect(preview).to_contain_text("Pay in full: $720.00")
        check(page, viewport, "rule-preview")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")

        # Upload a CSV: the progress bar fills and the refused rows are listed.
        page.get_by_role("link", name="Import").click()
        path = tmp_path / "debts.csv"
        path.write_text(CSV)
        page.get_by_label("CSV file").set_input_files(str(path))
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#import-summary")).to_have_text(
            "3 rows: 1 created, 0 updated, 2 failed."
        )
        progress = page.locator("#import-progress")
        assert progress.evaluate("bar => bar.value > 0 && bar.value === bar.max")
        rows = page.locator("#import-errors tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("B-2")
        expect(rows.nth(1)).to_contain_text("B-3")
        check(page, viewport, "import")

        # The charts are drawn, each with its title for screen readers.
        page.get_by_role("link", name="Analytics").click()
        for chart in (
            "chart-recovery",
            "chart-funnel",
            "chart-intents",
            "chart-opt-out",
            "chart-promises",
            "chart-plans",
        ):
            svg = page.locator(f"svg#{chart}")
            expect(svg).to_be_visible()
            assert svg.get_attribute("role") == "img"
            box = svg.bounding_box()
            assert box is not None and box["width"] > 100
        expect(page.locator("#cohorts-1")).to_be_visible()
        check(page, viewport, "analytics")

        page.get_by_role("link", name="Settings").click()
        page.get_by_label("From (HH:MM)").fill("09:00")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        check(page, viewport, "settings")
        assert errors == []


def test_a_viewer_sees_no_buttons_that_change_anything(browser: Browser, live: Live) -> None:
    with console(browser, live, "phone") as (page, errors):
        sign_in(page, "viewer")
        page.goto(f"/console/debts/{live.portfolio.debt_id}")
        expect(page.locator("#conversation")).to_be_visible()
        for name in ("Close the debt", "Pause collection", "Send", "Book a call"):
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        page.goto("/console/inbox")
        expect(page.get_by_role("button", name="Assign to me")).to_have_count(0)
        page.goto("/console/import")
        expect(page.get_by_role("button", name="Upload")).to_have_count(0)
        check(page, "phone", "viewer-import")
        assert errors == []


def test_the_console_never_asks_another_host(browser: Browser, live: Live) -> None:
    """Every request a page makes goes to the console's own origin."""
    with console(browser, live, "desktop") as (page, errors):
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        sign_in(page, "admin")
        for path in (
            "/console",
            "/console/debts",
            f"/console/debts/{live.portfolio.debt_id}",
            "/console/inbox",
            "/console/callbacks",
            "/console/rules",
            "/console/settings",
            "/console/import",
            "/console/analytics",
        ):
            page.goto(path)
            page.wait_for_load_state("load")
        origin = httpx.URL(live.url)
        foreign = [
            u for u in asked if not u.startswith("data:") and httpx.URL(u).host != origin.host
        ]
        assert foreign == []
        assert any(u.endswith("/console/static/htmx.min.js?v=1") for u in asked)
        assert errors == []


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_admin_resumes_the_texts_the_guard_paused(
    browser: Browser, live: Live, clock: FixedClock, tenant: Tenant, viewport: str
) -> None:
    pause_guard(live.db, clock, tenant)
    with console(browser, live, viewport) as (page, errors):
        sign_in(page, "admin")
        expect(page.locator('[data-guard="paused"]')).to_contain_text("30007")
        check(page, viewport, "dashboard-guard-paused")
        page.get_by_role("button", name="Resume texts Parley starts").click()
        expect(page.get_by_role("status")).to_contain_text("Texts Parley starts are resumed.")
        expect(page.locator('[data-guard="running"]')).to_be_visible()
        expect(page.get_by_role("button", name="Resume texts Parley starts")).to_have_count(0)
        assert errors == []
    with live.db.transaction() as session:
        guard = session.get(DeliverabilityGuard, tenant.creditor_id)
        assert guard is not None and guard.paused_since is None
        assert guard.resumed_at == clock.now()
