"""Creditor settings as the API shows and accepts them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

import holidays
import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.texts import supported_language

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

PaymentScheme = Literal["boleto", "pix", "reference"]
CreditorKind = Literal["first_party", "agency"]
Language = Literal["en", "es", "pt-BR"]


def _check_hhmm(value: str | None) -> str | None:
    if value is not None and not HHMM.match(value):
        raise ValueError("must be a local time HH:MM (00:00-23:59)")
    return value


def _check_country(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code")
    return value


class CreditorOut(BaseModel):
    """A creditor and its settings."""

    id: str
    name: str
    kind: str
    contact_phone: str | None
    country: str
    default_language: str
    payment_scheme: str
    contact_window_start: str
    contact_window_end: str
    max_initiated_per_day: int
    business_days_only: bool
    holiday_country: str | None
    holiday_subdivision: str | None
    mms_enabled: bool
    collector_disclosure: bool
    legal_name: str | None
    tax_id: str | None
    address: str | None
    boleto_bank_code: str | None
    boleto_agreement: str | None
    pix_key: str | None
    pix_merchant_city: str | None
    reference_prefix: str | None
    cadence_enabled: bool
    cadence_offsets: list[int]
    rebill_every_days: int
    escalate_after_unanswered: int
    twilio_from: str | None
    twilio_messaging_service_sid: str | None
    send_spread_minutes: int

    model_config = ConfigDict(from_attributes=True)


class CreditorPatch(BaseModel):
    """Settings a finance team may change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    kind: CreditorKind | None = Field(
        default=None,
        description="first_party: collects its own debts; agency: collects for others "
        "(says so in every statement; cannot text US or Canadian numbers)",
    )
    contact_phone: str | None = None
    country: str | None = None
    default_language: Language | None = None
    payment_scheme: PaymentScheme | None = None
    contact_window_start: str | None = None
    contact_window_end: str | None = None
    max_initiated_per_day: int | None = Field(default=None, ge=1, le=10)
    business_days_only: bool | None = None
    holiday_country: str | None = None
    holiday_subdivision: str | None = Field(default=None, max_length=8)
    mms_enabled: bool | None = None
    collector_disclosure: bool | None = None
    legal_name: str | None = Field(default=None, min_length=1, max_length=200)
    tax_id: str | None = Field(
        default=None, pattern=r"^[0-9A-Za-z./ -]{3,32}$", description="CNPJ/CPF, EIN, ..."
    )
    address: str | None = Field(default=None, min_length=3, max_length=300)
    boleto_bank_code: str | None = Field(default=None, pattern=r"^\d{3}$")
    boleto_agreement: str | None = Field(default=None, pattern=r"^\d{1,10}$")
    pix_key: str | None = Field(default=None, min_length=1, max_length=77)
    pix_merchant_city: str | None = Field(default=None, min_length=1, max_length=15)
    reference_prefix: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,6}$")
    cadence_enabled: bool | None = None
    cadence_offsets: list[int] | None = Field(default=None, min_length=1, max_length=6)
    rebill_every_days: int | None = Field(default=None, ge=7, le=90)
    escalate_after_unanswered: int | None = Field(default=None, ge=1, le=20)
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    send_spread_minutes: int | None = Field(default=None, ge=0, le=780)

    @field_validator("cadence_offsets")
    @classmethod
    def _offsets(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(not -30 <= v <= 90 for v in value):
            raise ValueError("offsets are days from the due date, between -30 and 90")
        if len(set(value)) != len(value):
            raise ValueError("offsets must not repeat")
        return sorted(value)

    _hhmm_start = field_validator("contact_window_start")(_check_hhmm)
    _hhmm_end = field_validator("contact_window_end")(_check_hhmm)
    _country = field_validator("country")(_check_country)

    @field_validator("default_language", mode="before")
    @classmethod
    def _language(cls, value: object) -> object:
        # "pt", "pt_BR", "es-MX", "EN" mean the same templates as for debtors.
        if isinstance(value, str):
            return supported_language(value) or value
        return value

    @field_validator("holiday_country")
    @classmethod
    def _holiday_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if value not in holidays.list_supported_countries():
            raise ValueError("no public-holiday calendar for this country")
        return value

    @field_validator("contact_phone", "twilio_from")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError("must be an E.164 phone number, e.g. +18005550100") from exc
        if not phonenumbers.is_valid_number(number):
            raise ValueError("not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @model_validator(mode="after")
    def _window_order(self) -> CreditorPatch:
        start, end = self.contact_window_start, self.contact_window_end
        if start is not None and end is not None and start >= end:
            raise ValueError("contact_window_start must be before contact_window_end")
        return self


class ApiKeyOut(BaseModel):
    """An API key as its creditor's admins see it: never the key itself."""

    id: str
    name: str
    role: str
    prefix: str = Field(description="the key's first characters, as create-api-key shows")
    created_at: datetime
    last_used_at: datetime | None = Field(description="refreshed at most once a minute")
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool = Field(description="neither revoked nor expired")


class ApiKeyList(BaseModel):
    """A creditor's API keys, oldest first."""

    items: list[ApiKeyOut]
