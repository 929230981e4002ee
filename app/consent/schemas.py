"""Suppressions and the consent ledger as the API shows and accepts them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SuppressionReason = Literal[
    "attorney_represented",
    "bankruptcy",
    "deceased",
    "cease_and_desist",
    "breathing_space",
    "dispute",
]


class SuppressionIn(BaseModel):
    """Why the debtor must not be contacted, the evidence, and when that ends (none:
    until lifted; a breathing space ends after 60 days unless told otherwise)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: SuppressionReason
    evidence_note: str = Field(min_length=1, max_length=2000)
    ends_at: AwareDatetime | None = None


class SuppressionOut(BaseModel):
    id: str
    debtor_id: str
    reason: str
    evidence_note: str
    starts_at: datetime
    ends_at: datetime | None
    lifted_at: datetime | None
    active: bool
    replies_allowed: bool
    created_by: str


class SuppressionList(BaseModel):
    items: list[SuppressionOut]


class ConsentIn(BaseModel):
    """Consent to text a number, recorded through the API."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    phone: str = Field(min_length=3, max_length=40)
    how: str = Field(min_length=1, max_length=500, description="how consent was obtained")
    obtained_at: AwareDatetime | None = None


class ConsentEntryOut(BaseModel):
    recorded_at: str
    phone: str
    event: str
    channel: str
    words: str
    effective_at: str
    source: str
    message_id: str
    confirmation_message_id: str
    actor: str


class ConsentLedger(BaseModel):
    items: list[ConsentEntryOut]
