"""Tests for tests/fake_twilio.py, driven by the real twilio 9.x client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fake_twilio import (
    FakeTwilio,
    count_segments,
    inbound_sms_params,
    status_callback_params,
    twilio_signature,
)

TO = "+15558675310"
FROM = "+15017122661"
SERVICE_SID = "MG" + "1" * 32


def _close(client: Client) -> None:
    http_client = client.http_client
    if isinstance(http_client, TwilioHttpClient) and http_client.session is not None:
        http_client.session.close()


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def client(fake: FakeTwilio) -> Iterator[Client]:
    c = fake.make_client(timeout=5.0)
    yield c
    _close(c)


def test_plain_client_with_base_url_override(
    fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The exact recipe the app uses: no helper, just base_url on the Api domain.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    c = Client(fake.account_sid, fake.auth_token)
    c.api.base_url = fake.base_url
    try:
        msg = c.messages.create(to=TO, from_=FROM, body="Hello from Parley")
    finally:
        _close(c)
    assert msg.sid is not None and msg.sid.startswith("SM") and len(msg.sid) == 34
    assert msg.status == "queued"
    [req] = fake.requests
    assert req.method == "POST"
    assert req.path == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert req.auth_ok and req.account_sid == fake.account_sid


def test_create_message_returns_instance_and_records_request(
    fake: FakeTwilio, client: Client
) -> None:
    msg = client.messages.create(
        to=TO,
        from_=FROM,
        body="Your offer is ready. Reply STOP to stop texts to this number.",
        status_callback="https://parley.example/twilio/status",
        media_url=["https://parley.example/b/1.png", "https://parley.example/b/2.png"],
    )
    assert msg.sid is not None and msg.sid.startswith("MM")
    assert msg.status == "queued"
    assert msg.num_segments == "1"
    assert msg.num_media == "2"
    assert msg.to == TO and msg.from_ == FROM
    assert msg.messaging_service_sid is None
    assert msg.direction == "outbound-api"
    assert msg.error_code is None and msg.price is None
    assert msg.api_version == "2010-04-01"
    assert isinstance(msg.date_created, datetime)
    assert msg.uri == f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{msg.sid}.json"

    [req] = fake.requests
    assert req.form["MediaUrl"] == [
        "https://parley.example/b/1.png",
        "https://parley.example/b/2.png",
    ]
    assert req.form["StatusCallback"] == ["https://parley.example/twilio/status"]
    assert req.form["To"] == [TO] and req.form["From"] == [FROM]
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.headers["authorization"].startswith("Basic ")
    [stored] = fake.messages
    assert stored["sid"] == msg.sid and stored["num_media"] == "2"


def test_messaging_service_path(fake: FakeTwilio, client: Client) -> None:
    msg = client.messages.create(to=TO, messaging_service_sid=SERVICE_SID, body="hi")
    assert msg.sid is not None and msg.sid.startswith("SM")
    assert msg.messaging_service_sid == SERVICE_SID
    assert msg.from_ is None
    assert msg.status == "accepted"  # what Twilio answers when the service picks the sender
    [req] = fake.requests
    assert req.form["MessagingServiceSid"] == [SERVICE_SID]
    assert "From" not in req.form


def test_sids_are_unique_and_fetchable(fake: FakeTwilio, client: Client) -> None:
    sids = {client.messages.create(to=TO, from_=FROM, body=f"m{i}").sid for i in range(5)}
    assert len(sids) == 5
    some_sid = next(iter(sids))
    assert some_sid is not None
    fetched = client.messages(some_sid).fetch()
    assert fetched.sid == some_sid and fetched.to == TO
    with pytest.raises(TwilioRestException) as info:
        client.messages("SM" + "f" * 32).fetch()
    assert info.value.status == 404 and info.value.code == 20404


def test_bad_auth_is_401_20003(fake: FakeTwilio) -> None:
    c = Client(fake.account_sid, "wrong-token", http_client=TwilioHttpClient(timeout=5.0))
    c.api.base_url = fake.base_url
    try:
        with pytest.raises(TwilioRestException) as info:
            c.messages.create(to=TO, from_=FROM, body="hi")
    finally:
        _close(c)
    assert info.value.status == 401
    assert info.value.code == 20003
    assert fake.messages == []
    [req] = fake.requests
    assert not req.auth_ok


def test_other_account_in_path_is_404(fake: FakeTwilio) -> None:
    other = "AC" + "9" * 32
    c = Client(fake.account_sid, fake.auth_token, account_sid=other)
    c.api.base_url = fake.base_url
    try:
        with pytest.raises(TwilioRestException) as info:
            c.messages.create(to=TO, from_=FROM, body="hi")
    finally:
        _close(c)
    assert info.value.status == 404 and info.value.code == 20404
    assert fake.requests[0].account_sid == other


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 21211), (400, 21610), (400, 21614), (429, 20429)],
)
def test_fail_next_client_errors(fake: FakeTwilio, client: Client, status: int, code: int) -> None:
    fake.fail_next(status=status, code=code, message="injected")
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(to=TO, from_=FROM, body="hi")
    assert info.value.status == status
    assert info.value.code == code
    assert "injected" in info.value.msg
    assert fake.messages == []
    # Only the next call fails.
    assert client.messages.create(to=TO, from_=FROM, body="hi").status == "queued"
    assert len(fake.messages) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_fail_next_server_errors(fake: FakeTwilio, client: Client, status: int) -> None:
    fake.fail_next(2, status=status)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as info:
            client.messages.create(to=TO, from_=FROM, body="hi")
        assert info.value.status == status
        assert info.value.code == status
    assert client.messages.create(to=TO, from_=FROM, body="hi").sid is not None


def test_validation_errors(fake: FakeTwilio, client: Client) -> None:
    cases = [
        ({"to": "", "from_": FROM, "body": "x"}, 21604),
        ({"to": TO, "body": "x"}, 21603),
        ({"to": TO, "from_": FROM}, 21602),
        ({"to": TO, "from_": FROM, "body": "x" * 1601}, 21617),
    ]
    for kwargs, code in cases:
        with pytest.raises(TwilioRestException) as info:
            client.messages.create(**kwargs)
        assert (info.value.status, info.value.code) == (400, code)
    assert fake.messages == []


def test_delay_next_provokes_client_read_timeout_and_stop_is_prompt(fake: FakeTwilio) -> None:
    """A slow Twilio surfaces as ``requests.exceptions.ReadTimeout`` (a ``Timeout``);
    twilio does not wrap transport errors in TwilioRestException."""
    fake.delay_next(1, 30.0)
    c = fake.make_client(timeout=0.2)
    try:
        with pytest.raises(requests.exceptions.Timeout) as info:
            c.messages.create(to=TO, from_=FROM, body="slow")
        assert isinstance(info.value, requests.exceptions.ReadTimeout)
        assert not isinstance(info.value, TwilioRestException)
        assert len(fake.requests) == 1  # the request did reach the server
    finally:
        _close(c)
    started = time.monotonic()
    fake.stop()  # interrupts the 30 s wait
    assert time.monotonic() - started < 2.0
    assert fake.messages == []  # stopped before the delayed create took effect


def test_delay_is_consumed_then_normal(fake: FakeTwilio, client: Client) -> None:
    fake.delay_next(1, 0.01)
    assert client.messages.create(to=TO, from_=FROM, body="a").sid is not None
    assert client.messages.create(to=TO, from_=FROM, body="b").sid is not None
    assert len(fake.messages) == 2


def test_connection_refused_after_stop() -> None:
    fake = FakeTwilio().start()
    c = fake.make_client(timeout=2.0)
    fake.stop()
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            c.messages.create(to=TO, from_=FROM, body="hi")
    finally:
        _close(c)
    with pytest.raises(RuntimeError):
        _ = fake.base_url


def test_unknown_path_is_twilio_shaped_404(fake: FakeTwilio, client: Client) -> None:
    response = client.request("GET", f"{fake.base_url}/2010-04-01/Accounts.json")
    assert response.status_code == 404
    assert '"code": 20404' in response.text


def test_reset(fake: FakeTwilio, client: Client) -> None:
    client.messages.create(to=TO, from_=FROM, body="hi")
    fake.fail_next(3)
    fake.delay_next(3, 10.0)
    fake.reset()
    assert fake.requests == [] and fake.messages == []
    assert client.messages.create(to=TO, from_=FROM, body="hi").status == "queued"


def test_concurrent_creates(fake: FakeTwilio) -> None:
    def send(i: int) -> str:
        c = fake.make_client(timeout=5.0)
        try:
            sid = c.messages.create(to=TO, from_=FROM, body=f"n{i}").sid
        finally:
            _close(c)
        assert isinstance(sid, str)
        return sid

    with ThreadPoolExecutor(max_workers=8) as pool:
        sids = list(pool.map(send, range(40)))
    assert len(set(sids)) == 40
    assert len(fake.messages) == 40 and len(fake.requests) == 40


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension chars count twice: 160 septets
        ("€" * 81, 2),
        ("Olá" + "a" * 67, 1),  # á is not GSM-7 -> UCS-2, 70 chars
        ("Olá" + "a" * 68, 2),
        ("é" * 160, 1),  # é is GSM-7
        ("😀" * 35, 1),  # surrogate pairs count 2 UTF-16 units
        ("😀" * 36, 2),
    ],
)
def test_count_segments(body: str, segments: int) -> None:
    assert count_segments(body) == segments


def test_signature_helper_matches_request_validator() -> None:
    token = "test-token"
    url = "https://parley.example/twilio/inbound"
    params = inbound_sms_params(from_=TO, to=FROM, body="Quero pagar")
    signature = twilio_signature(token, url, params)
    validator = RequestValidator(token)
    assert validator.validate(url, params, signature)
    assert not validator.validate(url, {**params, "Body": "tampered"}, signature)
    assert not RequestValidator("other").validate(url, params, signature)

    status_url = "https://parley.example/twilio/status"
    cb = status_callback_params("SM" + "a" * 32, "undelivered", error_code=30003)
    assert validator.validate(status_url, cb, twilio_signature(token, status_url, cb))


def test_inbound_sms_params_shape() -> None:
    params = inbound_sms_params(
        from_=TO,
        to=FROM,
        body="STOP",
        messaging_service_sid=SERVICE_SID,
        opt_out_type="STOP",
    )
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"]
    assert params["MessageSid"].startswith("SM") and len(params["MessageSid"]) == 34
    assert params["SmsStatus"] == "received"
    assert params["NumMedia"] == "0" and params["NumSegments"] == "1"
    assert params["ApiVersion"] == "2010-04-01"
    assert params["FromCountry"] == "US"
    assert params["MessagingServiceSid"] == SERVICE_SID
    assert params["OptOutType"] == "STOP"
    mms = inbound_sms_params(
        from_="+5511999998888",
        to=FROM,
        body="",
        message_sid="MM" + "b" * 32,
        media=[("https://api.twilio.com/m/1", "image/jpeg")],
    )
    assert mms["MessageSid"] == "MM" + "b" * 32
    assert mms["NumMedia"] == "1" and mms["MediaContentType0"] == "image/jpeg"
    assert mms["FromCountry"] == "BR"


def test_status_callback_params_shape() -> None:
    ok = status_callback_params("SM" + "c" * 32, "delivered")
    assert ok["MessageStatus"] == ok["SmsStatus"] == "delivered"
    assert ok["MessageSid"] == ok["SmsSid"]
    assert "ErrorCode" not in ok and len(ok["RawDlrDoneDate"]) == 10
    failed = status_callback_params("SM" + "c" * 32, "failed", error_code=30007)
    assert failed["ErrorCode"] == "30007" and "RawDlrDoneDate" not in failed
