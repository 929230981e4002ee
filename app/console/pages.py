"""Rendering for the console: the Jinja2 environment, the per-request page context
(who is signed in, their language, the CSRF token) and the security headers every
console response carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from app.access.principal import Principal
from app.access.roles import Permission
from app.console.i18n import LANG_COOKIE, LANGUAGE_NAMES, LANGUAGES, Translator, choose_language
from app.console.sessions import CSRF_FIELD, csrf_token

STATIC_VERSION = "1"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
# (catalog key, href) of the navigation, with the permission a link needs.
NAV: tuple[tuple[str, str, Permission], ...] = (
    ("dashboard", "/console", Permission.VIEW),
    ("debts", "/console/debts", Permission.VIEW),
    ("inbox", "/console/inbox", Permission.VIEW),
    ("callbacks", "/console/callbacks", Permission.VIEW),
    ("rules", "/console/rules", Permission.VIEW_AMOUNTS),
    ("settings", "/console/settings", Permission.VIEW),
    ("import", "/console/import", Permission.VIEW),
    ("analytics", "/console/analytics", Permission.VIEW_AMOUNTS),
    ("simulation", "/console/simulation", Permission.CONFIGURE),
)

_environment = Environment(
    loader=PackageLoader("app.console", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def static_url(name: str) -> str:
    return f"/console/static/{name}?v={STATIC_VERSION}"


ZONE_COOKIE = "parley_tz"


def zone_cookie(request: Request) -> str | None:
    """The browser's time zone (set by console.js), when it is a real IANA zone."""
    value = request.cookies.get(ZONE_COOKIE)
    if not value or len(value) > 64:
        return None
    try:
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        return None
    return value


def translator(request: Request) -> Translator:
    """The request's language: the switch's cookie, else the browser's preference."""
    return Translator(
        choose_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    )


@dataclass
class Page:
    """What every console template gets."""

    request: Request
    t: Translator
    principal: Principal | None

    @property
    def can_work(self) -> bool:
        return self.principal is not None and self.principal.can(Permission.WORK)

    @property
    def can_manage(self) -> bool:
        return self.principal is not None and self.principal.can(Permission.MANAGE_DEBTS)

    @property
    def can_configure(self) -> bool:
        return self.principal is not None and self.principal.can(Permission.CONFIGURE)

    @property
    def sees_amounts(self) -> bool:
        return self.principal is not None and self.principal.sees_amounts

    def money(self, amount: int, currency: str) -> str:
        """Money, or a dash for a role that may not see amounts."""
        return self.t.money(amount, currency) if self.sees_amounts else "—"

    def render(
        self,
        template: str,
        *,
        title: str,
        section: str = "",
        status_code: int = 200,
        notice: str | None = None,
        error: str | None = None,
        error_fields: list[tuple[str, str]] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        request = self.request
        csrf = csrf_token(request)
        notice_key = request.query_params.get("notice")
        if notice is None and notice_key in NOTICES:
            notice = self.t(notice_key)
        user = None
        nav: list[tuple[str, str]] = []
        if self.principal is not None and self.principal.user is not None:
            user = {"email": self.principal.user.email, "role": self.principal.role.value}
            nav = [(key, href) for key, href, need in NAV if self.principal.can(need)]
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        html = _environment.get_template(template).render(
            t=self.t,
            lang=self.t.language,
            title=title,
            section=section,
            user=user,
            nav=nav,
            csrf=csrf,
            csrf_field=lambda: Markup(  # noqa: S704 (a token we made, URL-safe base64)
                f'<input type="hidden" name="{CSRF_FIELD}" value="{csrf}">'
            ),
            static=static_url,
            here=here,
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            notice=notice,
            error=error,
            error_fields=error_fields or [],
            money=self.money,
            fdate=self.t.date,
            fdatetime=self.t.datetime,
            can_work=self.can_work,
            can_manage=self.can_manage,
            can_money=self.can_configure,
            sees_amounts=self.sees_amounts,
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


# Notices a redirect may ask for (?notice=key); anything else is ignored.
NOTICES = frozenset(
    {
        "saved",
        "reply_queued",
        "assigned",
        "handled",
        "claimed",
        "completed",
        "rescheduled",
        "booked",
        "logged_out",
        "sending_resumed",
    }
)


def redirect(path: str, notice: str | None = None, **params: str) -> RedirectResponse:
    """303 to a console page (after a form post), optionally with a notice."""
    query = {**params, **({"notice": notice} if notice else {})}
    url = path + (f"?{urlencode(query)}" if query else "")
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def safe_next(value: str | None) -> str:
    """A post-login destination inside the console only (no open redirect)."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console"


def parse_int(value: str | None) -> int | None:
    """A form's optional whole number ("" is None); ValueError when not a number."""
    if value is None or not value.strip():
        return None
    return int(value.strip())


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()
