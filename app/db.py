"""Database plumbing: the declarative base, engine, sessions, and the one place
where transactions are committed."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    TextClause,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import NullType, TypeDecorator

logger = logging.getLogger("parley.db")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def is_postgres(session: Session | Connection) -> bool:
    """Whether the session's (or connection's) database is PostgreSQL (else the
    embedded SQLite)."""
    bind = session.get_bind() if isinstance(session, Session) else session
    return bind.dialect.name == "postgresql"


def lock_key(session: Session, space: int, key: str, *, wait: bool = False) -> bool:
    """Hold the advisory lock on `key` in the lock space `space` (a signed 32-bit
    number) for this transaction, on PostgreSQL; False when another transaction holds
    it and `wait` is not asked. Always True on SQLite, whose one writer serialises."""
    if not is_postgres(session):
        return True
    if wait:
        session.execute(select(func.pg_advisory_xact_lock(space, func.hashtext(key))))
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(space, func.hashtext(key)))))


def try_lock_keys(session: Session, space: int, keys: Collection[str]) -> set[str]:
    """lock_key for many keys in one statement, never waiting (so never deadlocking):
    the keys this transaction now holds. All of them on SQLite."""
    if not keys or not is_postgres(session):
        return set(keys)
    rows = session.execute(
        text(
            "SELECT k FROM unnest(CAST(:keys AS text[])) AS k "
            "WHERE pg_try_advisory_xact_lock(:space, hashtext(k))"
        ),
        {"keys": sorted(keys), "space": space},
    )
    return {str(row[0]) for row in rows}


def bulk_insert(
    session: Session | Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    conflict: tuple[str, ...] = (),
    returning: str | None = None,
) -> list[Any]:
    """Insert `rows` (dicts with the same columns of `table`; the others take their
    server defaults, e.g. an autoincrement id) in one statement, skipping rows that
    collide on the unique `conflict` columns (`ON CONFLICT DO NOTHING`); returns the
    `returning` column of the rows inserted. Callers chunk what is large.

    PostgreSQL: `INSERT … SELECT … FROM json_to_recordset(:rows)`, the rows as one JSON
    document (`pg_rows_document`), one statement text whatever the number of rows. A
    multi-row VALUES list costs psycopg a pass over every one of its thousands of
    placeholders and PostgreSQL a parse of each, an array per column a Python pass over
    every value; the document costs neither (measured in bench/import_bench.py).
    SQLite: SQLAlchemy's multi-row `INSERT … VALUES` (its "insertmanyvalues" batches),
    or an executemany when nothing is returned."""
    if not rows:
        return []
    if is_postgres(session):
        return _pg_json_insert(session, table, rows, conflict, returning)
    statement: Any = insert_for(session, table)
    if conflict:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    if returning is None:
        session.execute(statement, rows)
        return []
    return list(session.scalars(statement.returning(table.c[returning]), rows))


def insert_new_in_bulk(session: Session, models: Sequence[type[Any]]) -> int:
    """Write the session's new (pending) objects of `models` with bulk_insert (one
    statement per table on PostgreSQL) instead of the ORM's flush, which binds every
    value of every row on its own; they stay in the session as if flushed and loaded.
    Only for rows that reference rows already stored: the ORM's flush writes the rest
    afterwards (rows referencing these included). A column the object does not set
    takes its Python default (or null), as the flush would give it. Returns how many
    rows it wrote."""
    written = 0
    with session.no_autoflush:
        for model in models:
            pending = [obj for obj in session.new if type(obj) is model]
            if not pending:
                continue
            mapper = inspect(model)
            table = cast(Table, mapper.local_table)
            shapes: dict[tuple[str, ...], list[tuple[Any, dict[str, Any]]]] = {}
            for obj in pending:
                row = _new_row(mapper, obj)
                shapes.setdefault(tuple(row), []).append((obj, row))
            for items in shapes.values():
                for obj, _ in items:
                    session.expunge(obj)
                bulk_insert(session, table, [row for _, row in items])
                for obj, _ in items:
                    # What it holds now is what is stored: as if flushed and loaded.
                    make_transient_to_detached(obj)
                    session.add(obj)
                written += len(items)
    return written


def update_dirty_in_bulk(session: Session, models: Sequence[type[Any]]) -> int:
    """Write the changed columns of the session's modified objects of `models` with
    bulk_update (one statement per table and set of changed columns on PostgreSQL)
    instead of the ORM's flush, which sends an UPDATE per row; afterwards their values
    are as if flushed. Only when the flush has nothing to insert or delete first (a
    changed row may reference a new one): otherwise, and for an object with a change
    that is not to its plain columns (its key, a relationship), the flush writes it as
    before. Returns how many rows it wrote."""
    if session.new or session.deleted:
        return 0
    dirty: dict[type[Any], list[Any]] = {model: [] for model in models}
    for obj in session.dirty:
        if type(obj) in dirty:
            dirty[type(obj)].append(inspect(obj))
    written = 0
    with session.no_autoflush:
        for model, states in dirty.items():
            mapper = inspect(model)
            columns = _updatable_columns(mapper)
            key_attr, key_column = _single_key(mapper)
            shapes: dict[tuple[str, ...], list[tuple[Any, dict[str, Any]]]] = {}
            for state in states:
                changed, values = state.committed_state, state.dict
                if not changed or any(
                    name not in columns or name not in values for name in changed
                ):
                    continue  # nothing to write, or not ours to write: the flush's
                row = {key_column: values[key_attr]} | {
                    columns[name]: values[name] for name in sorted(changed)
                }
                shapes.setdefault(tuple(row), []).append((state, row))
            for items in shapes.values():
                bulk_update(
                    session, cast(Table, mapper.local_table), [row for _, row in items],
                    key=key_column,
                )  # fmt: skip
                for state, _ in items:
                    for name in list(state.committed_state):
                        # What it holds now is what is stored (no history left).
                        set_committed_value(state.obj(), name, state.dict[name])
                written += len(items)
    return written


@lru_cache(maxsize=128)
def _updatable_columns(mapper: Any) -> dict[str, str]:
    """attribute -> column name of `mapper`'s plain columns other than its key."""
    keys = {column.name for column in mapper.primary_key}
    return {
        prop.key: prop.columns[0].name
        for prop in mapper.column_attrs
        if len(prop.columns) == 1 and prop.columns[0].name not in keys
    }


