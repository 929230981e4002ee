"""Test fixtures: a migrated database per run (SQLite file, or PostgreSQL when
PARLEY_TEST_DATABASE_URL points at one), emptied after every test; a fixed clock;
the app with its real services; a local Twilio-compatible server."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text

from app.clock import FixedClock
from app.config import Settings
from app.creditors.service import create_creditor
from app.db import Base, Database
from app.main import create_app
from app.messaging.gateway import SimulatorGateway, SmsGateway, TwilioGateway
from app.migrate import upgrade_to_head
from app.security import create_api_key
from app.worker import OutboxWorker
from tests.fake_twilio import FakeTwilio
from tests.network_guard import install as install_network_guard

install_network_guard()

# No per-example deadline: the machine is shared, and speed is measured in bench/.
hypothesis_settings.register_profile("parley", deadline=None)
hypothesis_settings.load_profile("parley")

TEST_DB_ENV = "PARLEY_TEST_DATABASE_URL"
AUTH_TOKEN = "test-auth-token"
ACCOUNT_SID = "AC" + "1" * 32
PUBLIC_URL = "https://parley.example.com"
PAYMENT_SECRET = "payment-webhook-secret"
# Wednesday 25 November 2026, 15:00 UTC: 10:00 in New York, 12:00 in São Paulo.
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def _normalise(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A freshly migrated database for this test run."""
    url = os.environ.get(TEST_DB_ENV)
    if url:
        url = _normalise(url)
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade_to_head(url)
        yield url
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'test.db'}"
        upgrade_to_head(url)
        yield url


@pytest.fixture(scope="session")
def _database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def db(_database: Database) -> Iterator[Database]:
    """The test database; every table is emptied after the test."""
    yield _database
    with _database.transaction() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


@pytest.fixture
def is_postgres(db: Database) -> bool:
    return db.is_postgres


@pytest.fixture
def postgres_only(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("needs PostgreSQL (set PARLEY_TEST_DATABASE_URL)")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests, independent of the developer's environment."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "public_url": PUBLIC_URL,
        "sms_gateway": "simulator",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": "+15005550006",
        "payment_webhook_secret": PAYMENT_SECRET,
        "log_json": False,
        "retry_base_seconds": 30.0,
        "send_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def gateway() -> SmsGateway:
    return SimulatorGateway()


@pytest.fixture
def app(db: Database, settings: Settings, clock: FixedClock, gateway: SmsGateway) -> Any:
    return create_app(settings, clock=clock, gateway=gateway, database=db)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def worker(
    db: Database, gateway: SmsGateway, clock: FixedClock, settings: Settings
) -> OutboxWorker:
    from app.main import periodic_jobs

    return OutboxWorker(db, gateway, clock, settings, periodic_jobs())


class Tenant:
    """A creditor with an admin key, as tests use it."""

    def __init__(self, creditor_id: str, key: str) -> None:
        self.creditor_id = creditor_id
        self.key = key

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(
    db: Database, clock: FixedClock, name: str, role: str = "admin", **settings: Any
) -> Tenant:
    with db.transaction() as session:
        creditor = create_creditor(session, clock, name, **settings)
        _, key = create_api_key(session, creditor, clock, role=role)
        return Tenant(creditor.id, key)


@pytest.fixture
def tenant(db: Database, clock: FixedClock) -> Tenant:
    return make_tenant(db, clock, "Acme Finance", contact_phone="+14155550100")


@pytest.fixture
def fake_twilio(clock: FixedClock) -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, now=clock.now) as fake:
        yield fake


@pytest.fixture
def twilio_settings(database_url: str, fake_twilio: FakeTwilio) -> Settings:
    return make_settings(database_url, sms_gateway="twilio", twilio_api_base=fake_twilio.base_url)


@pytest.fixture
def twilio_gateway(twilio_settings: Settings) -> TwilioGateway:
    return TwilioGateway(twilio_settings)
