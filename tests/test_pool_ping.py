"""PostgreSQL connections are not pinged on every checkout (a round trip per
transaction); one that sat idle in the pool is, and a dead one is replaced unseen."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import Database


def _backend_pid(database: Database) -> int:
    with database.transaction() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")) or 0)


def _terminate(database: Database, pid: int) -> None:
    # A pool of its own: the other pool's connection stays idle with `pid`.
    killer = Database(database.url)
    try:
        with killer.transaction() as session:
            assert session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        killer.dispose()


def test_a_connection_that_died_idle_is_replaced_before_use(
    postgres_only: None, db: Database
) -> None:
    # Every checkout counts as idle here (0 s), as any after PING_IDLE_SECONDS would.
    database = Database(db.url, ping_idle_seconds=0.0)
    try:
        first = _backend_pid(database)
        _terminate(database, first)
        # The pool hands out its idle connection, pings it, finds it gone and opens
        # another: the transaction never sees the dead one.
        second = _backend_pid(database)
        assert second != first
    finally:
        database.dispose()


def test_without_the_idle_ping_the_dead_connection_would_fail_the_transaction(
    postgres_only: None, db: Database
) -> None:
    # What the ping is for: a pool that trusts its idle connection hands out a dead one.
    database = Database(db.url, ping_idle_seconds=3600.0)
    try:
        first = _backend_pid(database)
        _terminate(database, first)
        with pytest.raises(OperationalError):
            _backend_pid(database)
        # The pool drops what it held: the next transaction has a new connection.
        assert _backend_pid(database) != first
    finally:
        database.dispose()
