"""Console sessions in a signed cookie, CSRF tokens, and login throttling.

The cookie holds only the user's id, a per-session CSRF token and when it was issued,
signed with PARLEY_CONSOLE_SECRET by itsdangerous (the signer Flask and Starlette's own
session middleware use); nothing in it is secret, and a changed byte voids it. It is
HttpOnly, SameSite=Lax, scoped to /console, and Secure whenever the console is reached
over https (directly or behind a TLS-terminating proxy whose public URL is https).

Every form carries the session's CSRF token (a hidden field, or the X-CSRF-Token header
htmx sends), compared in constant time: a page on another site can make a browser post
to the console but cannot read the token.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.config import Settings

COOKIE = "parley_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass
class ConsoleSession:
    """What the cookie carries: who is logged in (None before login) and the CSRF token."""

    user_id: str | None
    csrf: str
    fresh: bool = False  # True when the cookie must be (re)written on the response

    @classmethod
    def new(cls, user_id: str | None = None) -> ConsoleSession:
        return cls(user_id=user_id, csrf=secrets.token_urlsafe(32), fresh=True)


class SessionCodec:
    """Signs and reads the session cookie."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.console_secret
        # Without a configured secret (development, tests) sessions last as long as the
        # process; production refuses to start without one (see Settings).
        key = secret.get_secret_value() if secret else secrets.token_urlsafe(32)
        self._serializer = URLSafeTimedSerializer(key, salt="parley-console-session")
        self._secure_default = settings.public_base.startswith("https://")

    def read(self, request: Request) -> ConsoleSession | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data: Any = self._serializer.loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        user_id = data.get("u")
        return ConsoleSession(user_id=user_id if isinstance(user_id, str) else None, csrf=data["c"])

    def write(self, request: Request, response: Response, session: ConsoleSession) -> None:
        value = self._serializer.dumps({"u": session.user_id, "c": session.csrf})
        response.set_cookie(
            COOKIE,
            value,
            max_age=SESSION_SECONDS,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self._secure_default or request.url.scheme == "https",
        )

    def clear(self, request: Request, response: Response) -> None:
        response.delete_cookie(
            COOKIE,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=self._secure_default or request.url.scheme == "https",
        )


def csrf_matches(session: ConsoleSession | None, given: str | None) -> bool:
    """Whether a submitted token is this session's (constant-time)."""
    if session is None or not given:
        return False
    return hmac.compare_digest(session.csrf.encode(), given.encode())


@dataclass
class _Failures:
    times: deque[datetime] = field(default_factory=deque)


class LoginThrottle:
    """At most `limit` failed logins per email and per client address in `window`; then
    that email (or address) is refused until the oldest failure leaves the window, even
    with the right password. Counted per process: with several server processes an
    attacker gets `limit` tries per process, still a handful per window."""

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    def _prune(self, key: str, now: datetime) -> deque[datetime]:
        entry = self._failures.setdefault(key, _Failures())
        while entry.times and now - entry.times[0] >= self.window:
            entry.times.popleft()
        return entry.times

    def retry_after(self, keys: list[str], now: datetime) -> timedelta | None:
        """How long until these keys may try again (None: they may now)."""
        with self._lock:
            waits = []
            for key in keys:
                times = self._prune(key, now)
                if len(times) >= self.limit:
                    waits.append(times[0] + self.window - now)
            return max(waits) if waits else None

    def failed(self, keys: list[str], now: datetime) -> None:
        with self._lock:
            for key in keys:
                self._prune(key, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
