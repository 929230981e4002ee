"""`/docs` and `/redoc` work without the internet: their pages and everything those load
come from Parley itself (Swagger UI and ReDoc ship inside the fastapi-offline wheel), and
a Content-Security-Policy stops the browser from loading anything from another host.

The browser test drives Debian's Chromium (as the payment page tests do) with every
request routed through the app in-process: a request for any other host is recorded
and refused, and the pages must still render the API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Route, sync_playwright

from tests.payments.test_page_in_a_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

ORIGIN = "http://parley.invalid"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.urls.append(value)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_no_other_host(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "http://" not in html and "https://" not in html
    links = _Links()
    links.feed(html)
    assert links.urls, "the page loads its assets"
    for url in links.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        assert client.get(url).status_code == 200, url


def test_swagger_ui_asks_no_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_browser_may_load_from_this_origin_only(client: TestClient, page: str) -> None:
    policy = client.get(page).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for name in ("script-src", "style-src", "img-src", "font-src", "connect-src"):
        sources = directives[name].split()
        assert all(s in ("'self'", "'unsafe-inline'", "data:") for s in sources), name


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; on CI the browser tests must run", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.mark.parametrize(
    ("page", "rendered", "shot"),
    [
        ("/docs", ".opblock-summary-path", "docs-swagger-ui.png"),
        ("/redoc", "[role=menuitem], li[data-item-id]", "docs-redoc.png"),
    ],
)
def test_docs_render_in_a_browser_offline(
    browser: Browser, client: TestClient, page: str, rendered: str, shot: str
) -> None:
    elsewhere: list[str] = []

    def through_the_app(route: Route) -> None:
        url = urlsplit(route.request.url)
        if f"{url.scheme}://{url.netloc}" != ORIGIN:
            elsewhere.append(route.request.url)
            route.abort()
            return
        path = url.path + (f"?{url.query}" if url.query else "")
        answer = client.request(route.request.method, path, headers=route.request.headers)
        route.fulfill(status=answer.status_code, headers=dict(answer.headers), body=answer.content)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", through_the_app)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        tab.goto(ORIGIN + page)
        tab.wait_for_selector(rendered)
        assert "/api/v1/debts" in tab.content()
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(Path(ARTIFACTS) / shot))
    finally:
        context.close()
    assert elsewhere == [], "the docs asked another host"
    assert errors == []
