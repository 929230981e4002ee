"""The app factory: settings, database, gateway, routers, error handlers and, under
`parley serve`, the in-process worker."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app import health, simulation
from app.access_log import AccessLogMiddleware
from app.actions.cadence import JOBS as CADENCE_JOBS
from app.actions.callbacks import JOBS as CALLBACK_JOBS
from app.actions.calls import CallbacksDesk
from app.actions.desks import Desks
from app.actions.inbound import InboundHandler
from app.actions.inbox import InboundProcessor
from app.actions.pay import PaymentsDesk
from app.actions.plan_jobs import JOBS as PLAN_JOBS
from app.actions.plans import OffersPlanDesk
from app.actions.promise_jobs import JOBS as PROMISE_JOBS
from app.analytics import api as analytics_api
from app.callbacks import api as callbacks_api
from app.clock import Clock, SystemClock, clock_for
from app.config import Settings, get_settings
from app.consent import api as consent_api
from app.console import install_console
from app.conversations import api as conversations_api
from app.conversations.inbox import GroupCommitInbox
from app.conversations.sms_webhook import InboundSmsFastPath
from app.creditors import api as creditors_api
from app.creditors.service import ensure_bootstrap_key
from app.db import Database
from app.debts import api as debts_api
from app.debts.service import statement_at_send
from app.docs import install_docs
from app.edge import BodyLimitMiddleware, UnstorableTextMiddleware
from app.errors import install_error_handlers
from app.exports import api as exports_api
from app.jobs import PeriodicJob
from app.logs import configure_logging
from app.messaging import api as messaging_api
from app.messaging.gateway import SmsGateway, build_gateway
from app.offers import api as offers_api
from app.payments import api as payments_api
from app.payments.tasks import JOBS as PAYMENT_JOBS
from app.throttle import FailureThrottle
from app.worker import BodyRenderer, OutboxWorker

logger = logging.getLogger("parley")


def periodic_jobs() -> list[PeriodicJob]:
    """The scheduled work every worker tick runs (cadence, promises, plans, codes,
    callback reminders)."""
    return [*CADENCE_JOBS, *PROMISE_JOBS, *PLAN_JOBS, *PAYMENT_JOBS, *CALLBACK_JOBS]


def body_renderers() -> dict[str, BodyRenderer]:
    """Message kinds whose wording is written again when they are sent."""
    return {"statement": statement_at_send}


def build_inbound_handler(settings: Settings) -> InboundHandler:
    """Inbound handling with the real desks for PAY, PLAN and CALL."""
    return InboundHandler(
        Desks(payments=PaymentsDesk(), plans=OffersPlanDesk(), callbacks=CallbacksDesk()),
        settings,
    )


def build_worker(
    database: Database,
    gateway: SmsGateway,
    clock: Clock,
    settings: Settings,
    inbound: InboundProcessor | None = None,
) -> OutboxWorker:
    """The worker every process runs (`parley serve`'s in-process one, `parley worker`):
    the outbox, the periodic jobs, the statements' wording at send time and the inbound
    texts (`inbound`, or a processor of its own with the real desks)."""
    if inbound is None:
        inbound = InboundProcessor(database, build_inbound_handler(settings), clock, settings)
    return OutboxWorker(
        database, gateway, clock, settings, periodic_jobs(), body_renderers(), inbound=inbound
    )


# Set by `parley serve --workers N` for the processes it starts: "1" runs the outbox worker
# in each of them, "0" does not.
SERVE_WORKER_ENV = "PARLEY_SERVE_IN_PROCESS_WORKER"


def serve_app() -> FastAPI:
    """The app one of `parley serve --workers N`'s processes serves (a uvicorn factory:
    settings, clock and worker flag come from the environment)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(
        settings,
        clock=clock_for(settings.clock_file),
        run_worker=os.environ.get(SERVE_WORKER_ENV, "1") == "1",
    )


