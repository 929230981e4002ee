"""Structured logging that never writes a full phone number, a message body or a token."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# A phone-like run: an optional "+", digits with at most two separators (space, dot,
# dash, parentheses) between them, not glued to a word, a dot or a dash. Whether a run is
# a number is decided by _looks_like_phone: ISO dates, IP addresses and decimals are not.
_PHONE = re.compile(r"(?<![\w.+-])\+?\(?\d(?:[ .()-]{0,2}\d){5,18}(?![\w])")
# The same, URL-encoded as HTTP clients log query strings (twilio, httpx, urllib3):
# "To=%2B14155550123", "%2B1%20415%20555%200123"; "+" may also be a literal plus.
_ENCODED_PHONE = re.compile(r"(?i)(?:%2B|\+)(?:\d|%20|%2D|%28|%29|%2E|[().-]){7,60}(?<=\d)(?![\w])")
_NOT_PHONES = (
    re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T].*)?"),  # dates, date-times
    re.compile(r"\d{1,3}(?:\.\d{1,3}){3}"),  # IPv4 addresses
    re.compile(r"\d+\.\d+"),  # decimals
)
_SECRET = re.compile(r"(?i)\b(pk_[a-z0-9_-]{6,}|bearer\s+\S+|sk_[a-z0-9]{6,})")
_SENSITIVE_KEYS = {"body", "text", "token", "auth_token", "api_key", "authorization", "secret"}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of msg
}


def _looks_like_phone(run: str) -> bool:
    digits = sum(ch.isdigit() for ch in run)
    if any(pattern.fullmatch(run) for pattern in _NOT_PHONES):
        return False
    return 8 <= digits <= 15 if run.startswith("+") else 10 <= digits <= 15


def _masked(digits: str) -> str:
    return "+" + "*" * max(len(digits) - 2, 0) + digits[-2:]


def mask_phone(value: str) -> str:
    """Keep only the last two digits of anything that looks like a phone number: E.164,
    national and partly formatted ("+1 415-555 0123", "(415) 555-0123", "415.555.0123")
    and URL-encoded ("To=%2B14155550123") alike."""

    def _mask_encoded(match: re.Match[str]) -> str:
        decoded = re.sub(r"(?i)%2B|%20|%2D|%28|%29|%2E", " ", match.group(0))
        digits = re.sub(r"\D", "", decoded)
        return _masked(digits) if 8 <= len(digits) <= 15 else match.group(0)

    def _mask(match: re.Match[str]) -> str:
        run = match.group(0)
        if not _looks_like_phone(run):
            return run
        return _masked(re.sub(r"\D", "", run))

    return _PHONE.sub(_mask, _ENCODED_PHONE.sub(_mask_encoded, value))


def redact(value: str) -> str:
    """Mask phone numbers and anything that looks like a credential."""
    return _SECRET.sub("[redacted]", mask_phone(value))


# Database errors quote row values: PostgreSQL's "DETAIL:  Failing row contains (...)" and
# "Key (name)=(...) already exists", or the input in "invalid input syntax for type
# integer: "..."". Parameters are hidden by the engines (hide_parameters); these are not.
_DB_DETAIL = re.compile(r"(?m)^(\s*DETAIL:).*$")
_DB_KEY_VALUES = re.compile(r"\b(Key \([^)]*\))=\((?:[^()]|\([^()]*\))*\)")
_DB_QUOTED_INPUT = re.compile(
    r'((?:invalid input (?:syntax|value) for [^:\n]*|for type [^:\n]*): )"[^"\n]*"'
)


def scrub_database_details(value: str) -> str:
    """Remove the row values database errors quote (PostgreSQL DETAIL lines, key values,
    rejected input), keeping which constraint or type was involved."""
    value = _DB_DETAIL.sub(r"\1 [row values removed]", value)
    value = _DB_KEY_VALUES.sub(r"\1=([removed])", value)
    return _DB_QUOTED_INPUT.sub(r'\1"[removed]"', value)


def _clean(key: str, value: Any) -> Any:
    if key.lower() in _SENSITIVE_KEYS:
        return "[redacted]"
    if isinstance(value, str):
        return redact(value)
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with extras, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(scrub_database_details(record.getMessage())),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = _clean(key, value)
        if record.exc_info:
            payload["exc"] = redact(scrub_database_details(self.formatException(record.exc_info)))
        return json.dumps(payload, default=str)


class RedactingTextFormatter(logging.Formatter):
    """Human-readable lines, redacted the same way."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {
            k: _clean(k, v)
            for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_")
        }
        base = redact(scrub_database_details(super().format(record)))
        return f"{base} {extras}" if extras else base


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Install the redacting formatter on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else RedactingTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_parley", False):
            root.removeHandler(existing)
    handler._parley = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
