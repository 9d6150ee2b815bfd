"""Bulk INSERT of many rows with the driver's executemany, converting values only once each.

SQLAlchemy's executemany converts every value of every row through the column types (about 15 µs
a row here, half the cost of a large import). This compiles the Core INSERT once for the dialect,
converts each column with the same type's own bind processor, a value shared by all rows (such as
the import time) only once, and hands plain tuples or dicts to the driver.

``insert_tuples`` is the import's faster form: rows come as tuples in a fixed column order (no
dict per row), each converted column is converted once per distinct value (a CSV's sign-up
dates repeat), and the driver's tuples are assembled column-wise. Invariant of both: what is
stored is what the ORM would store for the same values (tests/contract/test_bulk_writes.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.orm import Session


def bulk_insert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any] | None = None,
) -> None:
    """INSERT ``rows`` (dicts of column -> value) plus ``shared`` (same value for every row)."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    shared = dict(shared or {})
    row_columns = [name for name in rows[0] if name not in shared]
    compiled = insert(table).compile(dialect=dialect, column_keys=row_columns + list(shared))
    names = compiled.positiontup or [*row_columns, *shared]
    fixed: dict[str, Any] = {}
    for name, value in shared.items():
        convert = _converter(table, name, dialect)
        fixed[name] = convert(value) if convert is not None else value
    # Per position: a shared value, a column to copy as is, or a column to convert.
    plan: list[tuple[str, Any, Callable[[Any], Any] | None]] = []
    for name in names:
        if name in fixed:
            plan.append(("fixed", fixed[name], None))
        else:
            plan.append(("row", name, _converter(table, name, dialect)))
    if all(kind == "row" and convert is None for kind, _, convert in plan):
        values = [tuple(row[name] for name in names) for row in rows]
    else:
        values = [
            tuple(
                item
                if kind == "fixed"
                else (row[item] if convert is None or row[item] is None else convert(row[item]))
                for kind, item, convert in plan
            )
            for row in rows
        ]
    params: list[Any] = (
        values if compiled.positiontup else [dict(zip(names, v, strict=True)) for v in values]
    )
    connection.exec_driver_sql(compiled.string, params)


def insert_tuples(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    shared: Mapping[str, Any] | None = None,
    sqlite_text: Mapping[str, Callable[[Any], str]] | None = None,
) -> None:
    """INSERT ``rows`` (tuples of values in the order of ``columns``) plus ``shared``.

    ``sqlite_text`` may name, for a column, a faster function giving the same text as its type's
    bind processor on SQLite (such as import_plan's JSON writer); other databases use the type's.
    Values of a column that are equal are converted once: their stored form is the same.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    shared = dict(shared or {})
    compiled = insert(table).compile(dialect=dialect, column_keys=[*columns, *shared])
    names = compiled.positiontup or [*columns, *shared]
    faster = sqlite_text if sqlite_text and dialect.name == "sqlite" else {}
    by_column: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for index, name in enumerate(columns):
        convert = faster.get(name) or _converter(table, name, dialect)
        if convert is not None:
            by_column[index] = _convert_column(by_column[index], convert)
    position = {name: index for index, name in enumerate(columns)}
    sources: list[Any] = []
    for name in names:
        if name in position:
            sources.append(by_column[position[name]])
        else:
            convert = _converter(table, name, dialect)
            value = shared[name]
            sources.append(repeat(convert(value) if convert and value is not None else value))
    # strict=False: repeat() is endless, the rows' own columns set the length.
    values = list(zip(*sources, strict=False))
    params: list[Any] = (
        values if compiled.positiontup else [dict(zip(names, v, strict=True)) for v in values]
    )
    connection.exec_driver_sql(compiled.string, params)


def _convert_column(values: Sequence[Any], convert: Callable[[Any], Any]) -> list[Any]:
    """``convert`` applied to each value but None (stored as NULL), once per distinct value.

    Values are told apart by type too: True == 1, yet a JSON column stores them differently.
    """
    keys = list(zip(map(type, values), values, strict=True))
    try:
        once = {key: convert(key[1]) for key in set(keys) if key[1] is not None}
    except TypeError:  # an unhashable value (a JSON dict): one by one
        return [None if value is None else convert(value) for value in values]
    once[(type(None), None)] = None
    return [once[key] for key in keys]


def _converter(table: Table, name: str, dialect: Any) -> Callable[[Any], Any] | None:
    """The column type's own bind conversion for this dialect, as SQLAlchemy would apply it."""
    return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)


def one_of(session: Session, column: ColumnElement[Any], values: Sequence[Any]) -> Any:
    """``column IN values`` for thousands of values with one bound parameter.

    A plain IN renders one parameter per value on every execution (slow to compile). SQLite
    reads a JSON array with json_each, PostgreSQL takes an array with = ANY.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        each: Select[Any] = select(literal_column("value")).select_from(
            func.json_each(bindparam("values", json.dumps(list(values)), type_=String()))
        )
        return column.in_(each.scalar_subquery())
    if dialect == "postgresql":
        return column == any_(bindparam("values", list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def inserted_ids(session: Session, table: Table, keys: Sequence[str], key_column: str) -> list[int]:
    """The ids of the rows just inserted by bulk_insert, in the order of ``keys``.

    On SQLite the rows of one INSERT, made under the write lock, get consecutive rowids ending
    at last_insert_rowid() (checked on the first row); elsewhere they are looked up by key.
    """
    if not keys:
        return []
    column = table.c[key_column]
    if session.get_bind().dialect.name == "sqlite":
        last = int(session.execute(select(func.last_insert_rowid())).scalar_one())
        first = last - len(keys) + 1
        found = session.scalar(select(column).where(table.c.id == first))
        if found == keys[0]:
            return list(range(first, last + 1))
    rows = session.execute(select(column, table.c.id).where(one_of(session, column, keys)))
    by_key = {key: int(sid) for key, sid in rows}
    return [by_key[key] for key in keys]
