"""The console over HTTP (no browser): sign-in, the session cookie, CSRF, throttling,
every page for every role, and what each role may change. The browser tests are in
test_in_a_browser.py."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.callbacks.models import Callback
from app.clock import FixedClock
from app.conversations.models import Conversation
from app.creditors.models import Creditor
from app.db import Database
from app.debts.models import Debt
from app.messaging.models import Message
from app.offers.models import OfferRule
from tests.conftest import Tenant, make_tenant
from tests.console.support import (
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    Portfolio,
    csrf_of,
    email_of,
    make_portfolio,
    make_users,
    sign_in,
)

PAGES = (
    "/console",
    "/console/debts",
    "/console/inbox",
    "/console/callbacks",
    "/console/rules",
    "/console/settings",
    "/console/import",
    "/console/analytics",
)


@pytest.fixture
def https(app: Any) -> Iterator[TestClient]:
    """A client that reaches the app over https, as behind the TLS proxy (the session
    cookie is Secure, so it is only sent over https)."""
    with TestClient(app, base_url="https://testserver") as client:
        yield client


@pytest.fixture
def portfolio(https: TestClient, db: Database, clock: FixedClock, tenant: Tenant) -> Portfolio:
    make_users(db, clock, tenant)
    return make_portfolio(https, clock, tenant)


def _conversation_id(db: Database) -> str:
    with db.transaction() as session:
        return session.scalars(select(Conversation.id)).one()


def _callback_id(db: Database) -> str:
    with db.transaction() as session:
        return session.scalars(select(Callback.id)).one()


def _rule_id(db: Database) -> str:
    with db.transaction() as session:
        return session.scalars(select(OfferRule.id)).one()


# ---------------------------------------------------------------- sign in / out


def test_login_form_has_the_contract_fields(https: TestClient) -> None:
    page = https.get("/console/login")
    assert page.status_code == 200
    html = page.text
    assert re.search(r'<input[^>]+name="email"', html)
    assert re.search(
        r'<input[^>]+name="password"[^>]+type="password"|type="password"[^>]+name="password"', html
    )
    assert re.search(r'<button[^>]+type="submit"', html)
    assert "Content-Security-Policy" in page.headers


def test_pages_redirect_to_login_when_signed_out(https: TestClient) -> None:
    for path in PAGES:
        response = https.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/console/login?next=")


def test_sign_in_sets_a_signed_httponly_secure_cookie_and_logout_ends_it(
    https: TestClient, portfolio: Portfolio
) -> None:
    page = https.get("/console/login")
    response = https.post(
        "/console/login",
        data={"email": email_of("admin"), "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("parley_console=")
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=lax" in flags and "secure" in flags
    assert "path=/console" in flags
    dashboard = https.get("/console")
    assert dashboard.status_code == 200 and email_of("admin") in dashboard.text

    # A tampered cookie is no session at all.
    value = https.cookies.get("parley_console")
    assert value
    fresh = TestClient(https.app, base_url="https://testserver")
    fresh.cookies.set("parley_console", value[:-3] + "xyz", path="/console")
    assert fresh.get("/console", follow_redirects=False).status_code == 303

    out = https.post(
        "/console/logout", data={"csrf_token": csrf_of(dashboard.text)}, follow_redirects=False
    )
    assert out.status_code == 303
    assert "parley_console=null" in out.headers["set-cookie"]
    https.cookies.clear()
    assert https.get("/console", follow_redirects=False).status_code == 303


def test_wrong_password_is_refused_and_repeated_failures_are_throttled(
    https: TestClient, portfolio: Portfolio
) -> None:
    page = https.get("/console/login")
    token = csrf_of(page.text)
    for _ in range(5):
        wrong = https.post(
            "/console/login",
            data={"email": email_of("admin"), "password": "not the password", "csrf_token": token},
        )
        assert wrong.status_code == 401
        assert "Wrong email or password." in wrong.text
    # Now even the right password waits.
    throttled = https.post(
        "/console/login",
        data={"email": email_of("admin"), "password": PASSWORD, "csrf_token": token},
    )
    assert throttled.status_code == 429
    assert "Too many failed attempts" in throttled.text


def test_guessing_many_emails_from_one_address_is_throttled_too(
    https: TestClient, portfolio: Portfolio
) -> None:
    token = csrf_of(https.get("/console/login").text)
    for n in range(5):
        guess = https.post(
            "/console/login",
            data={"email": f"nobody{n}@acme.example", "password": PASSWORD, "csrf_token": token},
        )
        assert guess.status_code == 401
    right = https.post(
        "/console/login",
        data={"email": email_of("viewer"), "password": PASSWORD, "csrf_token": token},
    )
    assert right.status_code == 429


def test_forms_without_the_csrf_token_are_refused(
    https: TestClient, portfolio: Portfolio, db: Database
) -> None:
    no_token = https.post("/console/login", data={"email": email_of("admin"), "password": PASSWORD})
    assert no_token.status_code == 403
    sign_in(https, "admin")
    cid = _conversation_id(db)
    for data in ({}, {"csrf_token": "forged"}):
        refused = https.post(f"/console/inbox/{cid}/handled", data=data)
        assert refused.status_code == 403
        assert "The form expired" in refused.text
    with db.transaction() as session:
        assert session.scalars(select(Conversation.needs_attention)).one() is True


def test_next_is_kept_inside_the_console(https: TestClient, portfolio: Portfolio) -> None:
    page = https.get("/console/login?next=https://evil.example/")
    response = https.post(
        "/console/login",
        data={
            "email": email_of("viewer"),
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console"


# ---------------------------------------------------------------------- pages


@pytest.mark.parametrize("role", ["admin", "agent", "viewer"])
def test_every_page_renders_for_every_role_with_nothing_from_another_host(
    https: TestClient, portfolio: Portfolio, role: str
) -> None:
    sign_in(https, role)
    rule = f"/console/rules/{portfolio.rule_id}"
    for path in (*PAGES, f"/console/debts/{portfolio.debt_id}", rule, "/console/rules/new"):
        response = https.get(path)
        refused = {
            "agent": ("/console/rules", "/console/analytics", rule, "/console/rules/new"),
            "viewer": ("/console/rules/new",),
        }.get(role, ())
        if path in refused:
            assert response.status_code == 403, path
            continue
        assert response.status_code == 200, (path, response.text[:500])
        html = response.text
        # Every src/href is on this host (or a data: icon, a tel: link).
        for url in re.findall(r'(?:src|href|action)="([^"]+)"', html):
            assert url.startswith(("/", "#", "data:", "tel:", "?")) or url.startswith(
                "https://parley.example.com/p/"
            ), (path, url)
        assert "default-src 'self'" in response.headers["content-security-policy"]


def test_static_assets_are_served_from_the_package(https: TestClient) -> None:
    for name, kind in (
        ("htmx.min.js", "javascript"),
        ("console.js", "javascript"),
        ("console.css", "css"),
    ):
        response = https.get(f"/console/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert "htmx" in https.get("/console/static/htmx.min.js").text[:200]


def test_pages_speak_the_chosen_language(https: TestClient, portfolio: Portfolio) -> None:
    csrf = sign_in(https, "admin")
    https.post("/console/language", data={"lang": "pt-BR", "csrf_token": csrf, "next": "/console"})
    page = https.get("/console")
    assert 'lang="pt-BR"' in page.text and "Caixa de entrada" in page.text
    https.post("/console/language", data={"lang": "es", "csrf_token": csrf_of(page.text)})
    assert "Bandeja" in https.get("/console").text
    browser_says = TestClient(https.app, base_url="https://testserver").get(
        "/console/login", headers={"Accept-Language": "es-MX,es;q=0.9"}
    )
    assert 'lang="es"' in browser_says.text and "Iniciar sesión" in browser_says.text


def test_search_finds_a_debt_by_phone_in_any_format(
    https: TestClient, portfolio: Portfolio
) -> None:
    sign_in(https, "viewer")
    for query in ("(415) 555-0123", "415.555.0123", "+1 415 555 0123", "4155550123", "0123"):
        page = https.get("/console/debts", params={"q": query})
        assert page.status_code == 200
        assert "Alex Morgan" in page.text and "Jamie Rivera" not in page.text, query
        assert "Showing 1–1 of 1" in page.text, query


def test_search_by_name_external_id_and_filters(https: TestClient, portfolio: Portfolio) -> None:
    sign_in(https, "viewer")
    assert "Jamie Rivera" in https.get("/console/debts", params={"q": "rivera"}).text
    assert "Alex Morgan" in https.get("/console/debts", params={"q": "INV-1"}).text
    by_segment = https.get("/console/debts", params={"segment": "retail"}).text
    assert "Jamie Rivera" in by_segment and "Alex Morgan" not in by_segment
    # Alex is 27 days past due, Jamie 116.
    old = https.get("/console/debts", params={"dpd_min": "60"}).text
    assert "Jamie Rivera" in old and "Alex Morgan" not in old
    both = https.get("/console/debts").text
    assert "Showing 1–2 of 2" in both
    bad = https.get("/console/debts", params={"dpd_min": "many"})
    assert bad.status_code == 422 and "dpd_min" in bad.text


def test_csv_export_neutralises_formulas(
    https: TestClient, portfolio: Portfolio, db: Database
) -> None:
    with db.transaction() as session:
        debt = session.get(Debt, portfolio.other_debt_id)
        assert debt is not None
        from app.debts.models import Debtor

        debtor = session.get(Debtor, debt.debtor_id)
        assert debtor is not None
        debtor.name = '=HYPERLINK("http://evil")'
    sign_in(https, "viewer")
    response = https.get("/console/debts/export.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))
    assert len(rows) == 2
    names = {r["debtor_name"] for r in rows}
    assert '\'=HYPERLINK("http://evil")' in names and "Alex Morgan" in names
    # The page's filters apply to the export too.
    only = list(
        csv.DictReader(
            io.StringIO(
                https.get("/console/debts/export.csv", params={"q": "alex"}).text.removeprefix(
                    "\ufeff"
                )
            )
        )
    )
    assert [r["debtor_name"] for r in only] == ["Alex Morgan"]
    for path in ("/console/exports/messages.csv", "/console/exports/payments.csv"):
        exported = https.get(path)
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")


def test_debt_page_shows_the_conversation_with_statuses(
    https: TestClient, portfolio: Portfolio
) -> None:
    sign_in(https, "admin")
    page = https.get(f"/console/debts/{portfolio.debt_id}").text
    assert "who decides about my grandmother&#39;s parrot?" in page
    assert 'class="chat"' in page and 'class="inbound"' in page and 'class="outbound"' in page
    assert "$123.60" in page


def test_agent_sees_no_amounts(https: TestClient, portfolio: Portfolio) -> None:
    sign_in(https, "agent")
    page = https.get(f"/console/debts/{portfolio.debt_id}").text
    assert "$123.60" not in page and "—" in page
    assert "12360" not in page  # nor in the history's money events
    assert "$123.60" not in https.get("/console/debts").text
    assert "Close the debt" not in page and "Reply" in page


def test_reply_from_the_inbox_is_queued_through_the_outbox(
    https: TestClient, portfolio: Portfolio, db: Database
) -> None:
    csrf = sign_in(https, "agent")
    cid = _conversation_id(db)
    inbox = https.get("/console/inbox").text
    assert "parrot" in inbox
    response = https.post(
        f"/console/inbox/{cid}/reply",
        data={"body": "Hi Alex, an agent will call you.", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "notice=reply_queued" in response.headers["location"]
    with db.transaction() as session:
        message = session.scalars(select(Message).where(Message.kind == "agent")).one()
        assert message.body == "Hi Alex, an agent will call you."
        assert message.status in ("queued", "scheduled")
    # The debt page says why it has not gone yet: 07:00 in Los Angeles is before the window.
    page = https.get(f"/console/debts/{portfolio.debt_id}").text
    assert "Held: outside the contact window (08:00–21:00, America/Los_Angeles)" in page
    # Assign, then mark handled: it leaves the queue.
    https.post(f"/console/inbox/{cid}/assign", data={"csrf_token": csrf})
    assert email_of("agent") in https.get("/console/inbox").text
    https.post(f"/console/inbox/{cid}/handled", data={"csrf_token": csrf})
    assert "Nobody is waiting" in https.get("/console/inbox").text


def test_empty_reply_is_refused_with_the_reason(
    https: TestClient, portfolio: Portfolio, db: Database
) -> None:
    csrf = sign_in(https, "agent")
    response = https.post(
        f"/console/inbox/{_conversation_id(db)}/reply", data={"body": "  ", "csrf_token": csrf}
    )
    assert response.status_code == 422 and "write a message" in response.text


def test_callbacks_claim_complete_and_reschedule(
    https: TestClient, portfolio: Portfolio, db: Database
) -> None:
    csrf = sign_in(https, "agent")
    cbid = _callback_id(db)
    page = https.get("/console/callbacks").text
    assert "Alex Morgan" in page
    slot = re.search(r'name="starts_at"><option value="([^"]+)"', page)
    assert slot is not None
    moved = https.post(
        f"/console/callbacks/{cbid}/reschedule",
        data={"starts_at": slot.group(1), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert moved.status_code == 303, moved.text
    assert (
        https.post(
            f"/console/callbacks/{cbid}/claim", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    done = https.post(
        f"/console/callbacks/{cbid}/complete",
        data={"outcome": "reached", "notes": "will pay Friday", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with db.transaction() as session:
        callback = session.get(Callback, cbid)
        assert callback is not None
        assert (callback.status, callback.agent, callback.outcome) == (
            "completed",
            email_of("agent"),
            "reached",
        )
    again = https.post(f"/console/callbacks/{cbid}/claim", data={"csrf_token": csrf})
    assert again.status_code == 409 and "cannot claim a completed callback" in again.text


def test_rule_preview_follows_the_form_and_saving_validates(
    https: TestClient, portfolio: Portfolio, db: Database
) -> None:
    csrf = sign_in(https, "admin")
    rule_id = _rule_id(db)
    form = {
        "csrf_token": csrf,
        "rule_id": rule_id,
        "name": "Standard",
        "priority": "10",
        "lump_sum_discount_pct": "20",
        "lump_sum_valid_days": "7",
        "installment_counts": "3, 6",
        "monthly_interest_pct": "0",
        "min_installment": "1000",
        "first_installment_in_days": "7",
        "preview_balance": "50000",
        "preview_dpd": "30",
    }
    preview = https.post("/console/rules/preview", data=form, headers={"HX-Request": "true"})
    assert preview.status_code == 200
    assert "Pay in full: $400.00" in preview.text and "Option 1: 3 × $166.67" in preview.text
    # The preview stored nothing.
    with db.transaction() as session:
        rule = session.get(OfferRule, rule_id)
        assert rule is not None and str(rule.lump_sum_discount_pct) in ("10", "10.00")
        assert rule.version == 1
    bad = https.post(f"/console/rules/{rule_id}", data={**form, "lump_sum_discount_pct": "150"})
    assert bad.status_code == 422 and "lump_sum_discount_pct" in bad.text
    saved = https.post(f"/console/rules/{rule_id}", data=form, follow_redirects=False)
    assert saved.status_code == 303
    with db.transaction() as session:
        rule = session.get(OfferRule, rule_id)
        assert rule is not None and rule.version == 2


def test_settings_save_and_validate(https: TestClient, portfolio: Portfolio, db: Database) -> None:
    csrf = sign_in(https, "admin")
    page = https.get("/console/settings").text
    assert 'name="contact_window_start"' in page
    wrong = https.post(
        "/console/settings",
        data={
            "csrf_token": csrf,
            "contact_window_start": "07:00",
            "contact_window_end": "21:00",
            "max_initiated_per_day": "1",
            "payment_scheme": "reference",
            "default_language": "en",
            "country": "US",
            "rebill_every_days": "30",
            "cadence_offsets": "-3, 0, 7",
        },
    )
    assert wrong.status_code == 422 and "08:00" in wrong.text
    ok = https.post(
        "/console/settings",
        data={
            "csrf_token": csrf,
            "contact_window_start": "09:00",
            "contact_window_end": "20:00",
            "max_initiated_per_day": "2",
            "payment_scheme": "reference",
            "default_language": "en",
            "country": "US",
            "rebill_every_days": "30",
            "cadence_offsets": "-3, 0, 7",
            "contact_phone": "+14155550100",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    with db.transaction() as session:
        creditor = session.scalars(select(Creditor)).one()
        assert (creditor.contact_window_start, creditor.max_initiated_per_day) == ("09:00", 2)


def test_import_reports_rows_and_errors(https: TestClient, portfolio: Portfolio) -> None:
    csrf = sign_in(https, "admin")
    body = (
        "external_id,name,phone,language,timezone,amount,currency,due_date,description\n"
        "NEW-1,Sam Lee,+14155550177,en,America/New_York,5000,USD,2026-11-01,x\n"
        "NEW-2,Bad Row,not-a-phone,en,America/New_York,-5,USD,2026-11-01,x\n"
    )
    response = https.post(
        "/console/import",
        data={"csrf_token": csrf},
        files={"file": ("debts.csv", body.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert "2 rows: 1 created, 0 updated, 1 failed." in response.text
    assert 'id="import-errors"' in response.text and "NEW-2" in response.text


def test_analytics_draws_every_chart_as_svg(https: TestClient, portfolio: Portfolio) -> None:
    sign_in(https, "viewer")
    page = https.get("/console/analytics").text
    for chart in (
        "chart-recovery",
        "chart-funnel",
        "chart-intents",
        "chart-opt-out",
        "chart-promises",
        "chart-plans",
    ):
        assert f'<svg class="chart" id="{chart}" role="img"' in page, chart
    assert 'id="cohorts-1"' in page and 'id="cohorts-2"' in page


# ---------------------------------------------------------------------- roles


def _all_changes(portfolio: Portfolio, db: Database) -> list[tuple[str, dict[str, str]]]:
    cid, cbid, rid = _conversation_id(db), _callback_id(db), _rule_id(db)
    return [
        (f"/console/debts/{portfolio.debt_id}/close", {}),
        (f"/console/debts/{portfolio.debt_id}/pause", {}),
        (f"/console/debts/{portfolio.debt_id}/resume", {}),
        (
            f"/console/debts/{portfolio.debt_id}/book-call",
            {"starts_at": "2026-11-30T15:00:00+00:00"},
        ),
        (f"/console/inbox/{cid}/reply", {"body": "hello"}),
        (f"/console/inbox/{cid}/assign", {}),
        (f"/console/inbox/{cid}/handled", {}),
        (f"/console/callbacks/{cbid}/claim", {}),
        (f"/console/callbacks/{cbid}/complete", {"outcome": "reached"}),
        (f"/console/callbacks/{cbid}/reschedule", {"starts_at": "2026-11-30T15:00:00+00:00"}),
        (f"/console/rules/{rid}", {"name": "X"}),
        ("/console/rules/new", {"name": "X"}),
        ("/console/settings", {"contact_window_start": "09:00"}),
        ("/console/import", {}),
    ]


def _state(db: Database) -> tuple[Any, ...]:
    with db.transaction() as session:
        return (
            sorted((d.status, d.balance) for d in session.scalars(select(Debt))),
            session.scalars(select(Message.id).where(Message.kind == "agent")).all(),
            [(c.status, c.agent) for c in session.scalars(select(Callback))],
            [(c.needs_attention, c.assigned_to) for c in session.scalars(select(Conversation))],
            [r.version for r in session.scalars(select(OfferRule))],
            [c.contact_window_start for c in session.scalars(select(Creditor))],
        )


def test_a_viewer_changes_nothing(https: TestClient, portfolio: Portfolio, db: Database) -> None:
    csrf = sign_in(https, "viewer")
    before = _state(db)
    for path, data in _all_changes(portfolio, db):
        response = https.post(path, data={**data, "csrf_token": csrf})
        assert response.status_code == 403, path
        assert "may not do this" in response.text, path
    assert _state(db) == before


AGENT_MAY_NOT = ("/close", "/pause", "/resume", "/rules/", "/settings", "/import")


def test_an_agent_cannot_change_money_or_settings(
    https: TestClient, portfolio: Portfolio, db: Database
) -> None:
    csrf = sign_in(https, "agent")
    before = _state(db)
    for path, data in _all_changes(portfolio, db):
        if not any(part in path for part in AGENT_MAY_NOT):
            continue
        response = https.post(path, data={**data, "csrf_token": csrf})
        assert response.status_code == 403, path
    assert _state(db) == before
    for path in ("/console/rules", "/console/analytics", "/console/rules/new"):
        assert https.get(path).status_code == 403, path


def test_an_admin_closes_a_debt_and_it_shows(
    https: TestClient, portfolio: Portfolio, db: Database
) -> None:
    csrf = sign_in(https, "admin")
    response = https.post(
        f"/console/debts/{portfolio.other_debt_id}/close", data={"csrf_token": csrf}
    )
    assert response.status_code == 200
    assert 'id="debt-status"><span class="badge closed">closed' in response.text
    again = https.post(f"/console/debts/{portfolio.other_debt_id}/pause", data={"csrf_token": csrf})
    assert again.status_code == 422 and "cannot be paused" in again.text


def test_another_creditors_debt_is_not_found(
    https: TestClient, portfolio: Portfolio, db: Database, clock: FixedClock
) -> None:
    other = make_tenant(db, clock, "Other Co")
    with TestClient(https.app, base_url="https://testserver") as client:
        from tests.helpers import import_debt

        other_debt = import_debt(client, other, external_id="O-1", debtor_phone=OTHER_PHONE)
    sign_in(https, "admin")
    assert https.get(f"/console/debts/{other_debt}").status_code == 404
    assert PHONE


# ---------------------------------------------------------------- the catalog


def test_every_word_is_in_every_language() -> None:
    from string import Formatter

    from app.console.i18n import CANNED_REPLIES, CATALOG

    english = CATALOG["en"]
    for language, words in CATALOG.items():
        assert set(words) == set(english), language
        for key, text in words.items():
            names = {f for _, f, _, _ in Formatter().parse(text) if f}
            expected = {f for _, f, _, _ in Formatter().parse(english[key]) if f}
            assert names == expected, (language, key)
    assert set(CANNED_REPLIES) == set(CATALOG)
    assert {len(v) for v in CANNED_REPLIES.values()} == {3}


def test_templates_use_only_words_in_the_catalog() -> None:
    from pathlib import Path

    from app.console.i18n import CATALOG

    console = Path(__file__).resolve().parents[2] / "app" / "console"
    used: set[str] = set()
    sources = [*console.glob("templates/*.html"), *console.glob("*.py")]
    for path in [p for p in sources if p.name != "i18n.py"]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']""", path.read_text()))
    assert used and used <= set(CATALOG["en"]), used - set(CATALOG["en"])


