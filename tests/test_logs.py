"""Logs: database errors lose the row values they quote, every request leaves one
access-log line (route template, status, duration, masked client), and refused keys and
webhooks leave a masked trace."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError

from app.access_log import mask_client
from app.clock import FixedClock
from app.creditors.models import Creditor
from app.db import Database
from app.logs import JsonFormatter, RedactingTextFormatter, scrub_database_details
from tests.conftest import Tenant
from tests.fake_twilio import inbound_sms_params
from tests.helpers import import_debt
from tests.payments_support import issue_now

CLIENT = ("203.0.113.77", 51000)


def _formatted(record: logging.LogRecord) -> list[str]:
    return [JsonFormatter().format(record), RedactingTextFormatter().format(record)]


def _error_record(exc: BaseException) -> logging.LogRecord:
    return logging.LogRecord(
        "parley.errors",
        logging.ERROR,
        __file__,
        1,
        "unhandled error",
        None,
        (type(exc), exc, exc.__traceback__),
    )


def test_database_errors_are_logged_without_the_row_values(db: Database, clock: FixedClock) -> None:
    secret_name, secret_address = "Zebulon Quartermaine Ltd", "17 Hidden Lane, Springfield"
    now = clock.now()
    row = {
        "id": "c-1",
        "name": secret_name,
        "address": secret_address,
        "country": "US",
        "created_at": now,
        "updated_at": now,
    }
    with db.transaction() as session:
        session.execute(insert(Creditor).values(**row))
    duplicate = {**row, "id": "c-2"}
    # A unique violation (PostgreSQL: "Key (name)=(...) already exists") and a NOT NULL
    # violation (PostgreSQL: "Failing row contains (...)"), both quoting the values.
    broken = [duplicate, {**row, "id": "c-3", "name": secret_name + " 2", "country": None}]
    for values in broken:
        with pytest.raises(DBAPIError) as info, db.transaction() as session:
            session.execute(insert(Creditor).values(**values))
        if db.is_postgres:
            assert secret_address in str(info.value) or secret_name in str(info.value)
        for line in _formatted(_error_record(info.value)):
            assert secret_name not in line and secret_address not in line
            assert "Zebulon" not in line and "Springfield" not in line
        assert "creditors" in json.loads(_formatted(_error_record(info.value))[0])["exc"]


def test_scrubbing_keeps_the_shape_of_the_error() -> None:
    message = (
        'duplicate key value violates unique constraint "uq_creditors_name"\n'
        "DETAIL:  Key (name)=(Acme (Europe) Ltd) already exists.\n"
        'invalid input syntax for type integer: "4155550123"'
    )
    scrubbed = scrub_database_details(message)
    assert "uq_creditors_name" in scrubbed
    assert "Acme" not in scrubbed and "4155550123" not in scrubbed
    assert "DETAIL: [row values removed]" in scrubbed


def test_mask_client_keeps_only_the_network() -> None:
    assert mask_client("203.0.113.77") == "203.0.113.0/24"
    assert mask_client("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert mask_client("testclient") == "-" and mask_client(None) == "-"


def test_every_request_leaves_one_access_log_line(
    app: object,
    db: Database,
    clock: FixedClock,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="parley.access")
    with TestClient(app, client=CLIENT) as client:  # type: ignore[arg-type]
        debt_id = import_debt(client, tenant)
        code = issue_now(db, clock, tenant, debt_id)
        caplog.clear()
        client.get(f"/api/v1/debts/{debt_id}", headers=tenant.headers)
        client.get(f"/p/{code.token}")
        client.get("/api/v1/creditor", headers={"Authorization": "Bearer pk_wrong"})
        client.get("/no/such/route")
    records = [r for r in caplog.records if r.name == "parley.access"]
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", "/api/v1/debts/{debt_id}", 200),
        ("GET", "/p/{token}", 200),
        ("GET", "/api/v1/creditor", 401),
        ("GET", "(unmatched)", 404),
    ]
    lines = [json.loads(JsonFormatter().format(r)) for r in records]
    for line in lines:
        assert line["client"] == "203.0.113.0/24"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    logged = json.dumps(lines)
    assert code.token not in logged and debt_id not in logged and "203.0.113.77" not in logged


def test_refused_webhooks_leave_a_masked_trace(
    app: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    params = inbound_sms_params(from_="+14155550123", to="+15005550006", body="STOP")
    with TestClient(app, client=CLIENT) as client:  # type: ignore[arg-type]
        response = client.post(
            "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": "forged"}
        )
    assert response.status_code == 403
    [trace] = [r for r in caplog.records if "twilio webhook refused" in r.getMessage()]
    assert trace.client == "203.0.113.0/24"
    formatted = JsonFormatter().format(trace)
    assert "+14155550123" not in formatted and "forged" not in formatted
