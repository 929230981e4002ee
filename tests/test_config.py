"""Production refuses to start unsafe, and every configuration error is one readable
line on stderr with a non-zero exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings

SAFE_PRODUCTION = {
    "PARLEY_ENVIRONMENT": "production",
    "PARLEY_SMS_GATEWAY": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "PARLEY_PAYMENT_WEBHOOK_SECRET": "s" * 32,
    "PARLEY_BOOTSTRAP_API_KEY": "pk_" + "k" * 29,
    "PARLEY_CONSOLE_SECRET": "c" * 32,
}


def _run(
    args: list[str], overrides: dict[str, str | None], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "TWILIO_"))}
    env["PARLEY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'guard.db'}"
    env.update(SAFE_PRODUCTION)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"PARLEY_SMS_GATEWAY": "simulator"}, "PARLEY_SMS_GATEWAY=twilio"),
        ({"PARLEY_SMS_GATEWAY": None}, "PARLEY_SMS_GATEWAY=twilio"),
        ({"TWILIO_AUTH_TOKEN": None}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_AUTH_TOKEN": "x"}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_AUTH_TOKEN": "z" * 32}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_AUTH_TOKEN": "a" * 33}, "TWILIO_AUTH_TOKEN"),
        ({"PARLEY_BOOTSTRAP_API_KEY": "abc"}, "PARLEY_BOOTSTRAP_API_KEY"),
        ({"PARLEY_BOOTSTRAP_API_KEY": "k" * 31}, "PARLEY_BOOTSTRAP_API_KEY"),
        ({"PARLEY_PAYMENT_WEBHOOK_SECRET": None}, "PARLEY_PAYMENT_WEBHOOK_SECRET"),
        ({"PARLEY_PAYMENT_WEBHOOK_SECRET": "s" * 31}, "PARLEY_PAYMENT_WEBHOOK_SECRET"),
        ({"PARLEY_CONSOLE_SECRET": None}, "PARLEY_CONSOLE_SECRET"),
    ],
)
def test_production_serve_refuses_unsafe_settings(
    overrides: dict[str, str | None], named: str, tmp_path: Path
) -> None:
    result = _run(["serve", "--port", "18150"], overrides, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("parley: invalid configuration: production needs")
    assert named in lines[0]
    # The refusal never echoes a secret's value.
    for secret in ("s" * 31, "k" * 31, "z" * 32):
        assert secret not in result.stderr


def test_production_settings_with_every_guard_met_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in SAFE_PRODUCTION.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.environment == "production"
    # Without a bootstrap key at all production is fine too.
    monkeypatch.delenv("PARLEY_BOOTSTRAP_API_KEY")
    assert Settings().bootstrap_api_key is None


def test_outside_production_the_guards_do_not_apply() -> None:
    settings = Settings.model_validate(
        {"environment": "development", "twilio_auth_token": "x", "bootstrap_api_key": "abc"}
    )
    assert settings.sms_gateway == "simulator"


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        Settings.model_validate({"environment": "production"})
    message = str(info.value)
    for name in ("PARLEY_SMS_GATEWAY", "TWILIO_AUTH_TOKEN", "PARLEY_PAYMENT_WEBHOOK_SECRET"):
        assert name in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"PARLEY_WORKER_BATCH_SIZE": "lots"}, "PARLEY_WORKER_BATCH_SIZE: "),
        ({"PARLEY_SMS_GATEWAY": "carrier-pigeon"}, "PARLEY_SMS_GATEWAY: "),
        ({"PARLEY_MAX_BODY_BYTES": "12"}, "PARLEY_MAX_BODY_BYTES: "),
    ],
)
def test_config_errors_are_one_readable_line(
    overrides: dict[str, str | None], expected: str, tmp_path: Path
) -> None:
    result = _run(["migrate"], {"PARLEY_ENVIRONMENT": "development", **overrides}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("parley: invalid configuration: ")
    assert expected in lines[0]
