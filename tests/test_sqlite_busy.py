"""An inbound text never waits on a long import (imports commit chunk by chunk, SQLite
runs in WAL mode), and one that still cannot be stored answers 503 quickly instead of
hanging until Twilio gives up."""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from app.actions.debts import import_debts_csv
from app.clock import FixedClock
from app.conversations.models import InboundText
from app.db import Database
from app.debts.models import Debt
from app.debts.service import CHUNK_SIZE, ImportSummary
from app.main import create_app
from app.messaging.gateway import SimulatorGateway
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Tenant, make_settings
from tests.fake_twilio import inbound_sms_params, twilio_signature
from tests.helpers import import_debt

SMS_PATH = "/webhooks/twilio/sms"


@pytest.fixture
def impatient_client(db: Database, database_url: str, clock: FixedClock) -> Iterator[TestClient]:
    """The app with its own engine whose SQLite writers wait only 0.3 s for the lock."""
    settings = make_settings(database_url, sqlite_busy_timeout_seconds=0.3)
    app = create_app(settings, clock=clock, gateway=SimulatorGateway())
    with TestClient(app) as client:
        yield client
    app.state.db.dispose()


def _post_sms(client: TestClient, body: str, sid: str) -> Any:
    params = inbound_sms_params(from_="+14155550123", to="+15005550006", body=body, message_sid=sid)
    signature = twilio_signature(AUTH_TOKEN, f"{PUBLIC_URL}{SMS_PATH}", params)
    return client.post(SMS_PATH, data=params, headers={"X-Twilio-Signature": signature})


def _csv(rows: int) -> str:
    header = "external_id,name,phone,amount,currency,due_date\n"
    return header + "".join(
        f"BULK-{i},Debtor {i},+1212555{i:04d},1000,USD,2026-10-01\n" for i in range(rows)
    )


def test_sqlite_runs_in_wal_mode(db: Database) -> None:
    if db.is_postgres:
        pytest.skip("SQLite only")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_text_arriving_during_a_long_import_is_stored_at_once(
    db: Database, impatient_client: TestClient, tenant: Tenant, clock: FixedClock
) -> None:
    import_debt(impatient_client, tenant)
    first_chunk_done = threading.Event()
    text_answered = threading.Event()
    outcome: dict[str, Any] = {}

    def pause_after_first_chunk(summary: ImportSummary) -> None:
        if summary.total == CHUNK_SIZE:
            first_chunk_done.set()
            text_answered.wait(timeout=30)

    def run_import() -> None:
        try:
            with db.transaction() as session:
                outcome["summary"] = import_debts_csv(
                    session,
                    tenant.creditor_id,
                    io.StringIO(_csv(CHUNK_SIZE + 100)),
                    now=clock.now(),
                    actor="test",
                    progress=pause_after_first_chunk,
                    checkpoint=session.commit,
                )
        except Exception as exc:
            outcome["error"] = exc
            first_chunk_done.set()

    importer = threading.Thread(target=run_import)
    importer.start()
    try:
        assert first_chunk_done.wait(timeout=60)
        # The import is half-way: its first chunk is committed and visible already...
        with db.transaction() as session:
            stored = session.scalar(select(func.count()).select_from(Debt))
        assert stored == CHUNK_SIZE + 1
        # ...and the text goes in without waiting for the rest.
        response = _post_sms(impatient_client, "PAY", "SM" + "5" * 32)
        assert response.status_code == 200, response.text
    finally:
        text_answered.set()
        importer.join(timeout=60)
    assert "error" not in outcome
    assert outcome["summary"].created == CHUNK_SIZE + 100
    with db.transaction() as session:
        # Stored in the inbound queue by the webhook (a worker handles it later).
        assert (
            session.scalar(
                select(func.count())
                .select_from(InboundText)
                .where(InboundText.provider_sid == "SM" + "5" * 32)
            )
            == 1
        )


def test_a_text_that_cannot_get_the_lock_answers_503(
    db: Database, impatient_client: TestClient, tenant: Tenant, database_url: str
) -> None:
    if db.is_postgres:
        pytest.skip("SQLite's single writer lock")
    import_debt(impatient_client, tenant)
    path = database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        response = _post_sms(impatient_client, "PAY", "SM" + "6" * 32)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "busy"
        assert int(response.headers["Retry-After"]) >= 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Twilio's retry (or the next try) is then stored once.
    assert _post_sms(impatient_client, "PAY", "SM" + "6" * 32).status_code == 200
