"""Several models' rows read in one hand-written statement, for the few reads on every page.

Tortoise builds each query anew: on a listing page, building the SQL and the objects cost about
three times what PostgreSQL and asyncpg did (0.6 ms against 0.2 ms a statement, measured for
issue 16), and a page read the session, the membership, the unread count, the listing and its
institute as five of them. The reads every page makes are written out here once, as SQL that
joins what they need; the rows come back as the same model objects Tortoise would have built
(`Model._init_from_db`, the constructor its own executor uses), so nothing downstream knows.

Everything else keeps using the ORM: this is for reads on the hot path, never for writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from tortoise import Tortoise
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model

from market.db import OneConnectionClient, using

M = TypeVar("M", bound=Model)

_PLACEHOLDER = re.compile(r"\$\d+")


class Statement:
    """One statement, written with PostgreSQL's `$1, $2, ...` (each used once, in order); a
    `{alias}` in it stands for every column of the model given for that alias:

        Statement("SELECT {l}, {o} FROM listing l JOIN organization o ON ...",
                  l=Listing, o=Organization)

    The columns are filled in on first use: the models know their foreign-key columns only
    once Tortoise is initialised, after the modules that hold statements are imported. `parts`
    fills other `{name}`s with fixed SQL of the caller's (a WHERE clause chosen from a few). A
    model given with names, `d=(ContractDocument, ("number", "kind"))`, gives those columns
    only (read them with `values`, or `build` with the same names)."""

    def __init__(
        self,
        template: str,
        parts: Mapping[str, str] | None = None,
        **models: type[Model] | tuple[type[Model], Sequence[str]],
    ) -> None:
        self._template = template
        self._parts = dict(parts or {})
        self._models = models
        self._text: dict[str, str] = {}

    def _make(self) -> str:
        made = {}
        for alias, model in self._models.items():
            if isinstance(model, tuple):
                made[alias] = columns(model[0], alias, model[1])
            else:
                made[alias] = columns(model, alias)
        return self._template.format(**self._parts, **made)

    async def fetch(self, values: list[Any]) -> Sequence[Mapping[str, Any]]:
        """The rows (read-only mappings), from the default connection, whichever database that
        is: inside a unit of work, its transaction's."""
        conn = Tortoise.get_connection("default")
        dialect = conn.capabilities.dialect
        text = self._text.get(dialect)
        if text is None:
            text = self._make()
            if dialect != "postgres":
                text = _PLACEHOLDER.sub("?", text)
            self._text[dialect] = text
        # Outside a transaction, straight to asyncpg (the request's connection, else the
        # pool): Tortoise's path around the same call (its loop check, connection wrapper,
        # exception translation and a dict per row) cost more CPU than the statement itself on
        # a listing page. Inside one, the transaction's own connection, through Tortoise.
        if isinstance(conn, OneConnectionClient) and conn._pool is not None:
            return await from_pool(conn._pool, text, values)
        if dialect != "postgres":
            # Tortoise keeps UUIDs as text on SQLite, and sqlite3 binds no UUID.
            values = [str(v) if isinstance(v, UUID) else v for v in values]
        return await conn.execute_query_dict(text, values)


async def from_pool(pool: asyncpg.Pool, text: str, values: list[Any]) -> list[asyncpg.Record]:
    """One statement on the request's connection (market/db.py), else on one from the pool;
    its errors as Tortoise's (what callers catch)."""
    try:
        async with using(pool) as connection:
            if connection is not None:
                return await connection.fetch(text, *values)
        return await pool.fetch(text, *values)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(exc) from exc
    except asyncpg.PostgresError as exc:
        raise OperationalError(exc) from exc


def columns(model: type[Model], alias: str, names: Sequence[str] | None = None) -> str:
    """`alias.col AS "alias__col", ...` for every column of the model, or the named fields'."""
    if names is None:
        chosen = _db_columns(model)
    else:
        chosen = [model._meta.fields_db_projection[name] for name in names]
    return ", ".join(f'{alias}."{c}" AS "{alias}__{c}"' for c in chosen)


