"""API keys of a creditor: generation, salted digests checked in constant time, expiry,
last use, listing and revocation.

A key is shown once. What is stored is its first characters (`key_prefix`, what
`create-api-key` prints and what finds the row) and HMAC-SHA256(salt, key) with a random
salt per key, so a copy of the table neither reveals a key nor lets one digest be
matched against every row at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import Clock
from app.creditors.models import ApiKey, Creditor
from app.errors import Conflict, NotFound

KEY_PREFIX = "pk_"
PREFIX_LENGTH = 10
# last_used_at is refreshed at most this often, so busy keys do not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def generate_api_key() -> str:
    """A new secret key: 256 bits, URL-safe, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(plain: str, salt: str | None) -> str:
    """The stored digest of `plain`. Rows written before keys had salts hold a bare
    SHA-256 (salt None); they are re-hashed with a salt on their next use."""
    if salt is None:
        return hashlib.sha256(plain.encode()).hexdigest()
    return hmac.new(salt.encode(), plain.encode(), hashlib.sha256).hexdigest()


def key_prefix(plain: str) -> str:
    """The part of a key that is kept in clear to find and show it."""
    return plain[:PREFIX_LENGTH]


def create_api_key(
    session: Session,
    creditor: Creditor,
    clock: Clock,
    *,
    name: str = "default",
    role: str = "admin",
    key: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Store a key for `creditor` and return it with its one-time plain text."""
    plain = key or generate_api_key()
    salt = secrets.token_hex(16)
    row = ApiKey(
        creditor_id=creditor.id,
        name=name,
        role=role,
        key_salt=salt,
        key_hash=key_digest(plain, salt),
        key_prefix=key_prefix(plain),
        created_at=clock.now(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, plain


def find_api_key(session: Session, plain: str) -> ApiKey | None:
    """The stored key matching `plain` (revoked or expired ones included). Every row
    sharing the prefix is compared, each in constant time."""
    if not plain:
        return None
    candidates = session.scalars(select(ApiKey).where(ApiKey.key_prefix == key_prefix(plain)))
    found = None
    for row in candidates:
        if hmac.compare_digest(row.key_hash, key_digest(plain, row.key_salt)):
            found = row
    return found


def is_usable(key: ApiKey, now: datetime) -> bool:
    """Neither revoked nor past its expiry."""
    return key.revoked_at is None and (key.expires_at is None or now < key.expires_at)


def authenticate_api_key(session: Session, plain: str, now: datetime) -> ApiKey | None:
    """The usable key matching `plain`, with its last use recorded, or None."""
    key = find_api_key(session, plain)
    if key is None or not is_usable(key, now):
        return None
    if key.key_salt is None:
        key.key_salt = secrets.token_hex(16)
        key.key_hash = key_digest(plain, key.key_salt)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return key


def list_api_keys(session: Session, creditor_id: str) -> list[ApiKey]:
    """A creditor's keys, oldest first (revoked and expired ones too)."""
    return list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.creditor_id == creditor_id)
            .order_by(ApiKey.created_at, ApiKey.id)
        )
    )


def get_api_key(session: Session, creditor_id: str, key_id: str) -> ApiKey:
    """One key of this creditor (404 for another's)."""
    key = session.get(ApiKey, key_id)
    if key is None or key.creditor_id != creditor_id:
        raise NotFound("API key not found", field="key_id")
    return key


def keys_matching(session: Session, key_or_prefix: str) -> list[ApiKey]:
    """The keys a command-line argument names: the full key, or its shown prefix."""
    found = find_api_key(session, key_or_prefix)
    if found is not None:
        return [found]
    if len(key_or_prefix) != PREFIX_LENGTH:
        return []
    return list(session.scalars(select(ApiKey).where(ApiKey.key_prefix == key_or_prefix)))


def revoke_api_key(key: ApiKey, now: datetime) -> bool:
    """Stop `key` working from now on; False when it was already revoked."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = now
    return True


def revoke_by_text(session: Session, key_or_prefix: str, now: datetime) -> tuple[ApiKey, bool]:
    """Revoke the one key named by its full text or shown prefix; the flag is False when
    it was already revoked."""
    matches = keys_matching(session, key_or_prefix)
    if not matches:
        raise NotFound("no API key matches")
    if len(matches) > 1:
        raise Conflict(f"{len(matches)} keys share this prefix: give the whole key")
    changed = revoke_api_key(matches[0], now)
    session.flush()
    return matches[0], changed