@lru_cache(maxsize=128)
def _single_key(mapper: Any) -> tuple[str, str]:
    """(attribute, column name) of `mapper`'s one-column primary key."""
    (column,) = mapper.primary_key
    return mapper.get_property_by_column(column).key, column.name


def _new_row(mapper: Any, obj: Any) -> dict[str, Any]:
    """The row the ORM's flush would insert for the new object `obj`; the defaults it
    fills in are set on the object too, as the flush sets them (straight into its
    state: insert_new_in_bulk then marks everything it holds as loaded)."""
    values = inspect(obj).dict
    row: dict[str, Any] = {}
    for key, name, default, call in _column_defaults(mapper):
        if key not in values:
            if default is _SERVER_DEFAULT:
                continue  # the database's own default, loaded when read
            values[key] = default(None) if call else default
        row[name] = values[key]
    return row


# A column whose default the database supplies (not written by _new_row).
_SERVER_DEFAULT: Any = object()


@lru_cache(maxsize=128)
def _column_defaults(mapper: Any) -> tuple[tuple[str, str, Any, bool], ...]:
    """(attribute, column, default, whether to call it) for each column of `mapper`,
    worked out once: a Python default (a callable is called with no context), None
    (null) or _SERVER_DEFAULT."""
    found = []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        default, call = None, False
        if column.default is not None and (column.default.is_scalar or column.default.is_callable):
            default, call = column.default.arg, column.default.is_callable
        elif column.server_default is not None:
            default = _SERVER_DEFAULT
        found.append((prop.key, column.name, default, call))
    return tuple(found)


PG_DIALECT: Any = postgresql.dialect()  # type: ignore[no-untyped-call]


def _pg_type(column: Any) -> str:
    """The type a column's values are read as from the JSON document. Strings go as
    unbounded VARCHAR: PostgreSQL truncates a value cast to VARCHAR(n) without a word,
    while the insert into the VARCHAR(n) column refuses one too long ("value too
    long")."""
    kind = column.type
    if isinstance(kind, NullType):  # a foreign key takes the referenced column's type
        kind = next(iter(column.foreign_keys)).column.type
    if isinstance(kind, String) and kind.length is not None:
        return "VARCHAR"
    return str(kind.compile(dialect=PG_DIALECT))


def _json_value(value: object) -> str:
    """A timestamp or date in a JSON document of rows: ISO 8601, a timestamp as
    UTCDateTime binds it (aware, in UTC; a naive one refused)."""
    if isinstance(value, datetime):
        if value.tzinfo is UTC:  # as the clock gives them: nothing to convert
            return value.isoformat()
        bound = _UTC_TIMESTAMP.process_bind_param(value, PG_DIALECT)
        assert bound is not None
        return bound.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot go in a JSON document of rows")


