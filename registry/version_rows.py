"""Writing a new version's rows: the model's version counter, the version, its tags, and the
companion rows the registration port asks for (registry/ports.py: the artifact pipeline's manifest,
validation job and outbox message).

On PostgreSQL all of them go in one prepared statement (data-modifying CTEs), instead of the six
ORM round trips, each compiled in Python, that the version create otherwise costs. Elsewhere (the
embedded SQLite default) the ORM writes them one by one. Both write the same rows: the values come
from the same unsaved model instances, through the same field methods an ORM INSERT uses
(`pre_save`, `get_db_prep_save`), so defaults, auto_now and JSON encoding cannot drift apart.
The statement is built from the companions' models and links, never from their app's names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import connection
from django.db.models import Field, Model

from config.prepared import PreparedStatement, saved_mark
from registry.models import ModelVersion, ModelVersionTag, RegisteredModel
from registry.ports import Companion


@dataclass
class NewVersionRows:
    """The unsaved rows of one version create; `version_rows_insert` gives them their ids."""

    model: RegisteredModel
    version: ModelVersion
    tags: dict[str, str]
    companions: tuple[Companion, ...] = ()


def _insert_fields(model_class: type[Model], *, linked: str | None = None) -> list[Field]:
    """The columns an ORM INSERT of `model_class` writes: all but the auto primary key and `linked`.

    `linked` is the foreign key that points at a row inserted by the same statement.
    """
    return [
        f
        for f in model_class._meta.concrete_fields
        if f is not model_class._meta.auto_field and f.name != linked
    ]


@functools.cache
def _version_columns() -> tuple[list[Field], list[Field]]:
    return _insert_fields(ModelVersion), _insert_fields(ModelVersionTag, linked="version")


@functools.cache
def _companion_columns(model_class: type[Model], link: str) -> list[Field]:
    return _insert_fields(model_class, linked=link)


def _cast_type(field: Field) -> str:
    # varchar(n) without its length: an explicit CAST would silently cut an over-long value,
    # whereas storing a text value into the varchar(n) column refuses it, as the ORM's INSERT does.
    db_type = field.db_type(connection) or "text"
    return "text" if db_type.startswith("varchar") else db_type


class _Placeholders:
    """Numbers $n placeholders across the whole statement, each with its explicit type."""

    def __init__(self) -> None:
        self.count = 0

    def cast(self, sql_type: str) -> str:
        self.count += 1
        return f"CAST(${self.count} AS {sql_type})"

    def row(self, fields: list[Field]) -> str:
        return ", ".join(self.cast(_cast_type(f)) for f in fields)


def _column_list(fields: list[Field], linked: Field | None = None) -> str:
    qn = connection.ops.quote_name
    return ", ".join(qn(f.column) for f in ([linked] if linked else []) + fields)


Shape = tuple[tuple[type[Model], str, int | None], ...]


def _insert_sql(shape: Shape) -> str:
    qn = connection.ops.quote_name
    p = _Placeholders()
    model_table = qn(RegisteredModel._meta.db_table)
    counter = qn(RegisteredModel._meta.get_field("last_version_number").column)
    updated = qn(RegisteredModel._meta.get_field("updated_at").column)
    model_update = (
        f"UPDATE {model_table} SET {counter} = {p.cast('integer')}, {updated} = {p.cast('timestamp with time zone')} "
        f"WHERE {qn(RegisteredModel._meta.pk.column)} = {p.cast('bigint')}"
    )
    version_fields, tag_fields = _version_columns()
    version_insert = (
        f"INSERT INTO {qn(ModelVersion._meta.db_table)} ({_column_list(version_fields)}) "
        f"VALUES ({p.row(version_fields)}) RETURNING {qn(ModelVersion._meta.pk.column)}"
    )
    if {f.name for f in tag_fields} != {"key", "value"}:
        raise RuntimeError("ModelVersionTag gained a column: teach version_rows to write it")
    tag_version = ModelVersionTag._meta.get_field("version")
    tag_insert = (
        f"INSERT INTO {qn(ModelVersionTag._meta.db_table)} ({_column_list(tag_fields, tag_version)}) "
        f"SELECT v.id, tag.{qn(tag_fields[0].column)}, tag.{qn(tag_fields[1].column)} FROM v, "
        f"unnest({p.cast('text[]')}, {p.cast('text[]')}) AS tag({_column_list(tag_fields)})"
    )
    ctes = [f"m AS ({model_update})", f"v AS ({version_insert})", f"t AS ({tag_insert})"]
    for index, (model_class, link, link_to) in enumerate(shape):
        fields = _companion_columns(model_class, link)
        source = "v" if link_to is None else f"c{link_to}"
        ctes.append(
            f"c{index} AS (INSERT INTO {qn(model_class._meta.db_table)} "
            f"({_column_list(fields, model_class._meta.get_field(link))}) "
            f"SELECT {source}.id, {p.row(fields)} FROM {source} RETURNING {qn(model_class._meta.pk.column)})"
        )
    # Every data-modifying CTE runs exactly once whether or not it is referenced; foreign keys
    # are checked at commit (Django creates them DEFERRABLE INITIALLY DEFERRED).
    ids = ", ".join(["v.id", *(f"c{i}.id" for i in range(len(shape)))])
    sources = ", ".join(["v", *(f"c{i}" for i in range(len(shape)))])
    return f"WITH {', '.join(ctes)} SELECT {ids} FROM {sources}"


# No parameter types: each placeholder is typed by its CAST, which also serves the unprepared
# text (QUORUM_PREPARED_READS=false), where psycopg2 sends untyped literals. One statement per
# shape of companions (in practice one).
_STATEMENTS: dict[Shape, PreparedStatement] = {}


def _statement(shape: Shape) -> PreparedStatement:
    found = _STATEMENTS.get(shape)
    if found is None:
        name = "quorum_write_version_rows" + (f"_{len(_STATEMENTS)}" if _STATEMENTS else "")
        found = _STATEMENTS[shape] = PreparedStatement(name, (), lambda: _insert_sql(shape))
    return found


def _values(instance: Model, fields: list[Field]) -> list:
    # What SQLInsertCompiler sends for each field: pre_save applies auto_now(_add) to the instance.
    return [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]


def version_rows_insert(rows: NewVersionRows) -> None:
    """Write the version create's rows in the current transaction, and set their ids.

    The model row must be locked by the caller: the counter it writes is the version's number.
    """
    if connection.vendor != "postgresql":
        _rows_insert_orm(rows)
        return
    model, version = rows.model, rows.version
    shape: Shape = tuple((type(c.row), c.link, c.link_to) for c in rows.companions)
    params = [model.last_version_number, model.updated_at, model.pk]
    version_fields, _ = _version_columns()
    params += _values(version, version_fields)
    params += [list(rows.tags), list(rows.tags.values())]
    for companion in rows.companions:
        params += _values(companion.row, _companion_columns(type(companion.row), companion.link))
    version_id, *companion_ids = _statement(shape).fetchall(params)[0]
    saved_mark(version, version_id)
    for companion, pk in zip(rows.companions, companion_ids, strict=True):
        setattr(companion.row, companion.link, _linked(rows, companion))
        saved_mark(companion.row, pk)


def _linked(rows: NewVersionRows, companion: Companion) -> Model:
    return rows.version if companion.link_to is None else rows.companions[companion.link_to].row


def _rows_insert_orm(rows: NewVersionRows) -> None:
    RegisteredModel.objects.filter(pk=rows.model.pk).update(
        last_version_number=rows.model.last_version_number, updated_at=rows.model.updated_at
    )
    rows.version.save(force_insert=True)
    if rows.tags:
        ModelVersionTag.objects.bulk_create(
            [ModelVersionTag(version=rows.version, key=k, value=v) for k, v in rows.tags.items()]
        )
    # Saved in order: each save takes the id its related row got from the save before it.
    for companion in rows.companions:
        setattr(companion.row, companion.link, _linked(rows, companion))
        companion.row.save(force_insert=True)
