"""Settings, read once from the environment (names fixed by PRODUCT.md's contract)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./parley.db"
TWILIO_DEFAULT_API_BASE = "https://api.twilio.com"
# Shorter webhook secrets are treated as missing: an empty key would let anyone sign.
MIN_SECRET_LENGTH = 16
# What production insists on: secrets that cannot be guessed, and Twilio's own token format
# (an auth token is 32 hexadecimal characters), so a blank or placeholder token never
# "verifies" forged webhooks.
MIN_PRODUCTION_SECRET_LENGTH = 32
TWILIO_AUTH_TOKEN_FORMAT = re.compile(r"[0-9a-fA-F]{32}")
MIB = 1024 * 1024


class Settings(BaseSettings):
    """Parley's configuration. Every field maps to a `PARLEY_*` variable, except the
    two Twilio credentials, which keep the names the twilio library itself reads."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str = "http://127.0.0.1:8000"
    sms_gateway: Literal["simulator", "twilio"] = "simulator"

    twilio_account_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "twilio_account_sid")
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "twilio_auth_token")
    )
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str = TWILIO_DEFAULT_API_BASE

    bootstrap_api_key: SecretStr | None = None
    bootstrap_creditor: str = "Demo Creditor"
    payment_webhook_secret: SecretStr | None = None
    # Signs console session cookies; without it (development, tests) a random key is
    # made per process, so sessions end when the process does.
    console_secret: SecretStr | None = None

    default_region: str = Field(default="US", description="Region for national phone numbers")
    log_level: str = "INFO"
    log_json: bool = True

    worker_poll_seconds: float = Field(default=1.0, gt=0)
    worker_batch_size: int = Field(default=200, ge=1, le=1000)
    worker_lease_seconds: int = Field(default=300, ge=10)
    # Inbound texts: tries before a text whose handling keeps failing goes to the human
    # queue, and the backoff between tries (base * 2^(try-1), capped).
    inbound_max_attempts: int = Field(default=5, ge=1, le=50)
    inbound_retry_base_seconds: float = Field(default=5.0, gt=0)
    inbound_retry_max_delay_seconds: float = Field(default=600.0, gt=0)
    # Groups of inbound texts a worker handles at once (PostgreSQL; SQLite: one).
    inbound_concurrency: int = Field(default=4, ge=1, le=16)
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    send_concurrency: int = Field(default=16, ge=1, le=64)
    # Attempts for errors about one message (unreachable handset, unknown error); provider
    # outages (5xx, 429, timeouts) are bounded by time instead (retry_window_seconds).
    max_send_attempts: int = Field(default=6, ge=1, le=20)
    retry_base_seconds: float = Field(default=30.0, gt=0)
    retry_max_delay_seconds: float = Field(default=300.0, gt=0)
    # How long a message keeps waiting for the provider after its first failure.
    retry_window_seconds: float = Field(default=24 * 3600.0, gt=0)
    # After an attempt that got no answer (timeout, reset), how long to let the provider
    # finish it before looking it up.
    reconcile_after_seconds: float = Field(default=30.0, ge=0)
    # How long an undecidable look-up keeps waiting (for other messages' outcomes and
    # status callbacks) before the message is parked for a person.
    review_after_seconds: float = Field(default=900.0, ge=0)
    # Circuit breaker: this many provider failures in a row pause all sending; a single
    # probe goes after the pause, which doubles (up to retry_max_delay_seconds) while the
    # provider stays down.
    breaker_failures: int = Field(default=5, ge=1)
    breaker_pause_seconds: float = Field(default=15.0, gt=0)
    jobs_interval_seconds: float = Field(default=60.0, ge=0)
    # Sending lanes (one per sender: a creditor's number or messaging service, or the
    # global one). Budgets per lane and for the whole Twilio account; 0 means no limit.
    # A text over a budget waits (held_reason lane_budget) for the next second / UTC day;
    # the daily segment budget holds initiated texts only (answers always go).
    lane_messages_per_second: int = Field(default=0, ge=0, le=10_000)
    lane_segments_per_day: int = Field(default=0, ge=0)
    account_messages_per_second: int = Field(default=0, ge=0, le=10_000)
    # A lane Twilio calls too fast (429, 30001 queue overflow, 63017 rate limit) pauses
    # itself this long (held_reason lane_paused).
    lane_pause_seconds: float = Field(default=60.0, gt=0)
    # Deliverability guard: a creditor's initiated texts pause when, over its last
    # deliverability_sample initiated texts, the share followed by an opt-out or filtered
    # by a carrier (Twilio 30007) passes these rates; answers to debtors still go.
    # The opt-out limit is off (1.0) by default: collection portfolios opt out often.
    deliverability_sample: int = Field(default=200, ge=1)
    deliverability_max_opt_out_rate: float = Field(default=1.0, gt=0, le=1)
    deliverability_max_filtered_rate: float = Field(default=0.02, gt=0, le=1)
    # How long a text held by the guard waits before it is looked at again.
    deliverability_recheck_seconds: float = Field(default=900.0, gt=0)
    # Tests only: read the current time from this file (app.clock.FileClock).
    clock_file: str | None = None

    # Request bodies are refused (413) past these sizes while they are read, before any
    # parsing or authentication; only the CSV import may send more.
    max_body_bytes: int = Field(default=1 * MIB, ge=1024)
    max_import_body_bytes: int = Field(default=100 * MIB, ge=1024)
    # Failed API-key checks and unknown payment-page tokens allowed per client address
    # and minute before it gets 429 with Retry-After (0 turns the throttle off).
    auth_failures_per_minute: int = Field(default=20, ge=0, le=100_000)
    page_token_failures_per_minute: int = Field(default=30, ge=0, le=100_000)
    # How long a SQLite writer waits for the lock before the request answers 503.
    sqlite_busy_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # What one SMS segment costs, in millionths of a US dollar ($0.0083 by default, a US
    # long code's list price): the dry run's (`parley simulate`) cost estimate.
    sms_segment_price_micro_usd: int = Field(default=8_300, ge=0, le=10_000_000)
    # The console's dry run runs inside the request: it refuses more than this many
    # debtors x days (about 3 ms of CPU each), so the page answers in well under a minute.
    # `parley simulate` and POST /api/v1/simulations have no such limit.
    console_simulation_max_debtor_days: int = Field(default=6_000, ge=1)

    @property
    def batch_send_limit_seconds(self) -> float:
        """The longest a claimed batch can take to go out: every round of
        send_concurrency sends waiting out both its timeouts (connect and read)."""
        rounds = -(-self.worker_batch_size // self.send_concurrency)
        return 2 * self.send_timeout_seconds * rounds

    @model_validator(mode="after")
    def _lease_outlasts_a_batch(self) -> Settings:
        """A claim's lease must outlast the slowest batch of sends, or a message still in
        flight could be claimed and sent again by another worker."""
        needed = self.batch_send_limit_seconds
        if self.worker_lease_seconds < needed:
            raise ValueError(
                f"PARLEY_WORKER_LEASE_SECONDS must be at least {needed:.0f} "
                "(2 x send timeout x batches of sends per claim)"
            )
        return self

    @model_validator(mode="after")
    def _enforce_production_safety(self) -> Settings:
        """Refuse to run production with anything that would let texts be forged, keys be
        guessed, or messages be "sent" by the simulator without reaching anyone."""
        if self.environment != "production":
            return self
        problems = []
        if self.sms_gateway == "simulator":
            problems.append("PARLEY_SMS_GATEWAY=twilio (the simulator sends nothing)")
        token = self.twilio_auth_token
        if token is None or not TWILIO_AUTH_TOKEN_FORMAT.fullmatch(token.get_secret_value()):
            problems.append("TWILIO_AUTH_TOKEN (32 hexadecimal characters)")
        secret = self.payment_webhook_secret
        if secret is None or len(secret.get_secret_value()) < MIN_PRODUCTION_SECRET_LENGTH:
            problems.append(
                f"PARLEY_PAYMENT_WEBHOOK_SECRET (at least {MIN_PRODUCTION_SECRET_LENGTH} "
                "characters)"
            )
        key = self.bootstrap_api_key
        if key is not None and len(key.get_secret_value()) < MIN_PRODUCTION_SECRET_LENGTH:
            problems.append(
                f"PARLEY_BOOTSTRAP_API_KEY of at least {MIN_PRODUCTION_SECRET_LENGTH} "
                "characters (or none)"
            )
        console = self.console_secret
        if console is None or len(console.get_secret_value()) < MIN_PRODUCTION_SECRET_LENGTH:
            problems.append(
                f"PARLEY_CONSOLE_SECRET (at least {MIN_PRODUCTION_SECRET_LENGTH} characters)"
            )
        if self.clock_file:
            problems.append(
                "no PARLEY_CLOCK_FILE (it is for tests; production runs on the real clock)"
            )
        if problems:
            raise ValueError(f"production needs {'; '.join(problems)}")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def public_base(self) -> str:
        """PARLEY_PUBLIC_URL without a trailing slash."""
        return self.public_url.rstrip("/")


def describe_settings_error(exc: ValidationError) -> str:
    """A settings error as one readable line naming the environment variables."""
    parts = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        names = [str(p) for p in error.get("loc", ()) if str(p)]
        if names:
            variable = names[0].upper()
            if not variable.startswith("TWILIO_"):
                variable = "PARLEY_" + variable
            parts.append(f"{variable}: {message}")
        else:
            parts.append(message)
    return "invalid configuration: " + "; ".join(parts)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
