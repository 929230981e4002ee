"""Malformed input gets a 4xx naming the field, never a 5xx: NUL characters and unpaired
surrogates, over-long identifiers, huge integers, nulls for settings that cannot be
null, a multipart import without its file, and odd Twilio fields (which are stored, with
the NUL removed, rather than refused)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import Database
from app.messaging.models import Message
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, Tenant
from tests.fake_twilio import inbound_sms_params, status_callback_params, twilio_signature
from tests.helpers import debt_row, handle_inbound, import_debt
from tests.messaging.test_status_webhook import post_status, reload, sent_message

__all__ = ["sent_message"]  # a fixture, used by name below

SMS_PATH = "/webhooks/twilio/sms"


def _field(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    return str(body["error"]["fields"][0]["field"])


def _signed_sms(client: TestClient, params: dict[str, str]) -> object:
    url = f"{PUBLIC_URL}{SMS_PATH}"
    return client.post(
        SMS_PATH,
        data=params,
        headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params)},
    )


@pytest.mark.parametrize("bad", ["Alex\x00Morgan", "Alex \ud800 Morgan"])
def test_unstorable_text_in_an_import_row_refuses_that_row_naming_the_field(
    client: TestClient, tenant: Tenant, bad: str
) -> None:
    import json

    items = [debt_row("OK-1"), debt_row(bad, debtor_name=bad), debt_row("T-1", tags=[bad])]
    body = json.dumps({"items": items})  # ensure_ascii: \u0000, \ud800
    response = client.post(
        "/api/v1/debts",
        content=body.encode(),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    ok, bad_row, bad_tags = response.json()["results"]
    assert ok["status"] == "created"
    assert bad_row["status"] == "error"
    assert bad_row["external_id"].startswith("Alex") and "\ufffd" in bad_row["external_id"]
    assert {e["field"] for e in bad_row["errors"]} == {"external_id", "debtor.name"}
    assert bad_tags["status"] == "error" and bad_tags["errors"][0]["field"] == "tags"


@pytest.mark.parametrize("bad", ["Acme\x00 Ltd", "Acme \ud800 Ltd"])
def test_unstorable_text_in_a_json_field_is_a_422_naming_it(
    client: TestClient, tenant: Tenant, bad: str
) -> None:
    import json

    response = client.post(
        "/api/v1/offer-rules",
        content=json.dumps({"name": bad, "priority": 1}).encode(),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert _field(response) == "name"


def test_unstorable_text_in_settings_and_rules_is_refused(
    client: TestClient, tenant: Tenant
) -> None:
    patched = client.patch(
        "/api/v1/creditor", json={"legal_name": "Acme\x00 Ltd"}, headers=tenant.headers
    )
    assert patched.status_code == 422 and _field(patched) == "legal_name"
    parsed = client.post("/api/v1/replies/parse", json={"text": "PAY\x00"}, headers=tenant.headers)
    assert parsed.status_code == 422 and _field(parsed) == "text"


def test_nul_in_the_path_or_query_is_a_4xx(client: TestClient, tenant: Tenant) -> None:
    in_path = client.get("/api/v1/debts/%00", headers=tenant.headers)
    assert in_path.status_code == 422 and _field(in_path) == "path"
    in_query = client.get("/api/v1/callbacks?agent=a%00b", headers=tenant.headers)
    assert in_query.status_code == 422 and _field(in_query) == "agent"
    listed = client.get("/api/v1/debts?status=%00", headers=tenant.headers)
    assert listed.status_code == 422 and _field(listed) == "status"


@pytest.mark.parametrize(
    "path", ["/api/v1/debts?offset=9223372036854775808", "/api/v1/conversations?offset=2e63"]
)
def test_huge_offsets_are_refused(client: TestClient, tenant: Tenant, path: str) -> None:
    response = client.get(path, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert _field(response) == "offset"


@pytest.mark.parametrize(
    "field", ["name", "mms_enabled", "business_days_only", "collector_disclosure", "country"]
)
def test_null_for_a_setting_that_cannot_be_null_is_a_422(
    client: TestClient, tenant: Tenant, field: str
) -> None:
    response = client.patch("/api/v1/creditor", json={field: None}, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert _field(response) == field


def test_nullable_settings_may_still_be_cleared(client: TestClient, tenant: Tenant) -> None:
    response = client.patch("/api/v1/creditor", json={"legal_name": None}, headers=tenant.headers)
    assert response.status_code == 200, response.text


def test_a_multipart_import_without_a_file_part_is_a_422(
    client: TestClient, tenant: Tenant
) -> None:
    urlencoded = client.post(
        "/api/v1/debts/import.csv", data={"other": "x"}, headers=tenant.headers
    )
    assert urlencoded.status_code == 422 and _field(urlencoded) == "file"
    response = client.post(
        "/api/v1/debts/import.csv",
        files={"notthefile": ("a.csv", b"external_id\n1\n", "text/csv")},
        headers=tenant.headers,
    )
    assert response.status_code == 422, response.text
    assert _field(response) == "file"


def test_a_nul_in_a_signed_text_is_removed_and_the_text_kept(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    import_debt(client, tenant)
    params = inbound_sms_params(
        from_="+14155550123", to="+15005550006", body="PA\x00Y", message_sid="SM" + "7" * 32
    )
    response = _signed_sms(client, params)
    assert response.status_code == 200  # type: ignore[attr-defined]
    handle_inbound(client)
    with db.transaction() as session:
        stored = session.scalars(
            select(Message).where(Message.provider_sid == "SM" + "7" * 32)
        ).one()
        assert stored.body == "PAY"
        assert stored.intent == "PAY"


@pytest.mark.parametrize(
    ("field", "value"),
    [("From", "+1" + "4" * 45), ("To", "+1" + "5" * 45), ("MessageSid", "SM" + "a" * 70)],
)
def test_signed_identifiers_longer_than_their_columns_are_a_422(
    client: TestClient, field: str, value: str
) -> None:
    params = inbound_sms_params(from_="+14155550123", to="+15005550006", body="hi")
    params[field] = value
    response = _signed_sms(client, params)
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert _field(response) == field


@pytest.mark.parametrize("code", ["1" * 30, "²", "-5", "30006x"])
def test_odd_error_codes_in_status_callbacks_are_ignored(
    client: TestClient, db: Database, sent_message: Message, code: str
) -> None:
    params = status_callback_params(sent_message.provider_sid or "", "undelivered")
    params["ErrorCode"] = code
    assert post_status(client, params) == 204
    message = reload(db, sent_message)
    assert message.status == "undelivered" and message.error_code is None


def test_values_the_database_cannot_hold_are_a_422(db: Database) -> None:
    """The backstop behind the schemas' bounds: a real DataError (PostgreSQL) maps to 422."""
    from datetime import UTC, datetime

    from sqlalchemy import insert
    from sqlalchemy.exc import DBAPIError

    from app.creditors.models import Creditor
    from app.errors import ValidationFailed, database_refusal

    if not db.is_postgres:
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    now = datetime.now(UTC)
    with pytest.raises(DBAPIError) as info, db.transaction() as session:
        session.execute(
            insert(Creditor).values(
                id="c-long", name="x" * 500, country="US", created_at=now, updated_at=now
            )
        )
    refusal = database_refusal(info.value)
    assert isinstance(refusal, ValidationFailed) and refusal.status_code == 422