def pg_rows_document(rows: Sequence[Mapping[str, Any]], table: Table) -> str:
    """`rows` as one JSON document for `pg_recordset` (what psycopg sends fastest: one
    string, encoded by the json module's C encoder, where an array per column costs
    psycopg a Python pass over every value). A JSON column's value goes as its own
    JSON text, so None stays JSON null, as the ORM stores it."""
    json_names = [name for name in rows[0] if isinstance(table.c[name].type, JSON)]
    if json_names:
        rows = [{**row, **{name: json.dumps(row[name]) for name in json_names}} for row in rows]
    return json.dumps(rows, default=_json_value)


def pg_recordset(table: Table, names: Sequence[str], placeholder: str) -> tuple[str, str]:
    """The column list and the `SELECT … FROM json_to_recordset(…)` that read the rows
    of `pg_rows_document` (bound at `placeholder`) as `table`'s columns `names`."""
    fields = []
    values = []
    for name in names:
        column = table.c[name]
        if isinstance(column.type, JSON):
            fields.append(f'"{name}" TEXT')
            values.append(f'CAST(r."{name}" AS {_pg_type(column)}) AS "{name}"')
        else:
            fields.append(f'"{name}" {_pg_type(column)}')
            values.append(f'r."{name}"')
    # Names come from the models, values only through the parameter.
    select_sql = (
        f"SELECT {', '.join(values)} FROM json_to_recordset(CAST({placeholder} AS json)) "  # noqa: S608
        f"AS r({', '.join(fields)})"
    )
    return ", ".join(f'"{name}"' for name in names), select_sql


def _pg_json_insert(
    session: Session | Connection,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: tuple[str, ...],
    returning: str | None,
) -> list[Any]:
    names = tuple(column.name for column in table.columns if column.name in rows[0])
    statement = _pg_json_insert_statement(table, names, conflict, returning)
    parameters = {"rows": pg_rows_document(rows, table)}
    if returning is None:
        session.execute(statement, parameters)
        return []
    return list(session.scalars(statement, parameters))


@lru_cache(maxsize=256)
def _pg_json_insert_statement(
    table: Table, names: tuple[str, ...], conflict: tuple[str, ...], returning: str | None
) -> TextClause:
    # Built once per shape: the column types compiled and the text parsed for its
    # parameters cost more than a small group's rows do.
    columns, select_sql = pg_recordset(table, names, ":rows")
    sql = f'INSERT INTO "{table.name}" ({columns}) {select_sql}'
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    if returning is not None:
        sql += f' RETURNING "{returning}"'
    return text(sql)


def bulk_update(
    session: Session | Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    key: str = "id",
) -> None:
    """Update the rows of `table` whose `key` column each of `rows` names (dicts with
    the same columns) with the other columns' values, in one statement.

    PostgreSQL: `UPDATE … FROM json_to_recordset(:rows)`, the rows as one JSON document
    (see bulk_insert): one statement, where an executemany (the ORM's flush) costs one
    statement per row. SQLite: an executemany."""
    if not rows:
        return
    shape = _BulkUpdate(table, key)
    if is_postgres(session):
        statement, parameters = shape.pg(rows)
        session.execute(statement, parameters)
        return
    session.execute(shape.sqlite(rows), [_sqlite_row(row) for row in rows])


def bulk_update_where(
    session: Session | Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    key: str = "id",
    match: Sequence[str] = (),
    only: Mapping[str, Any] | None = None,
    fill: Sequence[str] = (),
) -> set[Any]:
    """bulk_update, for the rows that are still as the caller expects: each row's
    `match` columns equal the values it gives (compared, not written), and every row's
    columns in `only` hold those values (None: null). The `fill` columns are written
    only where they are null. Returns the keys of the rows updated; the others are left
    as they were.

    PostgreSQL: one statement (`… RETURNING`). SQLite: one statement per row."""
    if not rows:
        return set()
    shape = _BulkUpdate(table, key, match, dict(only or {}), fill)
    if is_postgres(session):
        statement, parameters = shape.pg(rows, returning=True)
        return set(session.scalars(statement, parameters))
    statement = shape.sqlite(rows)
    updated: set[Any] = set()
    for row in rows:
        result = cast(CursorResult[Any], session.execute(statement, _sqlite_row(row)))
        if result.rowcount:
            updated.add(row[key])
    return updated


