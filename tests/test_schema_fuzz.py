"""Schema-driven fuzzing: schemathesis generates requests for every operation of the
OpenAPI schema (valid ones, invalid ones, and valid ones aimed at real records), and no
answer may be a server error. The signed webhooks, which unsigned fuzzing cannot get
past, are fuzzed separately with hypothesis and real signatures.

Examples per operation: PARLEY_FUZZ_EXAMPLES (default 12), so the run stays short in
`make test`, where it runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from app.clock import FixedClock
from app.db import Database
from app.main import create_app
from app.messaging.gateway import SimulatorGateway
from app.payments.api import payment_signature
from tests.conftest import (
    AUTH_TOKEN,
    PAYMENT_SECRET,
    PUBLIC_URL,
    Tenant,
    make_settings,
    make_tenant,
)
from tests.fake_twilio import inbound_sms_params, twilio_signature
from tests.helpers import import_debt, send_sms
from tests.payments_support import create_offer_rule, issue_now

EXAMPLES = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "12"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _operations() -> list[tuple[str, str]]:
    schema = create_app(make_settings("sqlite://"), gateway=SimulatorGateway()).openapi()
    return [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


OPERATIONS = _operations()


class World:
    """A creditor with one of everything, so fuzzed ids sometimes hit a real record."""

    def __init__(self, client: TestClient, tenant: Tenant, ids: dict[str, str]) -> None:
        self.client = client
        self.tenant = tenant
        self.ids = ids


@pytest.fixture
def world(db: Database, database_url: str, clock: FixedClock) -> Iterator[World]:
    # The failure throttle would turn the rest of a run into 429s after a few bad keys.
    fuzz_settings = make_settings(
        database_url, auth_failures_per_minute=0, page_token_failures_per_minute=0
    )
    app = create_app(fuzz_settings, clock=clock, gateway=SimulatorGateway(), database=db)
    tenant = make_tenant(db, clock, "Fuzz Finance", contact_phone="+14155550100")
    with TestClient(app) as client:
        debt_id = import_debt(client, tenant)
        rule = create_offer_rule(client, tenant)
        send_sms(client, "+14155550123", "hello")
        conversation = client.get("/api/v1/conversations", headers=tenant.headers).json()
        code = issue_now(db, clock, tenant, debt_id)
        ids = {
            "debt_id": debt_id,
            "rule_id": str(rule["id"]),
            "conversation_id": conversation["items"][0]["id"],
            "token": code.token,
        }
        yield World(client, tenant, ids)


def _call(world: World, case: Any) -> None:
    headers = {**(case.headers or {}), **world.tenant.headers}
    # A dry run of up to 62 days is CPU-bound work in the request: the 10 s default read
    # timeout is about the machine's load, not about a server error.
    response = case.call(headers=headers, timeout=300)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}\n"
        f"query={case.query!r} body={case.body!r}\n{response.text[:500]}"
    )


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_operation_answers_a_server_error(world: World, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    operation = schema[path][method]
    names = [p.name for p in operation.path_parameters]
    real = {name: world.ids[name] for name in names if name in world.ids}
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    if real:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real))

    @FUZZ_SETTINGS
    @given(case=st.one_of(strategies))
    def check(case: Any) -> None:
        _call(world, case)

    check()


# ----------------------------------------------------------------- signed webhooks

# Any text, including NUL, unpaired surrogates cannot travel in a form; long runs too.
_text = st.text(st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["\x00", "STOP\x00", "1" * 30, "+1" * 30, "SM" + "a" * 70, "²", "-1", ""]
)


@pytest.fixture
def signed_client(world: World) -> TestClient:
    return world.client


def _signed_form(client: TestClient, path: str, params: dict[str, str]) -> int:
    signature = twilio_signature(AUTH_TOKEN, f"{PUBLIC_URL}{path}", params)
    response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    return response.status_code


def test_signed_inbound_texts_never_fail(signed_client: TestClient) -> None:
    counter = iter(range(10**6))

    @FUZZ_SETTINGS
    @given(
        body=_text,
        sender=st.sampled_from(["+14155550123", "+5511999990000"]) | _text,
        to=st.just("+15005550006") | _text,
        sid=st.none() | _text,
    )
    def check(body: str, sender: str, to: str, sid: str | None) -> None:
        params = inbound_sms_params(
            from_=sender, to=to, body=body, message_sid=sid or f"SM{next(counter):032d}"
        )
        assert _signed_form(signed_client, "/webhooks/twilio/sms", params) < 500

    check()


def test_signed_status_callbacks_never_fail(signed_client: TestClient) -> None:
    @FUZZ_SETTINGS
    @given(
        sid=_text,
        status=st.sampled_from(["sent", "delivered", "undelivered", "failed"]) | _text,
        error_code=st.none() | _text,
        mid=st.none() | _text,
    )
    def check(sid: str, status: str, error_code: str | None, mid: str | None) -> None:
        params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "1" * 32}
        if error_code is not None:
            params["ErrorCode"] = error_code
        path = "/webhooks/twilio/status"
        query = f"?mid={mid}" if mid else ""
        signature = twilio_signature(AUTH_TOKEN, f"{PUBLIC_URL}{path}{query}", params)
        response = signed_client.post(
            path,
            params={"mid": mid} if mid else None,
            data=params,
            headers={"X-Twilio-Signature": signature},
        )
        assert response.status_code < 500, response.text

    check()


_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_text, children, max_size=3),
    max_leaves=6,
)


def test_signed_payments_never_fail(signed_client: TestClient, world: World) -> None:
    @FUZZ_SETTINGS
    @given(
        payment=st.fixed_dictionaries(
            {},
            optional={
                "payment_id": _text | _json_value,
                "reference": _text | _json_value,
                "amount": st.integers() | _json_value,
                "currency": st.sampled_from(["USD", "BRL"]) | _text,
                "paid_at": st.just("2026-11-25T15:00:00Z") | _text,
            },
        )
    )
    def check(payment: dict[str, Any]) -> None:
        body = json.dumps(payment).encode()
        response = signed_client.post(
            "/webhooks/payments",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Parley-Signature": payment_signature(PAYMENT_SECRET, body),
            },
        )
        assert response.status_code < 500, response.text

    check()
