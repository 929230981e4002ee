"""Look-ups read ahead for many units of work at once, answered from memory afterwards.

A worker that handles a group of inbound texts in one transaction reads, in one query
each, what every text's handling would otherwise look up one by one (a debtor's
suppression, a debt's running plan, a creditor's offer rules, a debt's live payment
codes): `remember` stores the answers for the session's transaction, and the look-up
functions ask `recall` before they query.

An answer is only as good as the rows it was read from, so it is dropped as soon as
this session writes to them: when an object of that table with that key is added,
changed or deleted (before and after its flush), and for every key at once on an
INSERT, UPDATE or DELETE statement run on that table through the session (a write run
on its connection says what it wrote with `wrote`). The transaction's end drops
everything. Other transactions cannot change the rows meanwhile only where the caller
holds the locks that say so; a recalled answer is otherwise exactly as fresh as a
query made at the moment it was read ahead, which is what READ COMMITTED gives a
query anyway."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

_KEY = "parley.read_ahead"

MISSING: Any = object()


@dataclass
class _Table:
    column: str
    context: Hashable
    answers: dict[Hashable, Any] = field(default_factory=dict)


def remember(
    session: Session,
    table: str,
    column: str,
    answers: dict[Hashable, Any],
    *,
    context: Hashable = None,
) -> None:
    """Keep `answers` (the value of `column` on rows of `table` -> what the look-up
    returns for it) for the rest of this transaction. `context`: what else the answers
    depend on (the time they were read for); recall must name the same."""
    store: dict[str, _Table] = session.info.setdefault(_KEY, {})
    store[table] = _Table(column, context, dict(answers))


def recall(session: Session, table: str, key: Hashable, *, context: Hashable = None) -> Any:
    """The answer remembered for `key`, or MISSING (then the caller queries)."""
    store: dict[str, _Table] | None = session.info.get(_KEY)
    if not store:
        return MISSING
    kept = store.get(table)
    if kept is None or kept.context != context or key not in kept.answers:
        return MISSING
    for obj in _unflushed_of(session, table):
        if getattr(obj, kept.column, key) == key:
            kept.answers.pop(key, None)
            return MISSING
    return kept.answers[key]


def forget(session: Session) -> None:
    """Drop everything remembered in this session."""
    session.info.pop(_KEY, None)


def _unflushed(session: Session) -> Iterable[object]:
    yield from session.new
    yield from session.dirty
    yield from session.deleted


def _unflushed_of(session: Session, table: str) -> Iterator[object]:
    """The objects of `table` among _unflushed, found from the session's own records of
    them by class: recall runs several times for each text of a group whose session
    holds hundreds of new objects by its end, and the public sets (`session.new`...)
    are built afresh, every object in them, on each use. Deleted ones count as dirty."""
    states = chain(session._new, session.identity_map._modified, session._deleted)
    for state in states:
        if _table_of_class(state.class_) == table:
            obj = state.obj()
            if obj is not None:
                yield obj


_TABLES: dict[type, str | None] = {}


def _table_of(obj: object) -> str | None:
    """The table an ORM object is a row of (worked out once per class)."""
    return _table_of_class(type(obj))


def _table_of_class(cls: type) -> str | None:
    try:
        return _TABLES[cls]
    except KeyError:
        mapper: Any = inspect(cls, raiseerr=False)
        table = getattr(getattr(mapper, "local_table", None), "name", None)
        _TABLES[cls] = str(table) if table is not None else None
        return _TABLES[cls]


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    store: dict[str, _Table] | None = session.info.get(_KEY)
    if not store:
        return
    for obj in _unflushed(session):
        kept = store.get(_table_of(obj) or "")
        if kept is not None:
            key = getattr(obj, kept.column, MISSING)
            if key is MISSING:
                kept.answers.clear()
            else:
                kept.answers.pop(key, None)


def wrote(session: Session, table: str, key: Hashable = MISSING) -> None:
    """This session wrote rows of `table` whose remembered column is `key` (every key
    when none is given) by a way the session does not see (a statement run on its
    connection): their answers are dropped, as for a statement run through it."""
    store: dict[str, _Table] | None = session.info.get(_KEY)
    if not store or table not in store:
        return
    if key is MISSING:
        store[table].answers.clear()
    else:
        store[table].answers.pop(key, None)


@event.listens_for(Session, "do_orm_execute")
def _statement(state: ORMExecuteState) -> None:
    store: dict[str, _Table] | None = state.session.info.get(_KEY)
    if not store or state.is_select:
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table is None:
        store.clear()  # a statement whose table is not known: nothing is trusted
    else:
        wrote(state.session, table)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        forget(session)
