"""The console's pages and forms, under /console.

Every page declares the permission it needs (app.access: one table decides what each
role holds); every form is CSRF-checked; every change goes through the same service
functions the API calls, inside the request's one transaction. A refused change (409,
422) rolls back whole and shows the page again with the reason.
"""

from __future__ import annotations

import io
import tempfile
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.access.deps import Authorize, LoginRequired
from app.access.principal import Principal
from app.access.roles import Permission
from app.actions.agents import send_agent_message
from app.actions.callbacks import notify_moved, offer_after_no_answer
from app.actions.debts import import_debts_csv, review_debt
from app.actions.lifecycle import DebtChange, change_debt
from app.analytics.service import Period, recovery_report
from app.callbacks import service as callbacks
from app.callbacks.models import CALLBACK_OUTCOMES, Callback
from app.config import Settings
from app.console import figures
from app.console.i18n import CANNED_REPLIES, LANG_COOKIE, LANGUAGES
from app.console.pages import (
    Page,
    local_today,
    parse_int,
    redirect,
    safe_next,
    translator,
    zone_cookie,
)
from app.console.queries import (
    debt_file,
    debtor_count,
    debtors_by_id,
    first_debt_of,
    inbox_count,
    last_inbound,
)
from app.console.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    LoginThrottle,
    csrf_matches,
    start_session,
)
from app.conversations import agent
from app.creditors.models import PAYMENT_SCHEMES, ApiKey, Creditor
from app.creditors.schemas import CreditorPatch
from app.creditors.service import update_creditor
from app.debts.models import DEBT_STATUSES, Debt, Debtor
from app.debts.queries import event_shows_values as shows_event_values
from app.debts.queries import get_debt
from app.debts.search import DebtSearch, search_debts
from app.deps import ClockDep, SessionDep, SettingsDep
from app.errors import ParleyError, ValidationFailed
from app.exports import api as exports
from app.messaging.governor import ContactPolicy, is_business_day
from app.messaging.lanes import SendingStatus, resume_deliverability, sending_status
from app.messaging.models import Message
from app.offers.models import OfferRule
from app.offers.queries import latest_plan, plan_installments
from app.offers.service import compute_offers, create_rule, creditor_rules, update_rule
from app.payments.service import payment_page_url
from app.simulation import MAX_DAYS, run_simulation
from app.users.service import authenticate, get_user

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE_SIZE = 25
CSV_COLUMNS = (
    "external_id",
    "name",
    "phone",
    "language",
    "timezone",
    "amount",
    "currency",
    "due_date",
    "description",
)


def _console(permission: Permission) -> Any:
    return Depends(Authorize(permission, console=True))


Viewer = Annotated[Principal, _console(Permission.VIEW)]
AmountViewer = Annotated[Principal, _console(Permission.VIEW_AMOUNTS)]
Exporter = Annotated[Principal, _console(Permission.EXPORT)]
Worker = Annotated[Principal, _console(Permission.WORK)]
DebtManager = Annotated[Principal, _console(Permission.MANAGE_DEBTS)]
Configurer = Annotated[Principal, _console(Permission.CONFIGURE)]


# Forms posted before signing in.
ANONYMOUS = frozenset({"/console/login", "/console/language"})


async def require_csrf(request: Request) -> None:
    """Refuse (403) a form whose CSRF token is not this session's."""
    given = request.headers.get(CSRF_HEADER)
    if not given and "user_id" not in request.session and request.url.path not in ANONYMOUS:
        # Nobody is signed in: refuse before reading (and spooling) a posted body.
        raise LoginRequired("sign in to use the console")
    if not given:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not csrf_matches(request, given):
        raise CsrfFailed("the form expired; reload the page and try again")


class CsrfFailed(ParleyError):
    status_code = 403
    code = "csrf_failed"


Csrf = Depends(require_csrf)


def _page(request: Request, principal: Principal | None) -> Page:
    return Page(request, translator(request), principal)


def _agent_zone(request: Request, session: Session, creditor_id: str) -> str:
    """Where the signed-in person is (their browser tells, in a cookie), else the team's
    calendar zone: callbacks and waiting times are shown in it."""
    return zone_cookie(request) or _team_zone(session, creditor_id)


def _team_zone(session: Session, creditor_id: str) -> str:
    calendar = callbacks.get_calendar(session, creditor_id)
    return calendar.timezone if calendar else "UTC"


def _refused(page: Page, exc: ParleyError, render: Any) -> HTMLResponse:
    """Show the page again with why the change was refused."""
    response: HTMLResponse = render(error=exc.message, error_fields=exc.fields)
    response.status_code = exc.status_code
    return response


# ------------------------------------------------------------------ sign in/out


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form (email, password)."""
    page = _page(request, None)
    return page.render(
        "login.html", title=page.t("login_title"), next_url=safe_next(next), email=""
    )


@router.post("/login", response_class=HTMLResponse, dependencies=[Csrf])
def login(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console",
) -> Response:
    """Check the password; after too many failures the email and the address wait."""
    page = _page(request, None)
    throttle: LoginThrottle = request.app.state.login_throttle
    now = clock.now()
    client = request.client.host if request.client else "unknown"
    email_key, client_key = f"email:{email.strip().lower()}", f"client:{client}"
    wait = throttle.retry_after([email_key, client_key], now)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        return page.render(
            "login.html",
            title=page.t("login_title"),
            status_code=429,
            error=page.t("login_throttled", minutes=minutes),
            next_url=safe_next(next),
            email=email,
        )
    user = authenticate(session, email, password, now=now)
    if user is None:
        throttle.failed([email_key, client_key], now)
        return page.render(
            "login.html",
            title=page.t("login_title"),
            status_code=401,
            error=page.t("login_failed"),
            next_url=safe_next(next),
            email=email,
        )
    throttle.succeeded([email_key])
    start_session(request, user.id)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request) -> Response:
    """End the session (the cookie is cleared)."""
    request.session.clear()
    return redirect("/console/login", "logged_out")


@router.post("/language", dependencies=[Csrf])
def switch_language(
    lang: Annotated[str, Form()], next: Annotated[str, Form(max_length=2000)] = "/console"
) -> Response:
    """Remember the chosen language in a cookie (a year)."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/console", samesite="lax")
    return response


# -------------------------------------------------------------------- dashboard


