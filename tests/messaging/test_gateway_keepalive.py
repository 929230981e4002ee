"""The twilio gateway keeps its connections alive: a run of sends uses one TCP
connection, concurrent sends one each, and a worker's batches reuse them; a batch goes
out at most send_concurrency at once, each asked about just before it goes, and what
becomes of a send that gets no answer is told apart by whether it may have left. Real
HTTP against the Twilio stand-in, which counts the connections it accepted."""

from __future__ import annotations

import gc
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from app.clock import FixedClock
from app.config import Settings
from app.db import Database
from app.main import create_app
from app.messaging.gateway import GatewayError, OutboundSMS, SendResult, TwilioGateway
from app.worker import OutboxWorker
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, make_settings, make_tenant
from tests.fake_twilio import FakeTwilio, Fault
from tests.helpers import import_debt

# 11:00 in Los Angeles on a Wednesday.
LA_MIDDAY = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)


@pytest.fixture
def keepalive_twilio(clock: FixedClock) -> Iterator[FakeTwilio]:
    with FakeTwilio(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, now=clock.now, keep_alive=True
    ) as fake:
        yield fake


@pytest.fixture
def gateway_settings(database_url: str, keepalive_twilio: FakeTwilio) -> Settings:
    return make_settings(
        database_url, sms_gateway="twilio", twilio_api_base=keepalive_twilio.base_url
    )


def sms(n: int) -> OutboundSMS:
    return OutboundSMS(message_id=f"m{n}", to=f"+1415555{n:04d}", body=f"hello {n}")


def test_a_run_of_sends_uses_one_connection(
    keepalive_twilio: FakeTwilio, gateway_settings: Settings
) -> None:
    gateway = TwilioGateway(gateway_settings)
    try:
        results = [gateway.send(sms(n)) for n in range(6)]
    finally:
        gateway.close()
    assert len({r.provider_sid for r in results}) == 6
    assert len(keepalive_twilio.messages) == 6
    assert len(keepalive_twilio.connections) == 1


def test_the_http_1_0_stand_in_opens_a_connection_per_send(
    fake_twilio: FakeTwilio, twilio_settings: Settings
) -> None:
    # The control: the same count on a server that closes after every answer.
    gateway = TwilioGateway(twilio_settings)
    try:
        for n in range(3):
            gateway.send(sms(n))
    finally:
        gateway.close()
    assert len(fake_twilio.connections) == 3


def test_concurrent_senders_each_keep_their_own_connection_across_batches(
    keepalive_twilio: FakeTwilio, gateway_settings: Settings
) -> None:
    gateway = TwilioGateway(gateway_settings)
    threads_per_batch = 3
    # Every thread sends only once the whole batch is running, so the three need three
    # sessions at once; the second batch's new threads borrow the same three.
    errors: list[BaseException] = []

    def batch(first: int) -> None:
        barrier = threading.Barrier(threads_per_batch)

        def sender(offset: int) -> None:
            try:
                barrier.wait(timeout=10)
                for k in range(4):
                    gateway.send(sms(first + offset * 10 + k))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=sender, args=(i,)) for i in range(threads_per_batch)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    try:
        batch(0)
        batch(100)
    finally:
        gateway.close()
    assert errors == []
    assert len(keepalive_twilio.messages) == 2 * threads_per_batch * 4
    assert len(keepalive_twilio.connections) <= threads_per_batch


def test_the_worker_reuses_the_connection_from_batch_to_batch(
    db: Database,
    clock: FixedClock,
    keepalive_twilio: FakeTwilio,
    gateway_settings: Settings,
) -> None:
    settings = gateway_settings.model_copy(update={"send_concurrency": 1, "worker_batch_size": 2})
    gateway = TwilioGateway(settings)
    tenant = make_tenant(
        db, clock, "Acme Finance", contact_phone="+14155550100", send_spread_minutes=0
    )
    app = create_app(settings, clock=clock, gateway=gateway, database=db)
    with TestClient(app) as client:
        for n in range(5):
            debt_id = import_debt(
                client, tenant, external_id=f"INV-{n}", debtor_phone=f"+1415555{2000 + n:04d}"
            )
            response = client.post(f"/api/v1/debts/{debt_id}/statements", headers=tenant.headers)
            assert response.status_code == 202, response.text
    clock.set(LA_MIDDAY)  # inside every debtor's contact window
    worker = OutboxWorker(db, gateway, clock, settings)
    try:
        sent = [worker.run_once() for _ in range(4)]
    finally:
        gateway.close()
    assert sent == [2, 2, 1, 0]
    assert len(keepalive_twilio.messages) == 5
    # Three batches, each from a new sending thread: one connection.
    assert len(keepalive_twilio.connections) == 1