def values(model: type[Model], row: dict[str, Any], alias: str, names: Sequence[str]) -> dict:
    """The named fields of a row, as the ORM's `.values(*names)` gives them."""
    fields = model._meta.fields_map
    return {n: fields[n].to_python_value(row[f"{alias}__{n}"]) for n in names}


def build(
    model: type[M], row: Mapping[str, Any], alias: str, names: Sequence[str] | None = None
) -> M | None:
    """The model object for the `alias__` columns of a row; None where an outer join found none.
    With `names` (the statement read only those fields: `l=(Listing, names)`), a partial object
    holding just them, as the ORM's `.only(*names)` gives: a page that shows a listing's title
    need not read, send and decode its description and eight JSON lists (on the listings index
    that was half of the page's CPU)."""
    if names is not None:
        return _partial(model, row, alias, names)
    pk, keys = _keys(model, alias)
    if row[pk] is None:
        return None
    return model._init_from_db(**{column: row[key] for key, column in keys})


def _partial(model: type[M], row: Mapping[str, Any], alias: str, names: Sequence[str]) -> M | None:
    pk, custom_pk, fields = _partial_keys(model, alias, tuple(names))
    if row[pk] is None:
        return None
    made = model.__new__(model)
    put = object.__setattr__  # as `_init_from_db` does: no `__setattr__` bookkeeping per field
    put(made, "_partial", True)
    put(made, "_saved_in_db", True)
    put(made, "_custom_generated_pk", custom_pk)
    put(made, "_await_when_save", {})
    for key, name, convert in fields:
        value = row[key]
        put(made, name, value if convert is None else convert(value))
    return made


_PARTIAL_KEYS: dict[tuple[type[Model], str, tuple[str, ...]], tuple[str, bool, list[Any]]] = {}


def _nullable(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _partial_keys(
    model: type[Model], alias: str, names: tuple[str, ...]
) -> tuple[str, bool, list[tuple[str, str, Any]]]:
    """(row key of the primary key, whether the key is ours rather than the database's,
    [(row key, field name, converter or None)]), once per model, alias and names; the
    converters are those `_init_from_db` applies."""
    found = _PARTIAL_KEYS.get((model, alias, names))
    if found is None:
        meta = model._meta
        if meta.pk_attr not in names:
            raise ValueError(f"a partial {model.__name__} needs its primary key among {names}")
        native = {key for key, _, _ in meta.db_native_fields}
        default = {key: field.field_type for key, _, field in meta.db_default_fields}
        fields = []
        for name in names:
            column = meta.fields_db_projection[name]
            if column in native:
                convert = None
            elif column in default:
                convert = _nullable(default[column])
            else:
                convert = meta.fields_map[name].to_python_value
            fields.append((f"{alias}__{column}", name, convert))
        custom_pk = meta.db_pk_column not in meta.generated_db_fields
        found = (f"{alias}__{meta.db_pk_column}", custom_pk, fields)
        _PARTIAL_KEYS[(model, alias, names)] = found
    return found


_KEYS: dict[tuple[type[Model], str], tuple[str, list[tuple[str, str]]]] = {}


def _keys(model: type[Model], alias: str) -> tuple[str, list[tuple[str, str]]]:
    """The row's key of the primary key, and (row key, column) of every column: worked out once
    per model and alias, not for every row of every page."""
    found = _KEYS.get((model, alias))
    if found is None:
        prefix = f"{alias}__"
        found = (
            prefix + model._meta.db_pk_column,
            [(prefix + column, column) for column in _db_columns(model)],
        )
        _KEYS[(model, alias)] = found
    return found


def _db_columns(model: type[Model]) -> list[str]:
    return sorted(model._meta.db_fields)