def _sending_view(
    page: Page, status: SendingStatus, settings: Settings, zone: str
) -> dict[str, Any]:
    """What holds the creditor's texts, for the dashboard: the deliverability guard, a
    lane paused after Twilio said "too fast", and the texts waiting by reason."""
    guard = status.guard
    figures_ = status.figures
    if guard is not None and guard.sample:
        opt_out, filtered = guard.opted_out / guard.sample, guard.filtered / guard.sample
    else:
        opt_out, filtered = figures_.opt_out_rate, figures_.filtered_rate
    lanes = [
        {
            "name": page.t("sending_lane_own" if lane is status.lane else "sending_lane_account"),
            "until": page.t.datetime(lane.paused_until, zone),
            "reason": lane.pause_reason or "",
        }
        for lane in (status.lane, status.account)
        if lane.paused_until is not None
    ]
    return {
        "paused": guard is not None,
        "since": page.t.datetime(guard.paused_since, zone) if guard and guard.paused_since else "",
        "reason": guard.reason if guard else "",
        "sample": guard.sample if guard else figures_.sample,
        "opt_out_rate": f"{opt_out:.1%}",
        "filtered_rate": f"{filtered:.1%}",
        "max_opt_out_rate": f"{settings.deliverability_max_opt_out_rate:.1%}",
        "max_filtered_rate": f"{settings.deliverability_max_filtered_rate:.1%}",
        "lanes": lanes,
        "held": sorted(status.held.items()),
        "can_resume": page.principal is not None and page.principal.can(Permission.CONFIGURE),
    }