class ParleyApp(FastAPI):
    """FastAPI with one ASGI layer in front of all of its own (`front`, which passes
    what it does not answer on to the app itself)."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    gateway: SmsGateway | None = None,
    database: Database | None = None,
    run_worker: bool = False,
) -> FastAPI:
    """Build the Parley ASGI app. `run_worker` starts the outbox worker in a thread for
    the app's lifetime (what `parley serve` does unless --no-worker)."""
    settings = settings or get_settings()
    clock = clock or SystemClock()
    database = database or Database(
        settings.sqlalchemy_url, sqlite_busy_timeout=settings.sqlite_busy_timeout_seconds
    )
    own_gateway = gateway is None
    gateway = gateway or build_gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.bootstrap_api_key is not None:
            with database.transaction() as session:
                ensure_bootstrap_key(
                    session,
                    clock,
                    settings.bootstrap_creditor,
                    settings.bootstrap_api_key.get_secret_value(),
                )
        stop = threading.Event()
        thread = None
        worker: OutboxWorker | None = None
        if run_worker:
            worker = build_worker(
                database, gateway, clock, settings, inbound=app.state.inbound_processor
            )
            worker.wakeup = app.state.worker_wakeup
            thread = threading.Thread(
                target=worker.run_forever, args=(stop,), name="parley-worker", daemon=True
            )
            thread.start()
        try:
            yield
        finally:
            # A graceful stop (SIGTERM) hands the worker's claims back at once, even
            # while the provider hangs: nothing waits out a lease.
            stop.set()
            app.state.worker_wakeup.set()
            if worker is not None:
                worker.shutdown()
            if thread is not None:
                thread.join(timeout=30)
            await app.state.inbox.aclose()
            if own_gateway:
                gateway.close()

    app = ParleyApp(
        title="Parley",
        summary="SMS-first two-way debt negotiation",
        version="0.1.0",
        lifespan=lifespan,
        # Served by app.docs from files shipped with the package, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.db = database
    app.state.gateway = gateway
    app.state.inbound = build_inbound_handler(settings)
    app.state.inbound_processor = InboundProcessor(database, app.state.inbound, clock, settings)
    # Set when something was queued (a text to send, a text to handle), so the
    # in-process worker gets to it at once.
    app.state.worker_wakeup = threading.Event()
    app.state.inbox = GroupCommitInbox(database, wake=app.state.worker_wakeup.set)
    app.state.auth_throttle = FailureThrottle(clock, settings.auth_failures_per_minute)
    app.state.page_token_throttle = FailureThrottle(clock, settings.page_token_failures_per_minute)
    install_error_handlers(app)
    # Outermost last: the access log sees every answer, the size limit comes before any
    # reading of the body, the text check before any route.
    app.add_middleware(
        UnstorableTextMiddleware,
        row_validated_paths=frozenset({debts_api.JSON_IMPORT_PATH, debts_api.CSV_IMPORT_PATH}),
    )
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        limits={debts_api.CSV_IMPORT_PATH: settings.max_import_body_bytes},
    )
    app.add_middleware(AccessLogMiddleware)
    # In front of everything, the framework's own layers and the console's sessions
    # included: the inbound SMS webhook's common case, which does for its own requests
    # what the edge layers would (app.conversations.sms_webhook).
    app.front = InboundSmsFastPath(
        partial(FastAPI.__call__, app),
        settings=settings,
        inbox=app.state.inbox,
        clock=clock,
        empty_twiml=conversations_api.EMPTY_TWIML,
    )
    # The inbound webhook first: every path is matched against the routes in order.
    app.include_router(conversations_api.webhook_router)
    install_docs(app)
    app.include_router(health.router)
    app.include_router(creditors_api.router)
    app.include_router(debts_api.router)
    app.include_router(messaging_api.router)
    app.include_router(conversations_api.router)
    app.include_router(offers_api.router)
    app.include_router(payments_api.router)
    app.include_router(callbacks_api.router)
    app.include_router(consent_api.router)
    app.include_router(simulation.router)
    app.include_router(analytics_api.router)
    app.include_router(exports_api.router)
    install_console(app, settings)
    return app
