"""Creditor lifecycle: creation, settings changes, and the bootstrap key."""

from __future__ import annotations

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import Clock
from app.creditors.models import Creditor
from app.creditors.schemas import CreditorPatch
from app.errors import ValidationFailed
from app.events import record_event
from app.security import create_api_key, find_api_key

# The widest window the law allows (12 CFR 1006.6(b)(1)(i)); creditors may narrow it.
LAWFUL_WINDOW = ("08:00", "21:00")


def get_creditor_by_name(session: Session, name: str) -> Creditor | None:
    """The creditor called `name`, if any."""
    return session.scalars(select(Creditor).where(Creditor.name == name)).first()


def create_creditor(session: Session, clock: Clock, name: str, **settings: object) -> Creditor:
    """A new creditor with the default settings, overridden by `settings`."""
    now = clock.now()
    creditor = Creditor(
        name=name,
        kind="first_party",
        country="US",
        default_language="en",
        payment_scheme="reference",
        contact_window_start=LAWFUL_WINDOW[0],
        contact_window_end=LAWFUL_WINDOW[1],
        max_initiated_per_day=1,
        business_days_only=False,
        mms_enabled=False,
        collector_disclosure=False,
        cadence_enabled=False,
        cadence_offsets=[-3, 0, 7],
        rebill_every_days=30,
        escalate_after_unanswered=3,
        send_spread_minutes=240,
        created_at=now,
        updated_at=now,
    )
    for key, value in settings.items():
        setattr(creditor, key, value)
    if "kind" in settings:
        creditor.collector_disclosure = creditor.kind == "agency"
    elif settings.get("collector_disclosure"):
        creditor.kind = "agency"
    session.add(creditor)
    session.flush()
    return creditor


def get_or_create_creditor(session: Session, clock: Clock, name: str) -> Creditor:
    """The creditor called `name`, created when missing."""
    return get_creditor_by_name(session, name) or create_creditor(session, clock, name)


def ensure_bootstrap_key(session: Session, clock: Clock, creditor_name: str, key: str) -> Creditor:
    """Make `key` an admin key of `creditor_name` (idempotent across restarts)."""
    existing = find_api_key(session, key)
    if existing is not None:
        creditor = session.get(Creditor, existing.creditor_id)
        assert creditor is not None
        return creditor
    creditor = get_or_create_creditor(session, clock, creditor_name)
    create_api_key(session, creditor, clock, name="bootstrap", role="admin", key=key)
    return creditor


def update_creditor(
    session: Session, creditor: Creditor, patch: CreditorPatch, clock: Clock, actor: str
) -> Creditor:
    """Apply a settings change after checking it against the whole resulting state."""
    changes = patch.model_dump(exclude_unset=True)
    start = changes.get("contact_window_start", creditor.contact_window_start)
    end = changes.get("contact_window_end", creditor.contact_window_end)
    errors: list[tuple[str, str]] = []
    if start is None or end is None:
        errors.append(("contact_window_start", "the contact window cannot be removed"))
    else:
        if start >= end:
            errors.append(("contact_window_end", "must be after contact_window_start"))
        if start < LAWFUL_WINDOW[0]:
            errors.append(("contact_window_start", "must not be before 08:00 local time"))
        if end > LAWFUL_WINDOW[1]:
            errors.append(("contact_window_end", "must not be after 21:00 local time"))
    kind = changes.get("kind", creditor.kind)
    if "collector_disclosure" in changes:
        wanted = changes["collector_disclosure"]
        if wanted is None or wanted != (kind == "agency"):
            errors.append(
                (
                    "collector_disclosure",
                    "follows kind: agencies disclose that they are debt collectors, "
                    "first-party creditors do not; set kind instead",
                )
            )
    if "kind" in changes and kind is not None:
        changes["collector_disclosure"] = kind == "agency"
    columns = Creditor.__table__.columns
    for key, value in changes.items():
        named = {field for field, _ in errors}
        if value is None and key in columns and not columns[key].nullable and key not in named:
            errors.append((key, "cannot be null"))
    holiday_country = changes.get("holiday_country", creditor.holiday_country)
    subdivision = changes.get("holiday_subdivision", creditor.holiday_subdivision)
    if subdivision is not None:
        if holiday_country is None:
            errors.append(("holiday_subdivision", "needs holiday_country"))
        elif subdivision not in holidays.country_holidays(holiday_country).subdivisions:
            errors.append(("holiday_subdivision", f"unknown subdivision of {holiday_country}"))
    new_name = changes.get("name")
    if new_name is not None and new_name != creditor.name:
        taken = get_creditor_by_name(session, new_name)
        if taken is not None:
            errors.append(("name", "another creditor already has this name"))
    if errors:
        raise ValidationFailed("invalid creditor settings", fields=errors)
    now = clock.now()
    for key, value in changes.items():
        old = getattr(creditor, key)
        if old != value:
            setattr(creditor, key, value)
            record_event(
                session,
                creditor_id=creditor.id,
                actor=actor,
                kind=f"creditor.{key}",
                now=now,
                from_value=old,
                to_value=value,
            )
    creditor.updated_at = now
    session.flush()
    return creditor