@router.get("", response_class=HTMLResponse)
def dashboard(
    request: Request,
    principal: Viewer,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """Today's queue, callbacks due, money recovered this week and month, two charts, and
    what holds the creditor's texts (the deliverability guard, paused lanes)."""
    page = _page(request, principal)
    creditor = principal.creditor
    zone = _agent_zone(request, session, creditor.id)
    now = clock.now()
    sending = _sending_view(page, sending_status(session, creditor, settings, now), settings, zone)
    today = local_today(now, zone)
    day_start = callbacks.local_day_start(zone, today)
    due = callbacks.list_callbacks(
        session, creditor.id, start=day_start, end=day_start + timedelta(days=1)
    )
    inbox = inbox_count(session, creditor.id)
    callbacks_due = sum(1 for c in due if c.status in ("booked", "claimed"))
    if not page.sees_amounts:
        return page.render(
            "dashboard.html",
            title=page.t("dashboard"),
            section="dashboard",
            inbox_count=inbox,
            callbacks_due=callbacks_due,
            recovered_week="—",
            recovered_month="—",
            charts={"recovery": "", "funnel": ""},
            sending=sending,
        )
    # Money applied this month, by day, from the analytics service; the week is its tail.
    month = recovery_report(
        session,
        creditor.id,
        Period.of_dates(today.replace(day=1), None),
        today=today,
        interval="day",
    )
    week_start = (today - timedelta(days=today.weekday())).isoformat()
    currency = month.currency or "USD"
    week = sum(amount for label, amount in month.recovery_over_time if label >= week_start)
    data = figures.analytics(
        session, creditor.id, period=_default_period(today), today=today, t=page.t
    )
    return page.render(
        "dashboard.html",
        title=page.t("dashboard"),
        section="dashboard",
        inbox_count=inbox,
        callbacks_due=callbacks_due,
        recovered_week=page.t.money(week, currency),
        recovered_month=page.t.money(month.recovered_amount, currency),
        charts=data.charts,
        sending=sending,
    )


@router.post("/sending/resume", dependencies=[Csrf])
def resume_sending(principal: Configurer, session: SessionDep, clock: ClockDep) -> Response:
    """Resume the initiated texts the deliverability guard paused (after finding out why
    so many opted out or were filtered), as POST /api/v1/sending/deliverability/resume."""
    resume_deliverability(session, principal.creditor.id, now=clock.now(), actor=principal.actor)
    return redirect("/console", "sending_resumed")


def _default_period(today: date) -> Period:
    """The last six whole months and this one."""
    month, year = today.month - 6, today.year
    if month < 1:
        month, year = month + 12, year - 1
    return Period.of_dates(date(year, month, 1), today)


def _currency(page: Page) -> str:
    assert page.principal is not None
    return {"BR": "BRL", "MX": "MXN", "ES": "EUR", "PT": "EUR"}.get(
        page.principal.creditor.country, "USD"
    )


# ------------------------------------------------------------------------ debts


def _filters(
    q: str, status: str, dpd_min: str, dpd_max: str, segment: str, language: str
) -> tuple[DebtSearch, list[tuple[str, str]]]:
    errors: list[tuple[str, str]] = []
    values: dict[str, int | None] = {}
    for name, raw in (("dpd_min", dpd_min), ("dpd_max", dpd_max)):
        try:
            number = parse_int(raw)
        except ValueError:
            errors.append((name, "must be a whole number"))
            number = None
        if number is not None and not 0 <= number <= 36_500:
            errors.append((name, "must be between 0 and 36500"))
            number = None
        values[name] = number
    if status and status not in DEBT_STATUSES:
        errors.append(("status", f"must be one of {', '.join(DEBT_STATUSES)}"))
        status = ""
    if language and language not in LANGUAGES:
        errors.append(("language", f"must be one of {', '.join(LANGUAGES)}"))
        language = ""
    return (
        DebtSearch(
            q=q[:200] or None,
            status=status or None,
            language=language or None,
            tag=segment[:60] or None,
            min_days_past_due=values["dpd_min"],
            max_days_past_due=values["dpd_max"],
        ),
        errors,
    )


@router.get("/debts", response_class=HTMLResponse)
def debts_page(
    request: Request,
    principal: Viewer,
    session: SessionDep,
    clock: ClockDep,
    q: str = "",
    status: str = "",
    dpd_min: str = "",
    dpd_max: str = "",
    segment: str = "",
    language: str = "",
    page: str = "1",
) -> HTMLResponse:
    """Search and filter debts, a page at a time, with the total."""
    view = _page(request, principal)
    filters, errors = _filters(q, status, dpd_min, dpd_max, segment, language)
    try:
        number = max(1, min(int(page), 100_000))
    except ValueError:
        number = 1
    today = local_today(clock.now(), _team_zone(session, principal.creditor.id))
    rows, total = search_debts(
        session,
        principal.creditor.id,
        filters,
        today=today,
        region=principal.creditor.country,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    shown = {
        "q": filters.q or "",
        "status": filters.status or "",
        "dpd_min": "" if filters.min_days_past_due is None else str(filters.min_days_past_due),
        "dpd_max": "" if filters.max_days_past_due is None else str(filters.max_days_past_due),
        "segment": filters.tag or "",
        "language": filters.language or "",
    }
    params = {k: v for k, v in shown.items() if v}
    first = (number - 1) * PAGE_SIZE + 1

    def page_url(n: int) -> str:
        return "/console/debts?" + urlencode({**params, "page": str(n)})

    return view.render(
        "debts.html",
        title=view.t("debts"),
        section="debts",
        status_code=422 if errors else 200,
        error=view.t("errors") if errors else None,
        error_fields=errors,
        f=shown,
        statuses=DEBT_STATUSES,
        query=urlencode(params),
        total=total,
        first=first,
        last=min(first + len(rows) - 1, total),
        prev_url=page_url(number - 1) if number > 1 else None,
        next_url=page_url(number + 1) if first + len(rows) - 1 < total else None,
        rows=[
            {
                "id": debt.id,
                "name": debtor.name,
                "phone": debtor.phone,
                "external_id": debt.external_id,
                "status": debt.status,
                "balance": view.money(debt.balance, debt.currency),
                "dpd": max(0, (today - debt.due_date).days),
            }
            for debt, debtor in rows
        ],
    )


@router.get("/debts/export.csv")
def export_debts(
    request: Request,
    principal: Exporter,
    clock: ClockDep,
    q: str = "",
    status: str = "",
    dpd_min: str = "",
    dpd_max: str = "",
    segment: str = "",
    language: str = "",
) -> Response:
    """The filtered debts as CSV (every match, not one page): the API's export, formula
    cells neutralised."""
    filters, errors = _filters(q, status, dpd_min, dpd_max, segment, language)
    if errors:
        raise ValidationFailed("invalid filters", fields=errors)
    return exports.export_debts(
        request,
        principal,
        clock,
        q=filters.q,
        status=filters.status,
        language=filters.language,
        tag=filters.tag,
        min_days_past_due=filters.min_days_past_due,
        max_days_past_due=filters.max_days_past_due,
        needs_review=None,
    )


@router.get("/exports/messages.csv")
def export_messages(request: Request, principal: Exporter, clock: ClockDep) -> Response:
    """Every message in and out, as CSV (the API's export)."""
    return exports.export_messages(request, principal, clock, from_=None, to=None, debt_id=None)


@router.get("/exports/payments.csv")
def export_payments(request: Request, principal: Exporter, clock: ClockDep) -> Response:
    """Every payment, as CSV (the API's export)."""
    return exports.export_payments(request, principal, clock, status=None, from_=None, to=None)


def _hold_reason(
    page: Page, message: Message, debtor: Debtor, creditor: Creditor, now: datetime
) -> str | None:
    """Why a text has not gone out yet (or never will), in the contact governor's terms:
    the debtor's contact window, a day that is not a business day, the daily cap."""
    if message.direction != "outbound":
        return None
    stored = message.held_reason
    worded = ("outside_window", "daily_cap", "weekend", "holiday", "pacing")
    if stored and not (stored in worded and message.status in ("queued", "scheduled")):
        # The governor's own reason (suppression, agency rule, opted out...), with why.
        detail = f": {message.error_message}" if message.error_message else ""
        return stored.replace("_", " ") + detail
    if message.status == "canceled":
        return message.error_message or page.t("held_canceled")
    if message.status not in ("queued", "scheduled"):
        return None
    due = message.send_after or message.created_at
    if due <= now:
        return page.t("held_worker")
    when = page.t.datetime(due, debtor.timezone)
    policy = ContactPolicy.for_creditor(creditor)
    local = now.astimezone(ZoneInfo(debtor.timezone))
    if policy.business_days_only and not is_business_day(local.date(), policy):
        return page.t("held_business_day", when=when)
    if not policy.window_start <= local.time() < policy.window_end:
        return page.t(
            "held_window",
            start=creditor.contact_window_start,
            end=creditor.contact_window_end,
            zone=debtor.timezone,
            when=when,
        )
    if message.initiated:
        return page.t("held_cap", cap=creditor.max_initiated_per_day, when=when)
    return page.t("send_after", when=when)


def _message_view(
    page: Page, message: Message, debtor: Debtor, creditor: Creditor, now: datetime
) -> dict[str, Any]:
    return {
        "direction": message.direction,
        "body": message.body,
        "status": message.status,
        "kind": message.kind,
        "intent": message.intent,
        "when": page.t.datetime(message.created_at, debtor.timezone),
        "held": _hold_reason(page, message, debtor, creditor, now),
    }


def _debt_page(
    request: Request,
    principal: Principal,
    session: Session,
    settings: Settings,
    now: datetime,
    debt_id: str,
    **extra: Any,
) -> HTMLResponse:
    page = _page(request, principal)
    debt = get_debt(session, principal.creditor, debt_id)
    file = debt_file(session, debt)
    zone = _agent_zone(request, session, principal.creditor.id)
    plan = latest_plan(session, debt.id) if page.sees_amounts else None
    slots: list[tuple[str, str]] = []
    calendar = callbacks.get_calendar(session, principal.creditor.id)
    if page.can_work and calendar is not None and file.debtor.contact_status == "active":
        for slot in callbacks.offerable_slots(
            session, calendar, principal.creditor, file.debtor, now=now, count=6
        ):
            slots.append((slot.starts_at.isoformat(), page.t.datetime(slot.starts_at, zone)))
    today = now.astimezone(ZoneInfo(file.debtor.timezone)).date()
    return page.render(
        "debt.html",
        title=file.debtor.name,
        section="debts",
        debt=debt,
        debtor=file.debtor,
        dpd=max(0, (today - debt.due_date).days),
        conversation=file.conversation,
        messages=[
            _message_view(page, m, file.debtor, principal.creditor, now) for m in file.messages
        ],
        events=[
            {
                "created_at": e.created_at,
                "kind": e.kind,
                "actor": e.actor,
                # The API's rule: money events show their values only to who sees amounts.
                "from_value": e.from_value
                if shows_event_values(e.kind, page.sees_amounts)
                else None,
                "to_value": e.to_value if shows_event_values(e.kind, page.sees_amounts) else None,
            }
            for e in file.events
        ],
        actor_labels={a: _actor_label(session, a) for a in {e.actor for e in file.events}},
        payments=file.payments if page.sees_amounts else [],
        codes=[
            {
                "display": c.display,
                "amount": c.amount,
                "currency": c.currency,
                "scheme": c.scheme,
                "status": c.status,
                "url": payment_page_url(settings, c),
            }
            for c in file.codes
        ]
        if page.sees_amounts
        else [],
        plan=plan,
        installments=plan_installments(session, plan.id) if plan else [],
        promises=file.promises,
        callbacks=file.callbacks,
        team_zone=zone,
        slots=slots,
        **extra,
    )


@router.get("/debts/{debt_id}", response_class=HTMLResponse)
def debt_page(
    request: Request,
    debt_id: str,
    principal: Viewer,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> HTMLResponse:
    """Everything about one debt, and what the signed-in role may do with it."""
    return _debt_page(request, principal, session, settings, clock.now(), debt_id)


def _debt_action(
    request: Request,
    principal: Principal,
    session: Session,
    settings: Settings,
    clock: Any,
    debt_id: str,
    change: Any,
    notice: str,
) -> Response:
    now = clock.now()
    debt = get_debt(session, principal.creditor, debt_id)
    try:
        with session.begin_nested():
            change(debt, now)
    except ParleyError as exc:
        page = _page(request, principal)
        return _refused(
            page,
            exc,
            lambda **kw: _debt_page(request, principal, session, settings, now, debt_id, **kw),
        )
    return redirect(f"/console/debts/{debt_id}", notice)


@router.post("/debts/{debt_id}/resume", dependencies=[Csrf])
def resume_debt(
    request: Request,
    debt_id: str,
    principal: DebtManager,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> Response:
    """Resume collection of a paused or disputed debt (back to its plan if one runs)."""

    def change(debt: Debt, now: datetime) -> None:
        review_debt(
            session,
            debt,
            status="open",
            needs_review=False,
            note=None,
            now=now,
            actor=principal.actor,
        )

    return _debt_action(request, principal, session, settings, clock, debt_id, change, "saved")


@router.post("/debts/{debt_id}/close", dependencies=[Csrf])
def close_debt(
    request: Request,
    debt_id: str,
    principal: DebtManager,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Close the debt: nothing more is sent about it, its calls are canceled."""

    def change(debt: Debt, now: datetime) -> None:
        review_debt(
            session,
            debt,
            status="closed",
            needs_review=None,
            note=note.strip() or None,
            now=now,
            actor=principal.actor,
        )

    return _debt_action(request, principal, session, settings, clock, debt_id, change, "saved")


@router.post("/debts/{debt_id}/pause", dependencies=[Csrf])
def pause_debt(
    request: Request,
    debt_id: str,
    principal: DebtManager,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> Response:
    """Pause collection while a person checks something; resume it later."""

    def change(debt: Debt, now: datetime) -> None:
        if debt.status not in ("open", "in_plan"):
            raise ValidationFailed(f"a {debt.status} debt cannot be paused", field="status")
        change_debt(
            session,
            debt,
            DebtChange.PAUSED,
            now=now,
            actor=principal.actor,
            reason="paused by a person",
        )

    return _debt_action(request, principal, session, settings, clock, debt_id, change, "saved")


@router.post("/debts/{debt_id}/book-call", dependencies=[Csrf])
def book_call(
    request: Request,
    debt_id: str,
    principal: Worker,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    starts_at: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Book a callback for the debtor in an open slot of the team's calendar."""

    def change(debt: Debt, now: datetime) -> None:
        when = _instant(starts_at)
        calendar = callbacks.lock_calendar(session, principal.creditor.id)
        if calendar is None:
            raise ValidationFailed("no callback calendar is set", field="starts_at")
        file = debt_file(session, debt)
        slot = callbacks.calendar_slot_at(
            calendar, principal.creditor, file.debtor, when, now=now, honor_lead=False
        )
        if slot is None:
            raise ValidationFailed("that time is no open slot", field="starts_at")
        booked = callbacks.book_callback(
            session,
            calendar=calendar,
            creditor=principal.creditor,
            debtor=file.debtor,
            debt=debt,
            slot=slot,
            now=now,
            actor=principal.actor,
            source="console",
        )
        if booked is None:
            raise ValidationFailed("that slot is full; choose another", field="starts_at")

    return _debt_action(request, principal, session, settings, clock, debt_id, change, "booked")


def _instant(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("choose a time", field="starts_at") from None
    if when.tzinfo is None:
        raise ValidationFailed("the time needs an offset", field="starts_at")
    return when.astimezone(UTC)


# ------------------------------------------------------------------------ inbox


def _inbox_page(
    request: Request, principal: Principal, session: Session, **extra: Any
) -> HTMLResponse:
    page = _page(request, principal)
    queue = agent.human_queue(session, principal.creditor.id)
    debtors = debtors_by_id(session, {c.debtor_id for c in queue})
    texts = last_inbound(session, list(debtors))
    debts = first_debt_of(session, set(debtors))
    zone = _agent_zone(request, session, principal.creditor.id)
    items = []
    for conversation in queue:
        debtor = debtors[conversation.debtor_id]
        first_name = (debtor.name.split() or [""])[0]
        language = debtor.language if debtor.language in CANNED_REPLIES else "en"
        last = texts.get(debtor.id)
        items.append(
            {
                "id": conversation.id,
                "name": debtor.name,
                "debt_id": conversation.focus_debt_id or debts.get(debtor.id),
                "reason": conversation.attention_reason,
                "waiting_since": page.t.datetime(
                    conversation.last_inbound_at or conversation.updated_at, zone
                ),
                "assignee": _actor_label(session, conversation.assigned_to),
                "last_text": last.body if last else None,
                "canned": [text.format(name=first_name) for text in CANNED_REPLIES[language]],
            }
        )
    return page.render(
        "inbox.html",
        title=page.t("inbox"),
        section="inbox",
        items=items,
        me=principal.name,
        **extra,
    )


def _actor_label(session: Session, actor: str | None) -> str | None:
    """Who did it, as a person reads it: a user's email, an API key's name."""
    if not actor:
        return None
    kind, _, ident = actor.partition(":")
    if kind == "user":
        user = get_user(session, ident)
        return user.email if user else actor
    if kind == "api_key":
        key = session.get(ApiKey, ident)
        return f"API key {key.name}" if key else actor
    return actor


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, principal: Viewer, session: SessionDep) -> HTMLResponse:
    """Conversations that need a person, the longest-waiting first."""
    return _inbox_page(request, principal, session)


def _conversation_action(
    request: Request,
    principal: Principal,
    session: Session,
    conversation_id: str,
    change: Any,
    notice: str,
    back: str = "inbox",
) -> Response:
    conversation, debtor = agent.own_conversation(session, principal.creditor.id, conversation_id)
    try:
        with session.begin_nested():
            change(conversation, debtor)
    except ParleyError as exc:
        page = _page(request, principal)
        return _refused(page, exc, lambda **kw: _inbox_page(request, principal, session, **kw))
    if back.startswith("debt:"):
        return redirect(f"/console/debts/{back[5:]}", notice)
    return redirect("/console/inbox", notice)


@router.post("/inbox/{conversation_id}/reply", dependencies=[Csrf])
def reply(
    request: Request,
    conversation_id: str,
    principal: Worker,
    session: SessionDep,
    clock: ClockDep,
    body: Annotated[str, Form(max_length=1600)] = "",
    debt_id: Annotated[str, Form(max_length=36)] = "",
    back: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Text the debtor through the outbox; the contact rules decide when it goes."""

    def change(conversation: Any, debtor: Any) -> None:
        if not body.strip():
            raise ValidationFailed("write a message", field="body")
        send_agent_message(
            session,
            creditor=principal.creditor,
            conversation=conversation,
            debtor=debtor,
            body=body.strip(),
            debt_id=debt_id or None,
            now=clock.now(),
            actor=principal.actor,
        )

    target = f"debt:{debt_id}" if back == "debt" and debt_id else "inbox"
    return _conversation_action(
        request, principal, session, conversation_id, change, "reply_queued", target
    )


@router.post("/inbox/{conversation_id}/assign", dependencies=[Csrf])
def assign(
    request: Request,
    conversation_id: str,
    principal: Worker,
    session: SessionDep,
    clock: ClockDep,
) -> Response:
    """Take the conversation: it shows as yours to the other agents."""
    return _conversation_action(
        request,
        principal,
        session,
        conversation_id,
        lambda c, _d: agent.assign(session, c, to=principal.actor, now=clock.now()),
        "assigned",
    )


@router.post("/inbox/{conversation_id}/handled", dependencies=[Csrf])
def handled(
    request: Request,
    conversation_id: str,
    principal: Worker,
    session: SessionDep,
    clock: ClockDep,
) -> Response:
    """Take the conversation out of the queue."""
    return _conversation_action(
        request,
        principal,
        session,
        conversation_id,
        lambda c, _d: agent.mark_handled(session, c, now=clock.now(), actor=principal.actor),
        "handled",
    )


# -------------------------------------------------------------------- callbacks


def _callbacks_page(
    request: Request, principal: Principal, session: Session, now: datetime, **extra: Any
) -> HTMLResponse:
    page = _page(request, principal)
    creditor = principal.creditor
    zone = _agent_zone(request, session, creditor.id)
    today = local_today(now, zone)
    start = callbacks.local_day_start(zone, today)
    tomorrow = callbacks.local_day_start(zone, today + timedelta(days=1))
    listed = callbacks.list_callbacks(
        session, creditor.id, start=start, end=start + timedelta(days=15), limit=500
    )
    debtors = debtors_by_id(session, {c.debtor_id for c in listed})
    calendar = callbacks.get_calendar(session, creditor.id)

    def view(callback: Callback) -> dict[str, Any]:
        debtor = debtors[callback.debtor_id]
        slots: list[tuple[str, str]] = []
        if page.can_work and calendar is not None and callback.status in ("booked", "claimed"):
            for slot in callbacks.offerable_slots(
                session, calendar, creditor, debtor, now=now, count=6
            ):
                if slot.starts_at != callback.starts_at:
                    slots.append(
                        (slot.starts_at.isoformat(), page.t.datetime(slot.starts_at, zone))
                    )
        return {
            "id": callback.id,
            "debt_id": callback.debt_id,
            "name": debtor.name,
            "phone": debtor.phone,
            "status": callback.status,
            "agent": callback.agent,
            "outcome": callback.outcome,
            "when": page.t.datetime(callback.starts_at, zone),
            "slots": slots,
        }

    todays = [view(c) for c in listed if c.starts_at < tomorrow]
    upcoming = [view(c) for c in listed if c.starts_at >= tomorrow]
    return page.render(
        "callbacks.html",
        title=page.t("callbacks"),
        section="callbacks",
        zone=zone,
        groups=[(page.t("today"), todays), (page.t("upcoming"), upcoming)],
        outcomes=CALLBACK_OUTCOMES,
        **extra,
    )


@router.get("/callbacks", response_class=HTMLResponse)
def callbacks_page(
    request: Request, principal: Viewer, session: SessionDep, clock: ClockDep
) -> HTMLResponse:
    """Today's and the next two weeks' calls, in the team's time zone."""
    return _callbacks_page(request, principal, session, clock.now())


def _callback_action(
    request: Request,
    principal: Principal,
    session: Session,
    clock: Any,
    callback_id: str,
    change: Any,
    notice: str,
    *,
    lock_calendar: bool = False,
) -> Response:
    now = clock.now()
    try:
        with session.begin_nested():
            # The calendar before the call, as every booking locks them (no deadlock).
            calendar = (
                callbacks.lock_calendar(session, principal.creditor.id) if lock_calendar else None
            )
            callback = callbacks.get_callback(
                session, principal.creditor.id, callback_id, for_update=True
            )
            change(callback, calendar, now)
    except ParleyError as exc:
        if exc.status_code == 404:
            raise
        page = _page(request, principal)
        return _refused(
            page, exc, lambda **kw: _callbacks_page(request, principal, session, now, **kw)
        )
    return redirect("/console/callbacks", notice)


@router.post("/callbacks/{callback_id}/claim", dependencies=[Csrf])
def claim(
    request: Request, callback_id: str, principal: Worker, session: SessionDep, clock: ClockDep
) -> Response:
    """Take the call."""
    return _callback_action(
        request,
        principal,
        session,
        clock,
        callback_id,
        lambda cb, _cal, now: callbacks.claim_callback(
            session, cb, agent=principal.name, now=now, actor=principal.actor
        ),
        "claimed",
    )


@router.post("/callbacks/{callback_id}/complete", dependencies=[Csrf])
def complete(
    request: Request,
    callback_id: str,
    principal: Worker,
    session: SessionDep,
    clock: ClockDep,
    outcome: Annotated[str, Form(max_length=32)] = "",
    notes: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record how the call went (no answer texts the debtor a fresh slot menu)."""

    def change(cb: Callback, _cal: Any, now: datetime) -> None:
        if outcome not in CALLBACK_OUTCOMES:
            raise ValidationFailed(
                f"must be one of {', '.join(CALLBACK_OUTCOMES)}", field="outcome"
            )
        callbacks.complete_callback(
            session,
            cb,
            outcome=outcome,
            notes=notes.strip() or None,
            agent=principal.name,
            now=now,
            actor=principal.actor,
        )
        if outcome == "no_answer":
            offer_after_no_answer(session, cb, now=now, actor=principal.actor)

    return _callback_action(request, principal, session, clock, callback_id, change, "completed")


@router.post("/callbacks/{callback_id}/reschedule", dependencies=[Csrf])
def reschedule(
    request: Request,
    callback_id: str,
    principal: Worker,
    session: SessionDep,
    clock: ClockDep,
    starts_at: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Move the call to another open slot and tell the debtor."""

    def change(cb: Callback, calendar: Any, now: datetime) -> None:
        if calendar is None:
            raise ValidationFailed("no callback calendar is set", field="starts_at")
        before = cb.starts_at
        callbacks.reschedule_callback(
            session, cb, calendar, starts_at=_instant(starts_at), now=now, actor=principal.actor
        )
        if cb.starts_at != before:
            notify_moved(session, cb, now=now, actor=principal.actor)

    return _callback_action(
        request, principal, session, clock, callback_id, change, "rescheduled", lock_calendar=True
    )


# ---------------------------------------------------------------------- rules

RULE_FIELDS = (
    "name",
    "priority",
    "currency",
    "min_balance",
    "max_balance",
    "min_days_past_due",
    "max_days_past_due",
    "lump_sum_discount_pct",
    "lump_sum_valid_days",
    "installment_counts",
    "monthly_interest_pct",
    "min_installment",
    "first_installment_in_days",
)
INT_FIELDS = {
    "priority",
    "min_balance",
    "max_balance",
    "min_days_past_due",
    "max_days_past_due",
    "lump_sum_valid_days",
    "min_installment",
    "first_installment_in_days",
}


def _rule_values(rule: OfferRule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "name": "",
            "priority": "10",
            "currency": "",
            "min_balance": "",
            "max_balance": "",
            "min_days_past_due": "",
            "max_days_past_due": "",
            "lump_sum_discount_pct": "10",
            "lump_sum_valid_days": "7",
            "installment_counts": "3, 6",
            "monthly_interest_pct": "0",
            "min_installment": "1000",
            "first_installment_in_days": "7",
            "preview_balance": "50000",
            "preview_dpd": "30",
        }
    values: dict[str, Any] = {}
    for name in RULE_FIELDS:
        value = getattr(rule, name)
        if name == "installment_counts":
            value = ", ".join(str(v) for v in value)
        values[name] = "" if value is None else str(value)
    values["preview_balance"] = str(rule.min_balance or 50000)
    values["preview_dpd"] = str(rule.min_days_past_due or 30)
    return values


def _rule_data(form: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The form as the offer-rule service takes it, and the fields that are not even
    numbers (the service checks everything else)."""
    data: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for name in RULE_FIELDS:
        raw = (form.get(name) or "").strip()
        if name in INT_FIELDS:
            try:
                data[name] = parse_int(raw)
            except ValueError:
                errors.append((name, "must be a whole number"))
            if data.get(name) is None and name in ("priority",):
                data[name] = 0
        elif name == "installment_counts":
            try:
                data[name] = [int(p) for p in raw.replace(";", ",").split(",") if p.strip()]
            except ValueError:
                errors.append((name, "must be whole numbers separated by commas"))
        elif name == "currency":
            data[name] = raw.upper() or None
        else:
            data[name] = raw
    for name in ("lump_sum_valid_days", "min_installment", "first_installment_in_days"):
        if name in data and data[name] is None:
            errors.append((name, "required"))
    return data, errors


async def _read_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormData = Annotated[dict[str, str], Depends(_read_form)]


def _rule_page(
    request: Request,
    principal: Principal,
    session: Session,
    now: datetime,
    rule: OfferRule | None,
    values: dict[str, Any],
    errors: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = _page(request, principal)
    return page.render(
        "rule_edit.html",
        title=rule.name if rule else page.t("new_rule"),
        section="rules",
        status_code=status_code,
        error=page.t("errors") if errors else None,
        error_fields=errors or [],
        heading=rule.name if rule else page.t("new_rule"),
        action=f"/console/rules/{rule.id}" if rule else "/console/rules/new",
        rule_id=rule.id if rule else None,
        v=values,
        errors=dict(errors or []),
        preview=_preview(page, session, principal, now, rule, values),
    )


def _preview(
    page: Page,
    session: Session,
    principal: Principal,
    now: datetime,
    rule: OfferRule | None,
    values: dict[str, Any],
) -> dict[str, Any]:
    """What the rules would offer a debt of the given balance and days past due if this
    form were saved: the change is applied in a savepoint, the offers are computed by the
    offers service, and the savepoint is rolled back, so nothing is stored."""
    data, errors = _rule_data(values)
    try:
        balance = parse_int(values.get("preview_balance"))
        dpd = parse_int(values.get("preview_dpd"))
    except ValueError:
        return {"errors": [("preview", "balance and days past due must be whole numbers")]}
    if balance is None or dpd is None or balance < 1 or not 0 <= dpd <= 36_500:
        return {"errors": [("preview", "give a balance above 0 and days past due 0-36500")]}
    if errors:
        return {"errors": errors}
    currency = data.get("currency") or (rule.currency if rule else None) or _currency(page)
    result: dict[str, Any] = {"errors": [], "rule": None, "lump": None, "plans": [], "verdicts": []}
    nested = session.begin_nested()
    try:
        if rule is None:
            create_rule(session, principal.creditor, data, now=now, actor=principal.actor)
        else:
            update_rule(session, rule, dict(data), now=now, actor=principal.actor)
        today = now.date()
        debt = Debt(
            creditor_id=principal.creditor.id,
            debtor_id="",
            external_id="preview",
            amount=balance,
            balance=balance,
            currency=currency,
            due_date=today - timedelta(days=dpd),
            status="open",
            tags=[],
        )
        offers = compute_offers(session, debt, today)
        if offers.rule is not None:
            result["rule"] = offers.rule.name
            if offers.lump_sum is not None:
                result["lump"] = page.t(
                    "lump_sum",
                    amount=page.t.money(offers.lump_sum.amount, currency),
                    discount=page.t.money(offers.lump_sum.discount, currency),
                    days=offers.rule.lump_sum_valid_days,
                )
            result["plans"] = [
                page.t(
                    "plan_option",
                    n=o.number,
                    count=o.count,
                    installment=page.t.money(o.installment, currency),
                )
                for o in offers.plans
            ]
        result["verdicts"] = [(v.rule.name, v.reason) for v in offers.verdicts]
    except ParleyError as exc:
        result["errors"] = exc.fields or [("rule", exc.message)]
    finally:
        nested.rollback()
        if rule is not None:
            session.refresh(rule)
    return result


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, principal: AmountViewer, session: SessionDep) -> HTMLResponse:
    """Every offer rule, highest priority first."""
    page = _page(request, principal)
    return page.render(
        "rules.html",
        title=page.t("rules"),
        section="rules",
        rules=creditor_rules(session, principal.creditor.id),
    )


def _own_rule(session: Session, principal: Principal, rule_id: str) -> OfferRule:
    rule = session.get(OfferRule, rule_id)
    if rule is None or rule.creditor_id != principal.creditor.id:
        from app.errors import NotFound

        raise NotFound("offer rule not found", field="rule_id")
    return rule


@router.get("/rules/new", response_class=HTMLResponse)
def new_rule_page(
    request: Request, principal: Configurer, session: SessionDep, clock: ClockDep
) -> HTMLResponse:
    """An empty rule form with its live preview."""
    return _rule_page(request, principal, session, clock.now(), None, _rule_values(None))


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(
    request: Request, rule_id: str, principal: AmountViewer, session: SessionDep, clock: ClockDep
) -> HTMLResponse:
    """One rule's form (read-only without the configure permission) and preview."""
    rule = _own_rule(session, principal, rule_id)
    return _rule_page(request, principal, session, clock.now(), rule, _rule_values(rule))


@router.post("/rules/preview", response_class=HTMLResponse, dependencies=[Csrf])
def rule_preview(
    request: Request,
    principal: AmountViewer,
    session: SessionDep,
    clock: ClockDep,
    form: FormData,
) -> HTMLResponse:
    """The preview fragment for the form as it stands (htmx swaps it in); without
    JavaScript, the whole form page again."""
    page = _page(request, principal)
    rule = _own_rule(session, principal, form["rule_id"]) if form.get("rule_id") else None
    if rule is None:
        # A rule that does not exist yet is previewed only by who may create it.
        principal.require(Permission.CONFIGURE)
    values = {**_rule_values(rule), **form}
    if request.headers.get("HX-Request") != "true":
        return _rule_page(request, principal, session, clock.now(), rule, values)
    preview = _preview(page, session, principal, clock.now(), rule, values)
    return page.render("rule_preview.html", title="", preview=preview)


def _save_rule(
    request: Request,
    principal: Principal,
    session: Session,
    now: datetime,
    rule: OfferRule | None,
    form: dict[str, str],
) -> Response:
    values = {**_rule_values(rule), **form}
    data, errors = _rule_data(form)
    if errors:
        return _rule_page(request, principal, session, now, rule, values, errors, 422)
    try:
        with session.begin_nested():
            if rule is None:
                rule = create_rule(
                    session, principal.creditor, data, now=now, actor=principal.actor
                )
            else:
                update_rule(session, rule, data, now=now, actor=principal.actor)
    except ParleyError as exc:
        if rule is not None:
            session.refresh(rule)
        fields = exc.fields or [("rule", exc.message)]
        return _rule_page(request, principal, session, now, rule, values, fields, exc.status_code)
    return redirect(f"/console/rules/{rule.id}", "saved")


@router.post("/rules/new", dependencies=[Csrf])
def create_rule_form(
    request: Request,
    principal: Configurer,
    session: SessionDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    """Store a new rule (validated by the offers service)."""
    return _save_rule(request, principal, session, clock.now(), None, form)


@router.post("/rules/{rule_id}", dependencies=[Csrf])
def update_rule_form(
    request: Request,
    rule_id: str,
    principal: Configurer,
    session: SessionDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    """Change a rule: a new version; plans already agreed keep theirs."""
    rule = _own_rule(session, principal, rule_id)
    return _save_rule(request, principal, session, clock.now(), rule, form)


# --------------------------------------------------------------------- settings

SETTING_FIELDS = (
    "contact_window_start",
    "contact_window_end",
    "max_initiated_per_day",
    "business_days_only",
    "holiday_country",
    "cadence_enabled",
    "cadence_offsets",
    "rebill_every_days",
    "payment_scheme",
    "boleto_bank_code",
    "boleto_agreement",
    "pix_key",
    "pix_merchant_city",
    "reference_prefix",
    "default_language",
    "country",
    "contact_phone",
    "twilio_from",
    "twilio_messaging_service_sid",
)
CHECKBOXES = ("business_days_only", "cadence_enabled")


def _setting_fields() -> list[str]:
    return [f for f in SETTING_FIELDS if f in CreditorPatch.model_fields]


def _settings_values(principal: Principal) -> dict[str, Any]:
    creditor = principal.creditor
    values: dict[str, Any] = {}
    for name in _setting_fields():
        value = getattr(creditor, name, None)
        if name == "cadence_offsets" and value is not None:
            value = ", ".join(str(v) for v in value)
        values[name] = value if name in CHECKBOXES else ("" if value is None else str(value))
    return values


def _settings_page(
    request: Request,
    principal: Principal,
    session: Session,
    values: dict[str, Any],
    errors: list[tuple[str, str]] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> HTMLResponse:
    page = _page(request, principal)
    calendar = callbacks.get_calendar(session, principal.creditor.id)
    calendar_view = None
    if calendar is not None:
        view = callbacks.calendar_view(calendar)
        calendar_view = {
            "timezone": view.get("timezone"),
            "slot_minutes": view.get("slot_minutes"),
            "capacity": view.get("capacity"),
            "hours": [
                (day, " – ".join(hours) if hours else page.t("closed"))
                for day, hours in (view.get("hours") or {}).items()
            ],
        }
    return page.render(
        "settings.html",
        title=page.t("settings"),
        section="settings",
        status_code=status_code,
        notice=notice,
        error=page.t("errors") if errors else None,
        error_fields=errors or [],
        v=values,
        errors=dict(errors or []),
        schemes=[(s, s) for s in PAYMENT_SCHEMES],
        language_options=[(code, code) for code in LANGUAGES],
        has_sender="twilio_from" in CreditorPatch.model_fields,
        calendar=calendar_view,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, principal: Viewer, session: SessionDep) -> HTMLResponse:
    """The creditor's contact, cadence, payment and sender settings."""
    return _settings_page(request, principal, session, _settings_values(principal))


@router.post("/settings", dependencies=[Csrf])
def save_settings(
    request: Request,
    principal: Configurer,
    session: SessionDep,
    clock: ClockDep,
    form: FormData,
) -> Response:
    """Change settings; the creditors service checks the whole resulting state."""
    values = {**_settings_values(principal)}
    patch: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for name in _setting_fields():
        if name in CHECKBOXES:
            patch[name] = form.get(name) == "true"
            values[name] = patch[name]
            continue
        raw = (form.get(name) or "").strip()
        values[name] = raw
        if name == "cadence_offsets":
            try:
                patch[name] = [int(p) for p in raw.split(",") if p.strip()] if raw else None
            except ValueError:
                errors.append((name, "must be whole numbers separated by commas"))
        elif name in ("max_initiated_per_day", "rebill_every_days"):
            try:
                patch[name] = parse_int(raw)
            except ValueError:
                errors.append((name, "must be a whole number"))
        else:
            patch[name] = raw or None
    # Unchanged fields are left out, so a setting nobody touched is not re-validated.
    current = _settings_values(principal)
    changed = {
        k: v
        for k, v in patch.items()
        if (", ".join(str(x) for x in v) if isinstance(v, list) else v)
        != (current.get(k) if current.get(k) != "" else None)
    }
    if not errors:
        try:
            body = CreditorPatch.model_validate(changed)
        except ValidationError as exc:
            errors = [
                (
                    ".".join(str(p) for p in e["loc"]) or "settings",
                    str(e["msg"]).removeprefix("Value error, "),
                )
                for e in exc.errors()
            ]
    if errors:
        return _settings_page(request, principal, session, values, errors, 422)
    try:
        with session.begin_nested():
            update_creditor(session, principal.creditor, body, clock, principal.actor)
    except ParleyError as exc:
        session.refresh(principal.creditor)
        return _settings_page(
            request,
            principal,
            session,
            values,
            exc.fields or [("settings", exc.message)],
            exc.status_code,
        )
    return redirect("/console/settings", "saved")


# ----------------------------------------------------------------------- import


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, principal: Viewer) -> HTMLResponse:
    """The CSV upload form."""
    page = _page(request, principal)
    return page.render(
        "import.html",
        title=page.t("import"),
        section="import",
        summary=None,
        import_error=None,
        columns=", ".join(CSV_COLUMNS),
    )


@router.post("/import", response_class=HTMLResponse, dependencies=[Csrf])
async def import_upload(
    request: Request,
    principal: DebtManager,
    session: SessionDep,
    clock: ClockDep,
    file: UploadFile | None = None,
) -> HTMLResponse:
    """Import the CSV with the debts service (the same as POST /api/v1/debts/import.csv)
    and show what was created, updated and refused, row by row."""
    page = _page(request, principal)
    summary = None
    error = None
    status_code = 200
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
        if file is not None:
            while data := await file.read(64 * 1024):
                spool.write(data)
        if spool.tell() == 0:
            error, status_code = "empty CSV: choose a file with a header row", 422
        else:
            spool.seek(0)
            text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
            try:
                summary = await run_in_threadpool(
                    import_debts_csv,
                    session,
                    principal.creditor.id,
                    text,
                    now=clock.now(),
                    actor=principal.actor,
                )
            except UnicodeDecodeError:
                error, status_code = "the CSV must be UTF-8 text", 422
            except ParleyError as exc:
                error, status_code = exc.message, exc.status_code
            finally:
                text.detach()
    return page.render(
        "import.html",
        title=page.t("import"),
        section="import",
        status_code=status_code,
        summary=summary,
        import_error=error,
        columns=", ".join(CSV_COLUMNS),
    )


# -------------------------------------------------------------------- analytics


@router.get("/analytics", response_class=HTMLResponse)
def analytics_page(
    request: Request,
    principal: AmountViewer,
    session: SessionDep,
    clock: ClockDep,
    from_: Annotated[str, Query(alias="from", max_length=10)] = "",
    to: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    """Recovery over time, the funnel, intents by language, rates, and cohorts."""
    page = _page(request, principal)
    today = local_today(clock.now(), _team_zone(session, principal.creditor.id))
    errors: list[tuple[str, str]] = []
    dates: dict[str, date | None] = {}
    for name, raw in (("from", from_), ("to", to)):
        try:
            dates[name] = date.fromisoformat(raw) if raw.strip() else None
        except ValueError:
            errors.append((name, "must be a date, YYYY-MM-DD"))
            dates[name] = None
    first, last = dates["from"], dates["to"]
    if first and last and first > last:
        errors.append(("to", "must not be before from"))
        first = last = None
    period = Period.of_dates(first, last) if first or last else _default_period(today)
    data = figures.analytics(session, principal.creditor.id, period=period, today=today, t=page.t)
    return page.render(
        "analytics.html",
        title=page.t("analytics"),
        section="analytics",
        status_code=422 if errors else 200,
        error=page.t("errors") if errors else None,
        error_fields=errors,
        period_from=from_,
        period_to=to,
        s=data.summary,
        charts=data.charts,
        cohorts=data.cohorts,
    )


# ------------------------------------------------------------------- dry run

# One dry run at a time per server process: each takes a core for its whole run.
_dry_run_lock = threading.Lock()
MAX_SEED = 2**31 - 1


def _dry_run_limit(settings: Settings, debtors: int) -> int:
    """The most days the console runs for `debtors` debtors (0: not even one)."""
    return min(MAX_DAYS, settings.console_simulation_max_debtor_days // max(debtors, 1))


def _dry_run_page(
    request: Request,
    principal: Principal,
    session: Session,
    settings: Settings,
    values: dict[str, str],
    *,
    result: figures.DryRun | None = None,
    errors: list[tuple[str, str]] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = _page(request, principal)
    debtors = debtor_count(session, principal.creditor.id)
    most = _dry_run_limit(settings, debtors)
    return page.render(
        "simulation.html",
        title=page.t("simulation"),
        section="simulation",
        status_code=status_code,
        error=error or (page.t("errors") if errors else None),
        error_fields=errors or [],
        v=values,
        errors=dict(errors or []),
        max_days=MAX_DAYS,
        limit=page.t(
            "sim_limit" if most else "sim_too_many",
            limit=page.t.number(settings.console_simulation_max_debtor_days),
            debtors=page.t.number(debtors),
            days=most,
        ),
        result=result,
    )


@router.get("/simulation", response_class=HTMLResponse)
def simulation_page(
    request: Request,
    principal: Configurer,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> HTMLResponse:
    """The dry-run form (days, first day, seed)."""
    today = local_today(clock.now(), _team_zone(session, principal.creditor.id))
    values = {"days": "7", "start": today.isoformat(), "seed": "0"}
    return _dry_run_page(request, principal, session, settings, values)


@router.post("/simulation", response_class=HTMLResponse, dependencies=[Csrf])
def run_dry_run(
    request: Request,
    principal: Configurer,
    session: SessionDep,
    settings: SettingsDep,
    form: FormData,
) -> HTMLResponse:
    """Run the dry run inside the request (the same as POST /api/v1/simulations, within
    the console's debtor-days limit) and show its report under the form."""
    values = {k: (form.get(k) or "").strip() for k in ("days", "start", "seed")}
    errors: list[tuple[str, str]] = []
    days = seed = None
    start = None
    try:
        days = parse_int(values["days"])
        if days is None or not 1 <= days <= MAX_DAYS:
            errors.append(("days", f"must be a whole number from 1 to {MAX_DAYS}"))
    except ValueError:
        errors.append(("days", f"must be a whole number from 1 to {MAX_DAYS}"))
    try:
        start = date.fromisoformat(values["start"])
    except ValueError:
        errors.append(("start", "must be a date, YYYY-MM-DD"))
    try:
        seed = parse_int(values["seed"]) or 0
        if not 0 <= seed <= MAX_SEED:
            errors.append(("seed", f"must be a whole number from 0 to {MAX_SEED}"))
    except ValueError:
        errors.append(("seed", f"must be a whole number from 0 to {MAX_SEED}"))
    if days is not None and not errors:
        debtors = debtor_count(session, principal.creditor.id)
        most = _dry_run_limit(settings, debtors)
        if days > most:
            errors.append(
                (
                    "days",
                    f"at most {most} in the console for {debtors} debtors; "
                    "run `parley simulate` for a longer dry run"
                    if most
                    else f"{debtors} debtors are too many for the console; run `parley simulate`",
                )
            )
    if errors or days is None or start is None or seed is None:
        return _dry_run_page(
            request, principal, session, settings, values, errors=errors, status_code=422
        )
    if not _dry_run_lock.acquire(blocking=False):
        page = _page(request, principal)
        return _dry_run_page(
            request,
            principal,
            session,
            settings,
            values,
            error=page.t("sim_busy"),
            status_code=409,
        )
    try:
        report = run_simulation(
            session,
            principal.creditor.name,
            days=days,
            start=start,
            seed=seed,
            settings=settings,
        )
    finally:
        _dry_run_lock.release()
    result = figures.dry_run(report, _page(request, principal).t)
    return _dry_run_page(request, principal, session, settings, values, result=result)
