"""`parley simulate` and `POST /api/v1/simulations`: a dry run of a creditor's rules on
a throw-away copy, with the real worker, jobs and governor on a simulated clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.debts.models import Debt
from app.demo import seed_demo
from app.messaging.models import Message
from app.simulation import lane_capacity, run_simulation
from tests.conftest import Tenant, make_settings, make_tenant
from tests.helpers import debt_row

# Fifteen zones on both sides of the date line, with and without DST; the month runs
# over Europe's (25 October) and North America's (1 November) change back to winter time.
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Europe/London",
    "Europe/Madrid",
    "Africa/Cairo",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
]


def portfolio(count: int) -> list[dict[str, object]]:
    rows = []
    for i in range(count):
        rows.append(
            debt_row(
                f"SIM-{i}",
                debtor_name=f"Debtor {i}",
                debtor_phone=f"+1{212 + i // 10_000 * 100}555{i % 10_000:04d}",
                debtor_timezone=ZONES[i % len(ZONES)],
                amount=5_000 + (i * 37) % 50_000,
                due_date=date(2026, 10, 14 + i % 35).isoformat()
                if 14 + i % 35 <= 31
                else date(2026, 11, 14 + i % 35 - 31).isoformat(),
            )
        )
    return rows


def test_a_month_for_two_thousand_debtors_over_fifteen_zones_breaks_no_rule(
    client: TestClient, db: Database, clock: FixedClock, settings: Settings
) -> None:
    tenant = make_tenant(db, clock, "Month Test Lending")
    response = client.patch(
        "/api/v1/creditor",
        json={"cadence_enabled": True, "cadence_offsets": [-3, 0, 7]},
        headers=tenant.headers,
    )
    assert response.status_code == 200
    imported = client.post(
        "/api/v1/debts", json={"items": portfolio(2_000)}, headers=tenant.headers
    )
    assert {r["status"] for r in imported.json()["results"]} == {"created"}
    result = run_simulation(
        db,
        "Month Test Lending",
        days=31,
        start=date(2026, 10, 20),
        seed=7,
        settings=settings,
    )
    assert result["violations"] == []
    assert result["debtors"] == 2_000
    # Every debt gets at least one statement in the month.
    assert result["initiated"] >= 2_000
    assert result["inbound"] > 100 and result["replies"] > 100 and result["payments"] > 10
    hours = result["by_local_hour"]
    assert set(hours) == {str(h) for h in range(24)}
    initiated_hours = sum(hours[str(h)] for h in range(8, 21))
    assert initiated_hours >= result["initiated"]
    # Paced: the opening hour carries far less than the one wave it used to be.
    assert hours["8"] < result["initiated"] * 0.4
    assert result["held_by_reason"].get("outside_window", 0) > 0
    # The real data is untouched.
    with db.transaction() as session:
        assert session.scalar(select(func.count(Message.id))) == 0
        assert session.scalar(select(func.count(Debt.id))) == 2_000


def test_the_demo_creditor_simulates_a_month_without_violations(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    with db.transaction() as session:
        seed_demo(session, clock, settings)
        from app.creditors.models import Creditor

        name = session.scalars(select(Creditor.name)).one()
    result = run_simulation(db, name, days=30, start=date(2026, 11, 25), seed=1, settings=settings)
    assert result["violations"] == []
    assert result["messages"] >= 3
    assert set(result) >= {"messages", "by_local_hour", "held_by_reason", "violations"}


def test_the_api_and_the_command_line_give_the_report(
    client: TestClient, tenant: Tenant, database_url: str
) -> None:
    client.post(
        "/api/v1/debts", json={"items": portfolio(30)}, headers=tenant.headers
    ).raise_for_status()
    response = client.post(
        "/api/v1/simulations", json={"days": 3, "seed": 2}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["violations"] == [] and report["initiated"] >= 30
    for body, field in (({"days": 0}, "days"), ({"days": 2, "start": "soon"}, "start")):
        bad = client.post("/api/v1/simulations", json=body, headers=tenant.headers)
        assert bad.status_code == 422
        assert field in {f["field"].split(".")[-1] for f in bad.json()["error"]["fields"]}
    env = {**os.environ, "PARLEY_DATABASE_URL": database_url, "PARLEY_LOG_JSON": "false"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "simulate",
            "--creditor",
            "Acme Finance",
            "--days",
            "2",
            "--start",
            "2026-11-25",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["violations"] == [] and printed["initiated"] >= 30
    missing = subprocess.run(
        [sys.executable, "-m", "app.cli", "simulate", "--creditor", "Nobody", "--days", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2 and "Nobody" in missing.stderr


def test_the_report_prices_segments_and_sizes_each_lane(
    client: TestClient, tenant: Tenant, db: Database, database_url: str
) -> None:
    client.post(
        "/api/v1/debts", json={"items": portfolio(30)}, headers=tenant.headers
    ).raise_for_status()
    # A dearer segment and a slow worker (one send at a time, 120 s timeout: no lane can
    # promise a whole text a minute).
    settings = make_settings(
        database_url,
        sms_segment_price_micro_usd=12_500,
        send_concurrency=1,
        send_timeout_seconds=120.0,
        worker_batch_size=1,
    )
    result = run_simulation(
        db, "Acme Finance", days=3, start=date(2026, 11, 25), seed=2, settings=settings
    )
    assert result["violations"] == []
    segments = result["segments"]
    assert segments >= result["messages"] >= 30
    assert result["segment_price_micro_usd"] == 12_500
    assert result["estimated_cost_usd"] == round(segments * 12_500 / 1_000_000, 2)
    by_kind = result["segments_by_kind"]
    assert "statement" in by_kind
    assert sum(k["segments"] for k in by_kind.values()) == segments
    assert sum(k["messages"] for k in by_kind.values()) == result["messages"]
    assert by_kind["statement"]["estimated_cost_usd"] == round(
        by_kind["statement"]["segments"] * 0.0125, 2
    )
    assert sum(result["segments_by_day"].values()) == segments
    assert set(result["segments_by_day"]) == set(result["messages_by_day"])
    capacity = result["lane_capacity"]
    assert capacity["provisional"] is True and "PARLEY_SEND_CONCURRENCY" in capacity["source"]
    assert (capacity["per_minute"], capacity["per_hour"]) == (0, 30)
    lanes = result["lanes"]
    assert set(lanes) == {"answer", "notice", "reminder", "bulk"}
    assert sum(lane["messages"] for lane in lanes.values()) == result["messages"]
    assert lanes["bulk"]["messages"] >= 30 and lanes["bulk"]["fits"] is False
    assert 1 <= lanes["bulk"]["peak_per_minute"] <= lanes["bulk"]["peak_per_hour"]
    assert lanes["bulk"]["peak_hour_share"] == round(lanes["bulk"]["peak_per_hour"] / 30, 4)
    replies = result["expected_replies"]
    assert replies["inbound"] == result["inbound"] > 0
    assert 1 <= replies["peak_per_hour"] <= replies["inbound"]


def test_the_default_price_and_capacity_come_from_the_settings(
    client: TestClient, tenant: Tenant, db: Database, settings: Settings
) -> None:
    client.post(
        "/api/v1/debts", json={"items": portfolio(3)}, headers=tenant.headers
    ).raise_for_status()
    result = run_simulation(
        db, "Acme Finance", days=1, start=date(2026, 11, 25), seed=1, settings=settings
    )
    assert result["segment_price_micro_usd"] == settings.sms_segment_price_micro_usd == 8_300
    per_second = settings.send_concurrency / settings.send_timeout_seconds
    assert result["lane_capacity"]["per_hour"] == int(per_second * 3600)
    assert all(lane["fits"] for lane in result["lanes"].values())


def test_the_busiest_window_slides() -> None:
    from datetime import UTC, datetime, timedelta

    from app.simulation import _peak

    t0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
    at = [t0, t0 + timedelta(seconds=50), t0 + timedelta(seconds=70), t0 + timedelta(seconds=90)]
    assert _peak(at, timedelta(minutes=1)) == 3
    assert _peak(at, timedelta(hours=1)) == 4
    assert _peak([], timedelta(minutes=1)) == 0
    # A window holds what is less than `width` after its first moment.
    assert _peak([t0, t0 + timedelta(minutes=1)], timedelta(minutes=1)) == 1


def test_lane_capacity_is_the_lane_budget_when_one_is_set(settings: Settings) -> None:
    budgeted = settings.model_copy(
        update={"lane_messages_per_second": 5, "account_messages_per_second": 3}
    )
    capacity = lane_capacity(budgeted)
    assert capacity["provisional"] is False
    assert "PARLEY_LANE_MESSAGES_PER_SECOND" in capacity["source"]
    assert (capacity["per_second"], capacity["per_minute"], capacity["per_hour"]) == (
        3,
        180,
        10_800,
    )
    assert lane_capacity(settings)["provisional"] is True
