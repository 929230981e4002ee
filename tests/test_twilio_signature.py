"""The Twilio webhook signature check (app.deps.twilio_signature_ok): one HMAC over the
configured URL settles a good request; the library's port variants still pass."""

from __future__ import annotations

from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from app.deps import twilio_signature_ok

TOKEN = "test-auth-token-0123456789abcdef"
PARAMS = {"From": "+14155550100", "To": "+14155550199", "Body": "PAY", "MessageSid": "SM1"}


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def test_signature_over_the_configured_url_passes() -> None:
    url = "https://parley.example/webhooks/twilio/sms"
    assert twilio_signature_ok(SecretStr(TOKEN), url, PARAMS, sign(url, PARAMS))


def test_signature_over_the_url_with_its_default_port_passes_too() -> None:
    # Twilio has signed with the port written out; RequestValidator accepts both.
    url = "https://parley.example/webhooks/twilio/sms?mid=abc"
    signed = sign("https://parley.example:443/webhooks/twilio/sms?mid=abc", PARAMS)
    assert twilio_signature_ok(SecretStr(TOKEN), url, PARAMS, signed)


def test_wrong_signatures_fail() -> None:
    url = "https://parley.example/webhooks/twilio/sms"
    good = sign(url, PARAMS)
    token = SecretStr(TOKEN)
    assert not twilio_signature_ok(token, url, PARAMS, sign(url, PARAMS, "another-token"))
    assert not twilio_signature_ok(token, url, {**PARAMS, "Body": "STOP"}, good)
    assert not twilio_signature_ok(token, url + "?x=1", PARAMS, good)
    assert not twilio_signature_ok(token, url, PARAMS, good[:-2])
    assert not twilio_signature_ok(token, url, PARAMS, "")
