"""One access-log line per request: method, the route's path template (never the raw
path, which can carry a payment token), status, duration and the client's address with
its host part masked."""

from __future__ import annotations

import ipaddress
import logging
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("parley.access")

UNMATCHED = "(unmatched)"


def mask_client(host: str | None) -> str:
    """An address with its host part zeroed: IPv4 to its /24, IPv6 to its /48."""
    if not host:
        return "-"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "-"
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network)


def request_client(request: Request) -> str:
    """The client address as the server sees it (behind a proxy, uvicorn's
    --forwarded-allow-ips decides whether X-Forwarded-For is believed)."""
    return request.client.host if request.client is not None else "-"


def path_template(scope: Scope) -> str:
    """The matched route's path, e.g. /api/v1/debts/{debt_id}."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else UNMATCHED


class AccessLogMiddleware:
    """Logs every HTTP request once it is answered (or failed) on `parley.access`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            log_request(scope, status, started)


def log_request(scope: Scope, status: int, started: float, path: str | None = None) -> None:
    """The access-log line of one answered request (`started`: its time.perf_counter();
    `path`: the route's template when the scope names no route)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    logger.info(
        "request",
        extra={
            "method": scope["method"],
            "path": path or path_template(scope),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "client": mask_client(client[0] if client else None),
        },
    )
