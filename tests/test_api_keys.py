"""API keys: salted digests, last use, expiry, listing and revocation (API and CLI), and
the throttle on wrong keys and unknown payment links."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api_keys import create_api_key, find_api_key
from app.clock import FixedClock
from app.creditors.models import ApiKey
from app.creditors.service import create_creditor
from app.db import Database
from app.main import create_app
from app.messaging.gateway import SimulatorGateway
from tests.conftest import Tenant, make_settings, make_tenant

ATTACKER = ("203.0.113.77", 40000)
NEIGHBOUR = ("198.51.100.5", 40000)


def _key_row(db: Database, key: str) -> ApiKey:
    with db.transaction() as session:
        row = find_api_key(session, key)
        assert row is not None
        session.expunge(row)
        return row


def _client(app: Any, client: tuple[str, int]) -> TestClient:
    return TestClient(app, client=client)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ------------------------------------------------------------------------- storage


def test_keys_are_stored_as_salted_hmacs(db: Database, tenant: Tenant) -> None:
    row = _key_row(db, tenant.key)
    assert row.key_salt and len(row.key_salt) == 32
    assert row.key_hash != hashlib.sha256(tenant.key.encode()).hexdigest()
    expected = hmac.new(row.key_salt.encode(), tenant.key.encode(), hashlib.sha256).hexdigest()
    assert row.key_hash == expected
    assert row.key_prefix == tenant.key[:10]
    assert tenant.key not in (row.key_hash, row.key_prefix)


def test_a_key_stored_before_salts_still_works_and_is_rehashed(
    db: Database, client: TestClient, tenant: Tenant
) -> None:
    with db.transaction() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.creditor_id == tenant.creditor_id)).one()
        row.key_salt = None
        row.key_hash = hashlib.sha256(tenant.key.encode()).hexdigest()
    assert client.get("/api/v1/creditor", headers=tenant.headers).status_code == 200
    upgraded = _key_row(db, tenant.key)
    assert upgraded.key_salt is not None
    assert upgraded.key_hash != hashlib.sha256(tenant.key.encode()).hexdigest()
    assert client.get("/api/v1/creditor", headers=tenant.headers).status_code == 200


def test_keys_sharing_a_prefix_are_told_apart(db: Database, clock: FixedClock) -> None:
    with db.transaction() as session:
        creditor = create_creditor(session, clock, "Prefix Co")
        _, first = create_api_key(session, creditor, clock, key="pk_samepre" + "a" * 30)
        _, second = create_api_key(session, creditor, clock, key="pk_samepre" + "b" * 30)
    with db.transaction() as session:
        a, b = find_api_key(session, first), find_api_key(session, second)
        assert a is not None and b is not None and a.id != b.id
        assert find_api_key(session, "pk_samepre" + "c" * 30) is None


# ------------------------------------------------------------------ use and expiry


def test_last_used_at_is_recorded_at_most_once_a_minute(
    db: Database, client: TestClient, tenant: Tenant, clock: FixedClock
) -> None:
    assert _key_row(db, tenant.key).last_used_at is None
    client.get("/api/v1/creditor", headers=tenant.headers)
    first = _key_row(db, tenant.key).last_used_at
    assert first == clock.now()
    clock.advance(timedelta(seconds=30))
    client.get("/api/v1/creditor", headers=tenant.headers)
    assert _key_row(db, tenant.key).last_used_at == first
    clock.advance(timedelta(seconds=31))
    client.get("/api/v1/creditor", headers=tenant.headers)
    assert _key_row(db, tenant.key).last_used_at == clock.now()


def test_an_expired_key_stops_working(db: Database, client: TestClient, clock: FixedClock) -> None:
    with db.transaction() as session:
        creditor = create_creditor(session, clock, "Expiring Co")
        _, key = create_api_key(
            session, creditor, clock, expires_at=clock.now() + timedelta(days=1)
        )
    assert client.get("/api/v1/creditor", headers=_bearer(key)).status_code == 200
    clock.advance(timedelta(days=1))
    refused = client.get("/api/v1/creditor", headers=_bearer(key))
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]


# ------------------------------------------------------------------- admin API


def test_admins_list_their_own_keys_only(
    db: Database, client: TestClient, tenant: Tenant, clock: FixedClock
) -> None:
    other = make_tenant(db, clock, "Other Co")
    client.get("/api/v1/creditor", headers=tenant.headers)
    response = client.get("/api/v1/creditor/api-keys", headers=tenant.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["prefix"] for item in items] == [tenant.key[:10]]
    assert items[0]["active"] is True and items[0]["last_used_at"] is not None
    assert tenant.key not in response.text and other.key[:10] not in response.text
    assert "hash" not in response.text and "salt" not in response.text


def test_revoking_a_key_through_the_api_takes_effect_at_once(
    db: Database, client: TestClient, tenant: Tenant, clock: FixedClock
) -> None:
    with db.transaction() as session:
        from app.creditors.models import Creditor

        creditor = session.get(Creditor, tenant.creditor_id)
        assert creditor is not None
        row, second = create_api_key(session, creditor, clock, name="laptop")
        second_id = row.id
    assert client.get("/api/v1/creditor", headers=_bearer(second)).status_code == 200
    revoked = client.delete(f"/api/v1/creditor/api-keys/{second_id}", headers=tenant.headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["active"] is False and revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/creditor", headers=_bearer(second)).status_code == 401
    assert client.get("/api/v1/creditor", headers=tenant.headers).status_code == 200
    again = client.delete(f"/api/v1/creditor/api-keys/{second_id}", headers=tenant.headers)
    assert again.status_code == 200


def test_keys_of_another_creditor_cannot_be_revoked_or_seen(
    db: Database, client: TestClient, tenant: Tenant, clock: FixedClock
) -> None:
    other = make_tenant(db, clock, "Other Co")
    other_id = _key_row(db, other.key).id
    response = client.delete(f"/api/v1/creditor/api-keys/{other_id}", headers=tenant.headers)
    assert response.status_code == 404
    assert client.get("/api/v1/creditor", headers=other.headers).status_code == 200


def test_agent_keys_may_not_manage_keys(
    db: Database, client: TestClient, clock: FixedClock
) -> None:
    agent = make_tenant(db, clock, "Agent Co", role="agent")
    assert client.get("/api/v1/creditor/api-keys", headers=agent.headers).status_code == 403
    key_id = _key_row(db, agent.key).id
    response = client.delete(f"/api/v1/creditor/api-keys/{key_id}", headers=agent.headers)
    assert response.status_code == 403


# ------------------------------------------------------------------------- CLI


def _cli(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "TWILIO_"))}
    env["PARLEY_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.fixture
def cli_db(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    assert _cli(["migrate"], url, tmp_path).returncode == 0
    database = Database(url)
    yield url, database
    database.dispose()


def test_cli_revokes_a_key_by_its_text_or_its_prefix(
    cli_db: tuple[str, Database], tmp_path: Path
) -> None:
    url, database = cli_db
    made = [
        _cli(["create-api-key", "--creditor", "CLI Co", "--create"], url, tmp_path)
        for _ in range(2)
    ]
    keys = [m.stdout.strip() for m in made]
    assert all(m.returncode == 0 for m in made)
    assert f"prefix {keys[0][:10]}" in made[0].stderr
    app = create_app(make_settings(url), database=database, gateway=SimulatorGateway())
    with TestClient(app) as client:
        for key in keys:
            assert client.get("/api/v1/creditor", headers=_bearer(key)).status_code == 200
        by_text = _cli(["revoke-api-key", keys[0]], url, tmp_path)
        assert by_text.returncode == 0, by_text.stderr
        assert f"key {keys[0][:10]}" in by_text.stdout and "is revoked" in by_text.stdout
        assert keys[0] not in by_text.stdout
        by_prefix = _cli(["revoke-api-key", keys[1][:10]], url, tmp_path)
        assert by_prefix.returncode == 0, by_prefix.stderr
        for key in keys:
            assert client.get("/api/v1/creditor", headers=_bearer(key)).status_code == 401
    twice = _cli(["revoke-api-key", keys[0]], url, tmp_path)
    assert twice.returncode == 0 and "already revoked" in twice.stdout
    unknown = _cli(["revoke-api-key", "pk_nothing-like-it"], url, tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.strip() == "error: no API key matches"


def test_cli_creates_keys_that_expire(cli_db: tuple[str, Database], tmp_path: Path) -> None:
    url, database = cli_db
    made = _cli(
        ["create-api-key", "--creditor", "CLI Co", "--create", "--expires-in-days", "30"],
        url,
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert "valid until" in made.stderr
    row = _key_row(database, made.stdout.strip())
    assert row.expires_at is not None
    assert timedelta(days=29) < row.expires_at - row.created_at <= timedelta(days=30, seconds=5)
    refused = _cli(
        ["create-api-key", "--creditor", "CLI Co", "--expires-in-days", "0"], url, tmp_path
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr


# -------------------------------------------------------------------- throttle


@pytest.fixture
def throttled_app(db: Database, database_url: str, clock: FixedClock) -> Any:
    settings = make_settings(
        database_url, auth_failures_per_minute=5, page_token_failures_per_minute=3
    )
    return create_app(settings, clock=clock, gateway=SimulatorGateway(), database=db)


def test_wrong_keys_are_throttled_per_client_address(
    throttled_app: Any, tenant: Tenant, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with _client(throttled_app, ATTACKER) as attacker, _client(throttled_app, NEIGHBOUR) as other:
        for attempt in range(5):
            wrong = attacker.get("/api/v1/creditor", headers=_bearer(f"pk_guess{attempt:04d}"))
            assert wrong.status_code == 401
        throttled = attacker.get("/api/v1/creditor", headers=_bearer("pk_guess9999"))
        assert throttled.status_code == 429
        assert throttled.json()["error"]["code"] == "too_many_requests"
        retry_after = int(throttled.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        # While throttled even the right key is refused from that address...
        assert attacker.get("/api/v1/creditor", headers=tenant.headers).status_code == 429
        # ...but not from another one.
        assert other.get("/api/v1/creditor", headers=tenant.headers).status_code == 200
        clock.advance(timedelta(seconds=retry_after))
        assert attacker.get("/api/v1/creditor", headers=tenant.headers).status_code == 200
    refused = [r for r in caplog.records if r.getMessage() == "api key refused"]
    assert len(refused) == 5
    assert {getattr(r, "client", None) for r in refused} == {"203.0.113.0/24"}
    logged = "\n".join(str(vars(r)) for r in caplog.records)
    assert "203.0.113.77" not in logged and "pk_guess0001" not in logged


def test_unknown_payment_links_are_throttled(throttled_app: Any, clock: FixedClock) -> None:
    with _client(throttled_app, ATTACKER) as attacker, _client(throttled_app, NEIGHBOUR) as other:
        for attempt in range(3):
            assert attacker.get(f"/p/unknown-token-{attempt}").status_code == 404
        assert attacker.get("/p/unknown-token-x").status_code == 429
        image = attacker.get("/p/unknown-token-y/barcode.png")
        assert image.status_code == 429 and "Retry-After" in image.headers
        assert other.get("/p/unknown-token-z").status_code == 404
        clock.advance(timedelta(minutes=1))
        assert attacker.get("/p/unknown-token-w").status_code == 404
