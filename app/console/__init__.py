"""The web console for the finance team and the agents (server-rendered Jinja2 with
htmx, both shipped in this package: nothing loads from another host)."""

from __future__ import annotations

import inspect
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.access.deps import LoginRequired
from app.config import Settings
from app.console.pages import Page, translator
from app.console.sessions import LoginThrottle, install_sessions
from app.errors import ParleyError

STATIC_DIR = Path(__file__).parent / "static"


def _is_console(request: Request) -> bool:
    return request.url.path == "/console" or request.url.path.startswith("/console/")


def install_console(app: FastAPI, settings: Settings) -> None:
    """Mount the console on `app`: its session cookie, static files, pages, and HTML
    error pages for its own paths (the API keeps its JSON errors)."""
    from app.console.router import router

    install_sessions(app, settings)
    app.state.login_throttle = LoginThrottle()
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(router)
    api_handler = app.exception_handlers[ParleyError]

    async def console_errors(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ParleyError)
        if not _is_console(request):
            response = api_handler(request, exc)
            return await response if inspect.isawaitable(response) else response
        if isinstance(exc, LoginRequired):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.method != "GET":
                target = "/console"
            location = f"/console/login?next={quote(target, safe='/')}"
            if request.headers.get("HX-Request") == "true":
                return Response(status_code=204, headers={"HX-Redirect": location})
            return RedirectResponse(location, status_code=303)
        page = Page(request, translator(request), None)
        try:
            from app.access.deps import console_principal

            with request.app.state.db.transaction() as session:
                page = Page(request, page.t, console_principal(request, session))
                return _error_page(page, exc)
        except ParleyError:
            return _error_page(page, exc)

    app.add_exception_handler(ParleyError, console_errors)


def _error_page(page: Page, exc: ParleyError) -> HTMLResponse:
    t = page.t
    if exc.code == "csrf_failed":
        message = t("csrf_failed")
    elif exc.status_code == 403 and page.principal is not None:
        message = t("forbidden", role=page.principal.role.value)
    elif exc.status_code == 404:
        message = t("not_found")
    else:
        message = exc.message
    return page.render(
        "error.html",
        title=t("error"),
        status_code=exc.status_code,
        error=message,
        error_fields=[f for f in exc.fields if f[1] != exc.message],
    )
