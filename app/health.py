"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.db import Database

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(request: Request) -> dict[str, str] | JSONResponse:
    """The database answers (503 with a JSON body when it does not)."""
    database: Database = request.app.state.db
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return JSONResponse(
            {
                "status": "unavailable",
                "error": {
                    "code": "database_unreachable",
                    "message": type(exc).__name__,
                    "fields": [],
                },
            },
            status_code=503,
        )
    return {"status": "ready", "database": database.engine.dialect.name}