def test_signed_out_posts_are_sent_to_sign_in_unread(https: TestClient) -> None:
    response = https.post(
        "/console/import",
        files={"file": ("debts.csv", b"external_id\n" * 1000, "text/csv")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login")
    # The language switch works before signing in.
    page = https.get("/console/login")
    switched = https.post(
        "/console/language",
        data={"lang": "pt-BR", "csrf_token": csrf_of(page.text), "next": "/console/login"},
    )
    assert switched.status_code == 200 and "Entrar" in switched.text


def test_callbacks_show_in_the_agents_own_zone(https: TestClient, portfolio: Portfolio) -> None:
    sign_in(https, "agent")
    assert "Times in America/New_York" in https.get("/console/callbacks").text
    https.cookies.set("parley_tz", "America/Sao_Paulo", path="/console")
    assert "Times in America/Sao_Paulo" in https.get("/console/callbacks").text
    https.cookies.set("parley_tz", "Mars/Olympus_Mons", path="/console")
    assert "Times in America/New_York" in https.get("/console/callbacks").text


def test_an_agent_books_a_call_from_the_debt_page(
    https: TestClient, portfolio: Portfolio, db: Database
) -> None:
    csrf = sign_in(https, "agent")
    page = https.get(f"/console/debts/{portfolio.other_debt_id}").text
    slot = re.search(r'<select id="slot" name="starts_at"><option value="([^"]+)"', page)
    assert slot is not None
    booked = https.post(
        f"/console/debts/{portfolio.other_debt_id}/book-call",
        data={"starts_at": slot.group(1), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert booked.status_code == 303 and "notice=booked" in booked.headers["location"]
    with db.transaction() as session:
        callback = session.scalars(
            select(Callback).where(Callback.debt_id == portfolio.other_debt_id)
        ).one()
        assert (callback.status, callback.source) == ("booked", "console")
    # A time that is no slot is refused with the reason, and nothing is booked.
    wrong = https.post(
        f"/console/debts/{portfolio.debt_id}/book-call",
        data={"starts_at": "2026-11-29T03:00:00+00:00", "csrf_token": csrf},
    )
    assert wrong.status_code == 422 and "no open slot" in wrong.text