@dataclass(frozen=True)
class _BulkUpdate:
    """One bulk UPDATE of `table` (see bulk_update_where): rows found by `key`, the
    `match` columns compared, the `only` values required, the `fill` columns written
    only where null."""

    table: Table
    key: str
    match: Sequence[str] = ()
    only: Mapping[str, Any] = field(default_factory=dict)
    fill: Sequence[str] = ()

    def _names(self, rows: list[dict[str, Any]]) -> list[str]:
        return [column.name for column in self.table.columns if column.name in rows[0]]

    def _written(self, rows: list[dict[str, Any]]) -> list[str]:
        return [name for name in self._names(rows) if name != self.key and name not in self.match]

    def pg(
        self, rows: list[dict[str, Any]], *, returning: bool = False
    ) -> tuple[TextClause, dict[str, Any]]:
        """The statement (`UPDATE … FROM json_to_recordset`) and its parameters."""
        parameters: dict[str, Any] = {
            "rows": pg_rows_document(rows, self.table),
            "keys": [row[self.key] for row in rows],
        }
        for index, value in enumerate(self.only.values()):
            parameters[f"only_{index}"] = value
        statement = _pg_update_statement(
            self.table,
            self.key,
            tuple(self._names(rows)),
            tuple(self._written(rows)),
            tuple(self.match),
            tuple(self.only),
            tuple(self.fill),
            returning,
        )
        return statement, parameters

    def sqlite(self, rows: list[dict[str, Any]]) -> Any:
        """The statement, for rows bound as `_sqlite_row` gives them."""
        table = self.table
        conditions = [table.c[name] == bindparam(f"{name}_") for name in (self.key, *self.match)]
        for name, value in self.only.items():
            column = table.c[name]
            conditions.append(column.is_(None) if value is None else column == value)
        values = {
            name: func.coalesce(table.c[name], bindparam(f"{name}_", type_=table.c[name].type))
            if name in self.fill
            else bindparam(f"{name}_")
            for name in self._written(rows)
        }
        return update(table).where(*conditions).values(values)


@lru_cache(maxsize=256)
def _pg_update_statement(
    table: Table,
    key: str,
    names: tuple[str, ...],
    written: tuple[str, ...],
    match: tuple[str, ...],
    only: tuple[str, ...],
    fill: tuple[str, ...],
    returning: bool,
) -> TextClause:
    # Built once per shape (see _pg_json_insert_statement); the values go as parameters.
    _, select_sql = pg_recordset(table, names, ":rows")
    sets = ", ".join(
        f'"{name}" = coalesce(t."{name}", r."{name}")' if name in fill else f'"{name}" = r."{name}"'
        for name in written
    )
    # The keys also as an array: the planner cannot see how many rows the document
    # holds (it guesses 100), and without them it may scan the table.
    conditions = [f't."{key}" = ANY(:keys)']
    conditions += [f't."{name}" = r."{name}"' for name in (key, *match)]
    # IS NOT DISTINCT FROM: checked on the rows the keys found, never a way to find
    # them (an index on a rare value, such as a status, could look cheaper).
    conditions += [
        f't."{name}" IS NOT DISTINCT FROM :only_{index}' for index, name in enumerate(only)
    ]
    sql = (
        f'UPDATE "{table.name}" AS t SET {sets} FROM ({select_sql}) AS r '  # noqa: S608
        f"WHERE {' AND '.join(conditions)}"
    )
    if returning:
        sql += f' RETURNING t."{key}"'
    return text(sql)


def _sqlite_row(row: Mapping[str, Any]) -> dict[str, Any]:
    # Bound as name_: SQLAlchemy keeps a column's own name for its SET value.
    return {f"{name}_": value for name, value in row.items()}


def insert_for(session: Session | Connection, table: Any) -> Any:
    """The session's (or connection's) dialect's INSERT for `table` (PostgreSQL or
    SQLite), the one that has `on_conflict_do_nothing`."""
    if is_postgres(session):
        return postgresql.insert(table)
    return sqlite.insert(table)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC in Python, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware values")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_UTC_TIMESTAMP = UTCDateTime()