def test_a_batch_goes_out_at_most_concurrency_at_once_and_asks_before_each(
    keepalive_twilio: FakeTwilio, gateway_settings: Settings
) -> None:
    keepalive_twilio.set_create_policy(lambda request, nth: Fault(hang=True))
    gateway = TwilioGateway(gateway_settings)
    held_back = {"m3"}
    asked: list[str] = []

    def before(message: OutboundSMS) -> bool:
        asked.append(message.message_id)
        return message.message_id not in held_back

    try:
        stream = gateway.send_batch(
            [sms(n) for n in range(6)], concurrency=2, before=before, poll=0.05
        )
        # Two hang at the stand-in; nothing has come back, so the stream says so.
        assert next(stream) is None
        assert keepalive_twilio.wait_for_hung(2, timeout=10)
        assert len(keepalive_twilio.requests) == 2
        keepalive_twilio.set_create_policy(None)
        keepalive_twilio.release_hung()
        outcomes = [outcome for outcome in stream if outcome is not None]
    finally:
        gateway.close()
    assert sorted(sms.message_id for sms, _ in outcomes) == [f"m{n}" for n in range(6)]
    assert sorted(asked) == [f"m{n}" for n in range(6)]
    by_id = {sms.message_id: outcome for sms, outcome in outcomes}
    assert by_id["m3"] is None
    assert all(isinstance(by_id[f"m{n}"], SendResult) for n in (0, 1, 2, 4, 5))
    assert len(keepalive_twilio.messages) == 5
    assert len(keepalive_twilio.connections) <= 2


def test_a_refused_connection_never_left_and_a_reset_or_timeout_may_have(
    keepalive_twilio: FakeTwilio, gateway_settings: Settings
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    refused = TwilioGateway(
        gateway_settings.model_copy(update={"twilio_api_base": f"http://127.0.0.1:{port}"})
    )
    try:
        with pytest.raises(GatewayError) as no_connection:
            refused.send(sms(1))
    finally:
        refused.close()
    assert no_connection.value.provider_down
    assert not no_connection.value.maybe_sent

    gateway = TwilioGateway(gateway_settings.model_copy(update={"send_timeout_seconds": 0.3}))
    faults = {"+14155550002": Fault(reset=True), "+14155550003": Fault(delay=2.0, keep=True)}
    keepalive_twilio.set_create_policy(lambda request, nth: faults.get(request.form["To"][0]))
    try:
        for n in (2, 3):
            with pytest.raises(GatewayError) as lost:
                gateway.send(sms(n))
            assert lost.value.maybe_sent, n
            assert lost.value.provider_down, n
            assert lost.value.retryable, n
        # The failed sends leave the gateway usable.
        assert gateway.send(sms(4)).provider_sid.startswith("SM")
    finally:
        gateway.close()


def test_a_gateway_dropped_unclosed_ends_its_sending_thread(
    keepalive_twilio: FakeTwilio, gateway_settings: Settings
) -> None:
    before = set(threading.enumerate())
    gateway = TwilioGateway(gateway_settings)
    gateway.send(sms(1))
    [thread] = [t for t in set(threading.enumerate()) - before if t.name == "parley-twilio"]
    del gateway
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_closing_the_gateway_mid_batch_still_reports_every_send(
    keepalive_twilio: FakeTwilio, gateway_settings: Settings
) -> None:
    keepalive_twilio.set_create_policy(lambda request, nth: Fault(hang=True))
    gateway = TwilioGateway(gateway_settings)
    try:
        stream = gateway.send_batch(
            [sms(n) for n in range(3)], concurrency=1, before=lambda _sms: True, poll=0.05
        )
        assert keepalive_twilio.wait_for_hung(1, timeout=10)
        gateway.close()  # one send in flight, two waiting for their turn
        outcomes = []
        for polls, outcome in enumerate(stream):
            assert polls < 200, "the stream never ended"  # 10 s of polls
            if outcome is not None:
                outcomes.append(outcome)
    finally:
        keepalive_twilio.release_hung()
        gateway.close()
    assert sorted(sms.message_id for sms, _ in outcomes) == ["m0", "m1", "m2"]
    for _, outcome in outcomes:
        # Whether the one in flight reached the provider is unknown: looked up first.
        assert isinstance(outcome, GatewayError)
        assert outcome.maybe_sent


def test_a_check_before_a_send_that_fails_holds_that_send_back_not_the_batch(
    keepalive_twilio: FakeTwilio, gateway_settings: Settings
) -> None:
    """`before` raising for one message: that one is held back (not sent, no outcome
    lost), the rest of the batch goes."""

    def before(message: OutboundSMS) -> bool:
        if message.message_id == "m1":
            raise RuntimeError("the worker's check broke")
        return True

    gateway = TwilioGateway(gateway_settings)
    try:
        stream = gateway.send_batch(
            [sms(n) for n in range(3)], concurrency=2, before=before, poll=0.05
        )
        outcomes = [outcome for outcome in stream if outcome is not None]
    finally:
        gateway.close()
    by_id = {sms.message_id: outcome for sms, outcome in outcomes}
    assert sorted(by_id) == ["m0", "m1", "m2"]
    assert by_id["m1"] is None
    assert isinstance(by_id["m0"], SendResult) and isinstance(by_id["m2"], SendResult)
    assert sorted(str(m["to"]) for m in keepalive_twilio.messages) == sorted([sms(0).to, sms(2).to])
