"""The console's dry-run page (issue 16): over HTTP (form errors, the debtor-days limit,
CSRF, who may run it) and in a real browser (Debian's Chromium driven by Playwright): an
admin runs a small dry run and reads the figures and zero violations, an agent and a
viewer are refused, bad input shows a form error."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from app.clock import FixedClock
from app.db import Database
from app.main import create_app
from app.messaging.models import Message
from tests.conftest import Tenant, make_settings
from tests.console.support import csrf_of, make_portfolio, make_users, sign_in
from tests.console.test_in_a_browser import (  # noqa: F401 (the browser fixture)
    Live,
    _serve,
    browser,
    check,
    console,
)
from tests.console.test_in_a_browser import sign_in as browser_sign_in
from tests.processes import PORTS

# A dry run takes its request's whole time, CPU-bound: on a loaded machine more than the
# browser suite's usual 10 s.
RUN_TIMEOUT_MS = 180_000


@pytest.fixture
def https(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as client:
        yield client


@pytest.fixture
def signed_up(https: TestClient, db: Database, clock: FixedClock, tenant: Tenant) -> None:
    """Users of every role and the two-debt portfolio of the console tests."""
    make_users(db, clock, tenant)
    make_portfolio(https, clock, tenant)


def _run(https: TestClient, token: str, **fields: str) -> Any:
    data = {"days": "3", "start": "2026-11-25", "seed": "1", **fields, "csrf_token": token}
    return https.post("/console/simulation", data=data)


def _messages(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count(Message.id))) or 0


# ------------------------------------------------------------------------ HTTP


def test_an_admin_runs_a_dry_run_and_reads_the_report(
    https: TestClient, signed_up: None, db: Database
) -> None:
    token = sign_in(https, "admin")
    dashboard = https.get("/console")
    assert 'href="/console/simulation"' in dashboard.text
    form = https.get("/console/simulation")
    assert form.status_code == 200
    assert 'name="days"' in form.text and 'name="start"' in form.text
    assert 'name="seed"' in form.text
    # 6,000 debtor-days would be 3,000 days for two debtors: the most is MAX_DAYS.
    assert "with 2 debtors, up to 62 days" in form.text
    before = _messages(db)
    response = _run(https, token)
    assert response.status_code == 200, response.text
    html = response.text
    assert "Report: 3 days from 2026-11-25" in html
    assert '<span data-stat="violations">0</span>' in html
    assert "No violations" in html
    assert re.search(r'data-stat="messages">[1-9]', html)
    for chart in ("chart-sim-days", "chart-sim-hours"):
        assert f'id="{chart}"' in html
    for table in ("sim-days", "sim-hours", "sim-segments", "sim-lanes"):
        assert f'id="{table}"' in html
    assert 'data-lane="answer"' in html and 'data-lane="bulk"' in html
    assert 'id="capacity-provisional"' in html and "PARLEY_SEND_CONCURRENCY" in html
    assert "statement" in html and "$0.0" in html
    # The dry run read the real database and wrote nothing to it.
    assert _messages(db) == before


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"days": "abc"}, "days", "must be a whole number from 1 to 62"),
        ({"days": "0"}, "days", "must be a whole number from 1 to 62"),
        ({"days": "63"}, "days", "must be a whole number from 1 to 62"),
        ({"days": ""}, "days", "must be a whole number from 1 to 62"),
        ({"start": "soon"}, "start", "must be a date, YYYY-MM-DD"),
        ({"start": "2026-02-30"}, "start", "must be a date, YYYY-MM-DD"),
        ({"seed": "-1"}, "seed", "must be a whole number from 0 to 2147483647"),
        ({"seed": "1.5"}, "seed", "must be a whole number from 0 to 2147483647"),
    ],
)
def test_bad_input_shows_the_form_again_with_the_field_named(
    https: TestClient, signed_up: None, fields: dict[str, str], field: str, words: str
) -> None:
    token = sign_in(https, "admin")
    response = _run(https, token, **fields)
    assert response.status_code == 422
    assert f'<p class="field-error" id="e-{field}">{words}</p>' in response.text
    assert f'id="f-{field}" name="{field}"' in response.text
    assert "Report:" not in response.text


def test_the_console_refuses_a_run_past_its_debtor_days_limit(
    db: Database, database_url: str, clock: FixedClock, tenant: Tenant
) -> None:
    settings = make_settings(database_url, console_simulation_max_debtor_days=10)
    app = create_app(settings, clock=clock, database=db)
    with TestClient(app, base_url="https://testserver") as https:
        make_users(db, clock, tenant)
        make_portfolio(https, clock, tenant)
        token = sign_in(https, "admin")
        assert "with 2 debtors, up to 5 days" in https.get("/console/simulation").text
        refused = _run(https, token, days="6")
        assert refused.status_code == 422
        assert "at most 5 in the console for 2 debtors" in refused.text
        assert _run(https, token, days="5").status_code == 200


def test_a_portfolio_too_large_for_even_one_day_is_sent_to_the_command_line(
    db: Database, database_url: str, clock: FixedClock, tenant: Tenant
) -> None:
    settings = make_settings(database_url, console_simulation_max_debtor_days=1)
    app = create_app(settings, clock=clock, database=db)
    with TestClient(app, base_url="https://testserver") as https:
        make_users(db, clock, tenant)
        make_portfolio(https, clock, tenant)
        token = sign_in(https, "admin")
        form = https.get("/console/simulation").text
        assert "With 2 debtors the portfolio is past the console" in form
        refused = _run(https, token, days="1")
        assert refused.status_code == 422
        assert "2 debtors are too many for the console; run `parley simulate`" in refused.text


@pytest.mark.parametrize("role", ["agent", "viewer"])
def test_agents_and_viewers_may_not_run_it(
    https: TestClient, signed_up: None, db: Database, role: str
) -> None:
    token = sign_in(https, role)
    assert 'href="/console/simulation"' not in https.get("/console").text
    assert https.get("/console/simulation").status_code == 403
    before = _messages(db)
    refused = _run(https, token)
    assert refused.status_code == 403
    assert f"Your role ({role}) may not do this." in refused.text
    assert "Report:" not in refused.text
    assert _messages(db) == before


def test_the_form_needs_its_csrf_token(https: TestClient, signed_up: None) -> None:
    sign_in(https, "admin")
    response = https.post("/console/simulation", data={"days": "1", "csrf_token": "forged"})
    assert response.status_code == 403
    assert "Report:" not in response.text
    page = https.get("/console/simulation")
    assert csrf_of(page.text)


# --------------------------------------------------------------------- browser


def _bind() -> socket.socket:
    """A port of PARLEY_TEST_PORTS (this machine's share), not the browser suite's own."""
    for port in PORTS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        return sock
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@pytest.fixture
def live(
    db: Database, database_url: str, clock: FixedClock, tenant: Tenant, app: Any
) -> Iterator[Live]:
    make_users(db, clock, tenant)
    with TestClient(app, base_url="https://testserver") as client:
        portfolio = make_portfolio(client, clock, tenant)
    sock = _bind()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    served = create_app(make_settings(database_url, public_url=url), clock=clock, database=db)
    with _serve(served, sock):
        yield Live(url, portfolio, db)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_finance_admin_runs_a_dry_run_in_the_browser(
    browser: Browser,  # noqa: F811
    live: Live,
    viewport: str,
) -> None:
    with console(browser, live, viewport) as (page, errors):
        browser_sign_in(page, "admin")
        page.get_by_role("link", name="Dry run").click()
        expect(page.get_by_role("heading", name="Dry run", exact=True)).to_be_visible()

        # Bad input: the form comes back with the field's error, nothing runs.
        page.get_by_label("Days").fill("0")
        page.get_by_role("button", name="Run the dry run").click()
        expect(page.locator("#e-days")).to_have_text("must be a whole number from 1 to 62")
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page.locator("#sim-report")).to_have_count(0)
        check(page, viewport, "simulation-error")

        page.get_by_label("Days").fill("3")
        page.get_by_label("First day").fill("2026-11-25")
        page.get_by_label("Seed (debtor replies)").fill("4")
        page.get_by_role("button", name="Run the dry run").click(timeout=RUN_TIMEOUT_MS)
        expect(page.locator("#sim-report")).to_have_text(
            "Report: 3 days from 2026-11-25", timeout=RUN_TIMEOUT_MS
        )
        violations = page.locator("#sim-violations")
        expect(violations).to_contain_text("Violations: 0")
        expect(violations).to_contain_text("No violations")
        sent = page.locator('[data-stat="messages"]')
        assert int(sent.inner_text().replace(",", "")) >= 2
        for chart in ("chart-sim-days", "chart-sim-hours"):
            svg = page.locator(f"svg#{chart}")
            expect(svg).to_be_visible()
            box = svg.bounding_box()
            assert box is not None and box["width"] > 100
        expect(page.locator("#sim-segments")).to_contain_text("statement")
        expect(page.locator('#sim-lanes tr[data-lane="bulk"]')).to_be_visible()
        expect(page.locator("#capacity-provisional")).to_contain_text("provisional")
        page.locator("summary", has_text="Figures").first.click()
        expect(page.locator("#sim-days tbody tr").first).to_contain_text("2026-11-2")
        check(page, viewport, "simulation-report")
        assert errors == []


@pytest.mark.parametrize("role", ["agent", "viewer"])
def test_a_role_that_may_not_run_it_is_refused_in_the_browser(
    browser: Browser,  # noqa: F811
    live: Live,
    role: str,
) -> None:
    with console(browser, live, "desktop") as (page, errors):
        browser_sign_in(page, role)
        expect(page.get_by_role("link", name="Dry run")).to_have_count(0)
        response = page.goto("/console/simulation")
        assert response is not None and response.status == 403
        expect(page.get_by_role("alert")).to_contain_text(f"Your role ({role}) may not do this.")
        expect(page.get_by_role("button", name="Run the dry run")).to_have_count(0)
        assert errors == []
