"""Foundation: health, settings, auth and tenancy, migrations, CLI."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from app.cli import build_parser, main
from app.clock import FixedClock
from app.config import Settings
from app.creditors.models import ApiKey
from app.db import Database
from app.debts.models import Event
from app.logs import JsonFormatter, mask_phone, redact
from app.main import create_app
from app.migrate import check_no_drift, upgrade_to_head
from tests.conftest import Tenant, make_settings, make_tenant

ROOT = Path(__file__).resolve().parent.parent


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_readyz_reports_unreachable_database(settings: Settings, clock: FixedClock) -> None:
    broken = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(settings, clock=clock, database=broken)
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unreachable"


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/debts" in paths and "/api/v1/creditor" in paths


def test_migrations_match_models(database_url: str) -> None:
    upgrade_to_head(database_url)
    check_no_drift(database_url)


def test_settings_read_contract_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("PARLEY_SMS_GATEWAY", "twilio")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tok")
    monkeypatch.setenv("PARLEY_TWILIO_API_BASE", "http://127.0.0.1:9999")
    monkeypatch.setenv("PARLEY_PUBLIC_URL", "https://x.example/")
    settings = Settings()
    assert settings.sqlalchemy_url == "postgresql+psycopg://u@h/db"
    assert settings.sms_gateway == "twilio"
    assert settings.twilio_account_sid == "AC123"
    assert settings.twilio_auth_token is not None
    assert settings.twilio_auth_token.get_secret_value() == "tok"
    assert settings.twilio_api_base == "http://127.0.0.1:9999"
    assert settings.public_base == "https://x.example"


def test_settings_default_to_sqlite_and_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PARLEY_DATABASE_URL", "PARLEY_SMS_GATEWAY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.sqlalchemy_url.startswith("sqlite:///")
    assert settings.sms_gateway == "simulator"


def test_production_refuses_missing_or_weak_secrets() -> None:
    safe = {
        "environment": "production",
        "sms_gateway": "twilio",
        "twilio_auth_token": "0123456789abcdef0123456789ABCDEF",
        "payment_webhook_secret": "x" * 32,
        "console_secret": "c" * 32,
    }
    with pytest.raises(ValidationError, match="PARLEY_PAYMENT_WEBHOOK_SECRET"):
        Settings.model_validate({**safe, "payment_webhook_secret": None})
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings.model_validate({**safe, "payment_webhook_secret": "x" * 31})
    with pytest.raises(ValidationError, match="PARLEY_CONSOLE_SECRET"):
        Settings.model_validate({**safe, "console_secret": "y"})
    accepted = Settings.model_validate(safe)
    assert accepted.environment == "production"


def test_bad_gateway_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_SMS_GATEWAY", "carrier-pigeon")
    with pytest.raises(ValidationError, match="sms_gateway"):
        Settings()


def test_missing_and_wrong_keys_get_401(client: TestClient) -> None:
    missing = client.get("/api/v1/creditor")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = client.get("/api/v1/creditor", headers={"Authorization": "Bearer pk_nope"})
    assert wrong.status_code == 401
    assert "invalid" in wrong.json()["error"]["message"]


def test_revoked_key_gets_401(
    client: TestClient, tenant: Tenant, db: Database, clock: FixedClock
) -> None:
    with db.transaction() as session:
        key = session.scalars(select(ApiKey).where(ApiKey.creditor_id == tenant.creditor_id)).one()
        key.revoked_at = clock.now()
    assert client.get("/api/v1/creditor", headers=tenant.headers).status_code == 401


def test_agent_key_cannot_change_settings(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    agent = make_tenant(db, clock, "Agents Inc", role="agent")
    assert client.get("/api/v1/creditor", headers=agent.headers).status_code == 200
    response = client.patch(
        "/api/v1/creditor", json={"max_initiated_per_day": 2}, headers=agent.headers
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_creditor_settings_round_trip_and_event(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    response = client.patch(
        "/api/v1/creditor",
        json={
            "payment_scheme": "boleto",
            "contact_window_start": "09:00",
            "country": "br",
            "default_language": "pt-BR",
        },
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body = client.get("/api/v1/creditor", headers=tenant.headers).json()
    assert body["payment_scheme"] == "boleto"
    assert body["contact_window_start"] == "09:00"
    assert body["contact_window_end"] == "21:00"
    assert body["country"] == "BR"
    assert body["max_initiated_per_day"] == 1
    with db.transaction() as session:
        kinds = set(session.scalars(select(Event.kind)))
    assert "creditor.payment_scheme" in kinds


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"contact_window_start": "7:00"}, "contact_window_start"),
        ({"contact_window_start": "07:00"}, "contact_window_start"),
        ({"contact_window_end": "22:00"}, "contact_window_end"),
        ({"contact_window_start": "20:00", "contact_window_end": "10:00"}, ""),
        ({"payment_scheme": "cash"}, "payment_scheme"),
        ({"max_initiated_per_day": 0}, "max_initiated_per_day"),
        ({"country": "XX"}, "country"),
        ({"holiday_country": "US", "holiday_subdivision": "ZZ"}, "holiday_subdivision"),
        ({"unknown_setting": 1}, "unknown_setting"),
    ],
)
def test_bad_creditor_settings_get_422_naming_the_field(
    client: TestClient, tenant: Tenant, patch: dict[str, object], field: str
) -> None:
    before = client.get("/api/v1/creditor", headers=tenant.headers).json()
    response = client.patch("/api/v1/creditor", json=patch, headers=tenant.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(field in f["field"] for f in error["fields"]), error
    assert client.get("/api/v1/creditor", headers=tenant.headers).json() == before


def test_a_key_sees_only_its_own_creditor(
    client: TestClient, db: Database, clock: FixedClock
) -> None:
    a = make_tenant(db, clock, "Creditor A")
    b = make_tenant(db, clock, "Creditor B")
    row = {
        "external_id": "X-1",
        "debtor": {"name": "Ann", "phone": "+14155550123"},
        "amount": 1000,
        "currency": "USD",
        "due_date": "2026-11-01",
    }
    created = client.post("/api/v1/debts", json={"items": [row]}, headers=a.headers).json()
    debt_id = created["results"][0]["id"]
    assert client.get(f"/api/v1/debts/{debt_id}", headers=a.headers).status_code == 200
    for method, path in [
        ("GET", f"/api/v1/debts/{debt_id}"),
        ("GET", f"/api/v1/debts/{debt_id}/messages"),
        ("POST", f"/api/v1/debts/{debt_id}/statements"),
    ]:
        response = client.request(method, path, headers=b.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/debts", headers=b.headers).json() == {"items": [], "total": 0}
    # B importing the same external_id makes B's own debt, leaving A's untouched.
    client.post("/api/v1/debts", json={"items": [{**row, "amount": 5}]}, headers=b.headers)
    assert client.get(f"/api/v1/debts/{debt_id}", headers=a.headers).json()["amount"] == 1000
    assert client.get("/api/v1/creditor", headers=b.headers).json()["name"] == "Creditor B"


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.delete("/healthz").json()["error"]["code"] == "method_not_allowed"


def test_bootstrap_key_is_created_at_startup(
    db: Database, clock: FixedClock, database_url: str
) -> None:
    settings = make_settings(
        database_url, bootstrap_api_key="pk_bootstrap_secret_123", bootstrap_creditor="Boot Co"
    )
    for _ in range(2):  # idempotent across restarts
        with TestClient(create_app(settings, clock=clock, database=db)) as client:
            response = client.get(
                "/api/v1/creditor", headers={"Authorization": "Bearer pk_bootstrap_secret_123"}
            )
            assert response.status_code == 200
            assert response.json()["name"] == "Boot Co"
    with db.transaction() as session:
        assert len(session.scalars(select(ApiKey)).all()) == 1


def test_logs_mask_phone_numbers_and_secrets() -> None:
    assert mask_phone("to +14155550123 now") == "to +*********23 now"
    assert "pk_abcdef123456" not in redact("key pk_abcdef123456")
    record = logging.LogRecord("x", logging.INFO, "", 0, "send to %s", ("+5511987654321",), None)
    record.body = "secret text"
    record.to = "+5511987654321"
    line = JsonFormatter().format(record)
    assert "987654321" not in line and "secret text" not in line


def test_cli_help_lists_every_command() -> None:
    text = build_parser().format_help()
    for command in ("serve", "worker", "migrate", "create-api-key", "import", "classify"):
        assert command in text


def test_cli_migrate_and_create_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**_clean_env(), "PARLEY_DATABASE_URL": url}
    run = [sys.executable, "-m", "app.cli"]
    migrated = subprocess.run(
        [*run, "migrate"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert migrated.returncode == 0, migrated.stderr
    missing = subprocess.run(
        [*run, "create-api-key", "--creditor", "Nobody"], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no creditor named" in missing.stderr
    made = subprocess.run(
        [*run, "create-api-key", "--creditor", "CLI Co", "--create"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("pk_")
    settings = make_settings(url)
    database = Database(url)
    try:
        with TestClient(create_app(settings, database=database)) as client:
            response = client.get("/api/v1/creditor", headers={"Authorization": f"Bearer {key}"})
            assert response.json()["name"] == "CLI Co"
    finally:
        database.dispose()


def test_cli_rejects_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "TWILIO_"))}


def test_lease_must_outlast_a_batch_of_sends() -> None:
    with pytest.raises(ValidationError, match="PARLEY_WORKER_LEASE_SECONDS"):
        Settings(worker_lease_seconds=30, send_timeout_seconds=10, worker_batch_size=50)
    assert Settings(worker_lease_seconds=300).worker_lease_seconds == 300


def test_demo_seed_is_complete_and_repeatable(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    from app.callbacks.models import CallbackCalendar
    from app.debts.models import Debt
    from app.demo import seed_demo
    from app.offers.models import OfferRule
    from app.users.models import User

    for _ in range(2):
        with db.transaction() as session:
            login = seed_demo(session, clock, settings)
        assert login.api_key.startswith("pk_")
    with db.transaction() as session:
        assert len(session.scalars(select(Debt)).all()) == 3
        assert len(session.scalars(select(OfferRule)).all()) == 1
        assert len(session.scalars(select(CallbackCalendar)).all()) == 1
        assert len(session.scalars(select(ApiKey)).all()) == 2
        assert len(session.scalars(select(User)).all()) == 1


def test_webhooks_and_api_answer_503_while_the_database_is_down(
    settings: Settings, clock: FixedClock, is_postgres: bool, tmp_path: Path
) -> None:
    from tests.conftest import AUTH_TOKEN, PUBLIC_URL
    from tests.fake_twilio import inbound_sms_params, status_callback_params, twilio_signature

    url = (
        "postgresql+psycopg://postgres@127.0.0.1:18299/down?connect_timeout=2"
        if is_postgres
        else f"sqlite:///{tmp_path / 'missing-dir' / 'down.db'}"
    )
    app = create_app(settings, clock=clock, database=Database(url))
    inbound = inbound_sms_params(from_="+14155550123", to="+15005550006", body="PAY")
    status = status_callback_params("SM" + "1" * 32, "delivered")
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, params in (
            ("/webhooks/twilio/sms", inbound),
            ("/webhooks/twilio/status", status),
        ):
            signature = twilio_signature(AUTH_TOKEN, f"{PUBLIC_URL}{path}", params)
            response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "database_unavailable"
            assert response.headers["retry-after"] == "5"
        api = client.get("/api/v1/debts", headers={"Authorization": "Bearer whatever"})
        assert api.status_code == 503
