"""The hot statements of a submission, run on the driver's cursor.

Each is a SQLAlchemy Core statement, compiled once per dialect with the column types' own conversions (a time as
naive UTC, the state's codec, JSON), and then executed on the DBAPI cursor of the session's connection, in its
transaction: none of SQLAlchemy's per-call work (the execution context, events, result objects), which took
about 40 % of a submission's CPU, four times the database's own (docs/benchmarks.md, *Submissions on the driver*).
Everything else goes through SQLAlchemy as before; what runs here is only what every completion and every API call
runs.

A statement whose parameters are not all given is refused when it is compiled, so that a column with a default
the database does not know (a Python-side default) is never left out silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

#: Session.info key: the transaction the cached cursor belongs to, and the cursor.
_CURSOR = "kaohe_direct_cursor"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters, in order (positional drivers) or by name
    positional: bool
    binds: dict  # name -> the type's bind processor (or None)
    results: tuple  # one result processor (or None) a selected column


class Statement:
    """A Core statement run on the driver: ``rowcount``, ``many``, ``one``, ``record`` and ``all`` in the session's
    transaction. ``given``: the parameters every call gives; compiling refuses a statement that needs more."""

    def __init__(self, statement: ClauseElement, given: Iterable[str] | None = None):
        self.statement = statement
        self.given = set(given) if given is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def rowcount(self, session: Session, params: dict) -> int:
        return self._run(session, params, lambda cursor: cursor.rowcount)

    def many(self, session: Session, rows: Sequence[dict]) -> None:
        self._run(session, rows, None, many=True)

    def one(self, session: Session, params: dict) -> tuple | None:
        """The first row, its values converted as SQLAlchemy would; None when there is none."""
        return self._run(session, params, lambda cursor: _first(self._compiled_for(session), cursor.fetchone()))

    def record(self, session: Session, params: dict) -> Snapshot | None:
        """``one`` as a snapshot whose attributes are the selected columns' names (labels)."""
        found = self.one(session, params)
        return None if found is None else Snapshot(zip(self.statement.selected_columns.keys(), found, strict=True))

    def all(self, session: Session, params: dict) -> list[tuple]:
        return self._run(session, params, lambda cursor: [_row(self._compiled_for(session), row)
                                                          for row in cursor.fetchall()])

    def _run(self, session: Session, params, read, many: bool = False):
        """Execute (or ``executemany``) and ``read`` the cursor. A driver error is raised as SQLAlchemy raises it
        (a ``DBAPIError`` subclass wrapping it), and a connection found dead is invalidated in the pool first, so
        that callers and the web app's error pages see the same errors whichever way a statement ran."""
        cursor = driver_cursor(session)
        compiled = self._compiled_for(session)
        dialect = session.get_bind().dialect
        try:
            if many and len(params) != 1:
                cursor.executemany(compiled.sql, [_params(compiled, row) for row in params])
                return None
            if many:  # one row: psycopg's executemany sets up a pipeline, which costs more than the statement
                cursor.execute(compiled.sql, _params(compiled, params[0]))
                return None
            cursor.execute(compiled.sql, _params(compiled, params))
            return read(cursor)
        except dialect.loaded_dbapi.Error as exc:
            connection = session.connection()
            gone = dialect.is_disconnect(exc, connection.connection, cursor)
            if gone:
                connection.invalidate(exc)
            raise DBAPIError.instance(compiled.sql, params, exc, dialect.loaded_dbapi.Error, dialect=dialect,
                                      connection_invalidated=gone, ismulti=many) from exc

    def _compiled_for(self, session: Session) -> _Compiled:
        dialect = session.get_bind().dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup) if positional else tuple(compiled.binds)
        binds = {}
        for name in names:
            parameter = compiled.binds[name]
            if parameter.expanding:
                raise TypeError(f"{name}: an expanding parameter cannot be run directly")
            binds[name] = parameter.type.dialect_impl(dialect).bind_processor(dialect)
        if self.given is not None and not set(names) <= self.given:
            raise TypeError(f"{self.statement}: parameters {sorted(set(names) - self.given)} would be left out")
        columns = getattr(self.statement, "selected_columns", None)
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                        for column in columns) if columns is not None and self.statement.is_select else ()
        return _Compiled(compiled.string, names, positional, binds, results)


class Insert:
    """An INSERT of rows of ``keys`` into ``table`` as one statement with a VALUES list per row (up to ``CHUNK``
    rows a statement), on the driver: one round trip for the few rows an action adds, where psycopg's
    ``executemany`` would set up a pipeline that costs more than the rows."""

    CHUNK = 50

    def __init__(self, table, keys: Iterable[str]):
        self.table, self.keys = table, list(keys)
        self._statements: dict[int, Statement] = {}

    def rows(self, session: Session, rows: Sequence[dict]) -> None:
        for start in range(0, len(rows), self.CHUNK):
            chunk = rows[start:start + self.CHUNK]
            statement = self._statements.get(len(chunk))
            if statement is None:
                statement = self._statements[len(chunk)] = self._statement(len(chunk))
            statement.rowcount(session, {f"{key}_{n}": row[key] for n, row in enumerate(chunk) for key in self.keys})

    def _statement(self, count: int) -> Statement:
        columns = self.table.columns
        values = [{key: bindparam(f"{key}_{n}", type_=columns[key].type) for key in self.keys} for n in range(count)]
        return Statement(insert(self.table).values(values),
                         given=[parameter.key for row in values for parameter in row.values()])


class Snapshot:
    """A row read on the driver: its columns as attributes, named as on the mapped class (or by their labels).
    Not an ORM object, so nothing set on it is written (``Runner.swap`` writes an instance, then sets what it
    wrote)."""

    def __init__(self, values):
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Snapshot(id={self.__dict__.get('id')!r})"


def driver_cursor(session: Session):
    """A cursor of the driver's connection that the session's current transaction uses, kept for the length of
    that transaction (a session's next transaction may run on another connection)."""
    transaction = session.get_transaction()
    found = session.info.get(_CURSOR)
    if found is not None and found[0] is transaction and transaction is not None:
        return found[1]
    cursor = session.connection().connection.driver_connection.cursor()
    session.info[_CURSOR] = (session.get_transaction(), cursor)
    return cursor


def _params(compiled: _Compiled, given: dict):
    binds = compiled.binds
    if compiled.positional:
        return tuple(given[name] if binds[name] is None else binds[name](given[name]) for name in compiled.names)
    return {name: given[name] if binds[name] is None else binds[name](given[name]) for name in compiled.names}


def _first(compiled: _Compiled, row) -> tuple | None:
    return None if row is None else _row(compiled, row)


def _row(compiled: _Compiled, row) -> tuple:
    if not compiled.results:  # a text() statement: its values as the driver gives them
        return tuple(row)
    return tuple(value if process is None else process(value) for process, value in zip(compiled.results, row,
                                                                                          strict=True))