class Base(DeclarativeBase):
    """Base of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (read by SQLAlchemy, never mutated)
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def new_id() -> str:
    """Primary keys are UUID4 strings: unguessable across tenants and URL-safe."""
    return str(uuid.uuid4())


ID = String(36)


DEFAULT_SQLITE_BUSY_TIMEOUT = 30.0


def make_engine(
    url: str,
    *,
    sqlite_busy_timeout: float = DEFAULT_SQLITE_BUSY_TIMEOUT,
    ping_idle_seconds: float | None = None,
) -> Engine:
    """An engine tuned per backend (SQLite: WAL, foreign keys, busy timeout: how long a
    writer waits for the lock before "database is locked", which the API answers 503)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout},
            # A file's connection does not drop: no ping before use.
            pool_pre_ping=False,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The driver's implicit BEGIN is disabled so SQLAlchemy's "begin" event
            # can issue BEGIN IMMEDIATE: writers then queue instead of failing.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout * 1000)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # psycopg prepares a statement after five uses and PostgreSQL may then keep a
    # generic plan for it; for the IN (...) look-ups of bulk imports that plan degrades
    # as a table grows (measured in bench/), so statements are never prepared.
    engine = create_engine(
        url,
        # Not pre-pinged on every checkout (a round trip per transaction, measured in
        # bench/send_bench.py): only a connection idle for a while is (see below).
        pool_pre_ping=False,
        pool_recycle=POOL_RECYCLE_SECONDS,
        # Errors would otherwise log bound values: phone numbers, bodies, tokens.
        hide_parameters=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"prepare_threshold": None},
    )
    _ping_idle_connections(
        engine, PING_IDLE_SECONDS if ping_idle_seconds is None else ping_idle_seconds
    )
    return engine


# A pooled connection is replaced after this long, and pinged before use when it sat
# idle in the pool longer than PING_IDLE_SECONDS (a restarted server, a dropped socket);
# a busy pool's connections go straight back to work.
POOL_RECYCLE_SECONDS = 1800
PING_IDLE_SECONDS = 5.0
_CHECKED_IN = "parley.checked_in"


def _ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            # psycopg opened a transaction for the ping: leave the connection idle.
            dbapi_conn.rollback()
        except Exception as exc:
            # The pool drops this connection and checks out (or opens) another.
            raise DisconnectionError("idle connection is gone") from exc


class Database:
    """Owns the engine and hands out sessions; the only code that commits."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_busy_timeout: float = DEFAULT_SQLITE_BUSY_TIMEOUT,
        ping_idle_seconds: float | None = None,
    ) -> None:
        self.url = url
        self.engine = make_engine(
            url, sqlite_busy_timeout=sqlite_busy_timeout, ping_idle_seconds=ping_idle_seconds
        )
        self._factory = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def conninfo(self) -> str:
        """PostgreSQL: the URL for a plain psycopg connection of its own (the listener,
        the webhook's writer), password included."""
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit when the block ends, roll back when it raises.
        Callbacks registered with `after_commit(session, fn)` run once the commit has
        succeeded (never after a rollback)."""
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            session.info.pop(_AFTER_COMMIT, None)
            raise
        finally:
            session.close()
        for callback in session.info.pop(_AFTER_COMMIT, []):
            try:
                callback()
            except Exception:
                # The data is committed; a failed wake-up only delays the work.
                logger.exception("after-commit callback failed")

    def listen(
        self,
        channel: str,
        on_notify: Callable[[], None],
        stop: threading.Event,
        *,
        listening: threading.Event | None = None,
        reconnect_seconds: float = 1.0,
    ) -> None:
        """PostgreSQL: LISTEN on `channel` over a connection of its own and call `on_notify`
        for every notification until `stop` is set (blocking; run it in a thread). A lost
        connection is opened again; `on_notify` also runs after each (re)connect, since
        notifications sent while not listening are gone. `listening` is set once the
        first LISTEN is in place (and that first `on_notify` has run)."""
        if not self.is_postgres:
            return
        import psycopg
        from psycopg import sql

        while not stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as connection:
                    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    on_notify()
                    if listening is not None:
                        listening.set()
                    while not stop.is_set():
                        for _ in connection.notifies(timeout=0.5):
                            on_notify()
            except psycopg.Error:
                logger.warning("listener connection lost; polling until it is back")
                stop.wait(reconnect_seconds)

    def dispose(self) -> None:
        self.engine.dispose()


_AFTER_COMMIT = "parley.after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` after this session's transaction commits (e.g. wake a worker:
    waking it before the commit would let it look for rows it cannot see yet). Each
    distinct callback runs once per transaction."""
    callbacks: list[Callable[[], None]] = session.info.setdefault(_AFTER_COMMIT, [])
    if callback not in callbacks:
        callbacks.append(callback)


_ON_QUEUED = "parley.on_queued"


def set_on_queued(session: Session, callback: Callable[[], None]) -> None:
    """What to run after commit when this transaction queued outbound work (the web
    process sets its worker's wake-up here)."""
    session.info[_ON_QUEUED] = callback


def queued_work(session: Session) -> None:
    """This transaction queued work for the worker: wake it once the commit is done."""
    callback = session.info.get(_ON_QUEUED)
    if callback is not None:
        after_commit(session, callback)
