"""Request bodies are limited while they are read, before parsing and before the API key
is checked: 413 with the JSON error body. Only the CSV import may send more."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.clock import FixedClock
from app.db import Database
from app.main import create_app
from app.messaging.gateway import SimulatorGateway
from tests.conftest import Tenant, make_settings

JSON_LIMIT = 4096
IMPORT_LIMIT = 64 * 1024
CSV_HEADER = "external_id,name,phone,amount,currency,due_date\n"


@pytest.fixture
def small_client(db: Database, database_url: str, clock: FixedClock) -> Iterator[TestClient]:
    settings = make_settings(
        database_url, max_body_bytes=JSON_LIMIT, max_import_body_bytes=IMPORT_LIMIT
    )
    app = create_app(settings, clock=clock, gateway=SimulatorGateway(), database=db)
    with TestClient(app) as client:
        yield client


def _assert_too_large(response: Any, limit: int) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(limit) in error["message"]
    assert error["fields"][0]["field"] == "body"


def _csv(rows: int) -> str:
    lines = [
        f"INV-{i},Debtor {i},+1415555{i % 10000:04d},1000,USD,2026-10-01\n" for i in range(rows)
    ]
    return CSV_HEADER + "".join(lines)


def test_declared_oversize_body_is_refused_before_authentication(
    small_client: TestClient,
) -> None:
    # No Authorization header at all: the size decides first, so the answer is 413, not 401.
    body = b'{"items": [' + b" " * JSON_LIMIT + b"]}"
    response = small_client.post(
        "/api/v1/debts", content=body, headers={"Content-Type": "application/json"}
    )
    _assert_too_large(response, JSON_LIMIT)


def test_oversize_body_is_refused_before_parsing(small_client: TestClient) -> None:
    # Not even valid JSON: a 422 would mean it had been parsed.
    response = small_client.post(
        "/api/v1/debts",
        content=b"{" * (JSON_LIMIT + 1),
        headers={"Content-Type": "application/json"},
    )
    _assert_too_large(response, JSON_LIMIT)


def test_chunked_body_is_cut_off_while_it_is_read(small_client: TestClient, tenant: Tenant) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b'{"items": ['
        for _ in range(1000):
            sent.append(1)
            yield b" " * 1024
        yield b"]}"

    response = small_client.post(
        "/api/v1/debts",
        content=chunks(),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    _assert_too_large(response, JSON_LIMIT)


def test_webhooks_and_forms_are_limited_too(small_client: TestClient) -> None:
    body = "Body=" + "x" * JSON_LIMIT
    response = small_client.post(
        "/webhooks/twilio/sms",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_too_large(response, JSON_LIMIT)


def test_a_body_under_the_limit_goes_through(small_client: TestClient, tenant: Tenant) -> None:
    items = [
        {
            "external_id": "INV-1",
            "debtor": {"name": "Alex Morgan", "phone": "+14155550123"},
            "amount": 1000,
            "currency": "USD",
            "due_date": "2026-10-29",
        }
    ]
    body = json.dumps({"items": items}).encode()
    assert len(body) < JSON_LIMIT
    response = small_client.post(
        "/api/v1/debts",
        content=body,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


def test_the_csv_import_may_send_more_than_json(small_client: TestClient, tenant: Tenant) -> None:
    text = _csv(200)
    assert JSON_LIMIT < len(text.encode()) < IMPORT_LIMIT
    raw = small_client.post(
        "/api/v1/debts/import.csv",
        content=text.encode(),
        headers={**tenant.headers, "Content-Type": "text/csv"},
    )
    assert raw.status_code == 200, raw.text
    assert raw.json()["created"] == 200
    multipart = small_client.post(
        "/api/v1/debts/import.csv",
        files={"file": ("debts.csv", text.encode(), "text/csv")},
        headers=tenant.headers,
    )
    assert multipart.status_code == 200, multipart.text
    assert multipart.json()["updated"] == 200


def test_the_csv_import_has_its_own_limit(small_client: TestClient, tenant: Tenant) -> None:
    text = _csv(2000)
    assert len(text.encode()) > IMPORT_LIMIT
    response = small_client.post(
        "/api/v1/debts/import.csv",
        content=text.encode(),
        headers={**tenant.headers, "Content-Type": "text/csv"},
    )
    _assert_too_large(response, IMPORT_LIMIT)

    def chunks() -> Iterator[bytes]:
        data = text.encode()
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    streamed = small_client.post(
        "/api/v1/debts/import.csv",
        content=chunks(),
        headers={**tenant.headers, "Content-Type": "text/csv"},
    )
    _assert_too_large(streamed, IMPORT_LIMIT)
    listed = small_client.get("/api/v1/debts", headers=tenant.headers)
    assert listed.json()["total"] == 0
