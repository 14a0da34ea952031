"""Writing a new version's rows: the version, its tags, its manifest, its validation job and outbox
message, and the model's version counter.

On PostgreSQL all of them go in one prepared statement (data-modifying CTEs), instead of the six
ORM round trips, each compiled in Python, that the version create otherwise costs. Elsewhere (the
embedded SQLite default) the ORM writes them one by one. Both write the same rows: the values come
from the same unsaved model instances, through the same field methods an ORM INSERT uses
(`pre_save`, `get_db_prep_save`), so defaults, auto_now and JSON encoding cannot drift apart.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import connection
from django.db.models import Field, Model

from config.prepared import PreparedStatement
from registry.artifacts.models import ArtifactJob, ArtifactManifest, OutboxMessage
from registry.models import ModelVersion, ModelVersionTag, RegisteredModel


@dataclass
class NewVersionRows:
    """The unsaved rows of one version create; `version_rows_insert` gives them their ids."""

    model: RegisteredModel
    version: ModelVersion
    tags: dict[str, str]
    manifest: ArtifactManifest
    job: ArtifactJob
    message: OutboxMessage


def _insert_fields(model_class: type[Model], *, linked: str | None = None) -> list[Field]:
    """The columns an ORM INSERT of `model_class` writes: all but the auto primary key and `linked`.

    `linked` is the foreign key that points at a row inserted by the same statement.
    """
    return [
        f
        for f in model_class._meta.concrete_fields
        if f is not model_class._meta.auto_field and f.name != linked
    ]


@dataclass(frozen=True)
class _Columns:
    """Each table's inserted columns, in the one order the statement and its parameters share."""

    version: list[Field]
    tag: list[Field]
    manifest: list[Field]
    job: list[Field]
    message: list[Field]


@functools.cache
def _columns() -> _Columns:
    return _Columns(
        version=_insert_fields(ModelVersion),
        tag=_insert_fields(ModelVersionTag, linked="version"),
        manifest=_insert_fields(ArtifactManifest, linked="version"),
        job=_insert_fields(ArtifactJob, linked="version"),
        message=_insert_fields(OutboxMessage, linked="job"),
    )


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


def _insert_sql() -> str:
    qn = connection.ops.quote_name
    p = _Placeholders()
    model_table = qn(RegisteredModel._meta.db_table)
    counter = qn(RegisteredModel._meta.get_field("last_version_number").column)
    updated = qn(RegisteredModel._meta.get_field("updated_at").column)
    model_update = (
        f"UPDATE {model_table} SET {counter} = {p.cast('integer')}, {updated} = {p.cast('timestamp with time zone')} "
        f"WHERE {qn(RegisteredModel._meta.pk.column)} = {p.cast('bigint')}"
    )
    version_fields = _columns().version
    version_insert = (
        f"INSERT INTO {qn(ModelVersion._meta.db_table)} ({_column_list(version_fields)}) "
        f"VALUES ({p.row(version_fields)}) RETURNING {qn(ModelVersion._meta.pk.column)}"
    )
    tag_fields = _columns().tag
    if {f.name for f in tag_fields} != {"key", "value"}:
        raise RuntimeError("ModelVersionTag gained a column: teach version_rows to write it")
    tag_version = ModelVersionTag._meta.get_field("version")
    tag_insert = (
        f"INSERT INTO {qn(ModelVersionTag._meta.db_table)} ({_column_list(tag_fields, tag_version)}) "
        f"SELECT v.id, tag.{qn(tag_fields[0].column)}, tag.{qn(tag_fields[1].column)} FROM v, "
        f"unnest({p.cast('text[]')}, {p.cast('text[]')}) AS tag({_column_list(tag_fields)})"
    )
    manifest_fields = _columns().manifest
    manifest_insert = (
        f"INSERT INTO {qn(ArtifactManifest._meta.db_table)} "
        f"({_column_list(manifest_fields, ArtifactManifest._meta.get_field('version'))}) "
        f"SELECT v.id, {p.row(manifest_fields)} FROM v RETURNING {qn(ArtifactManifest._meta.pk.column)}"
    )
    job_fields = _columns().job
    job_insert = (
        f"INSERT INTO {qn(ArtifactJob._meta.db_table)} "
        f"({_column_list(job_fields, ArtifactJob._meta.get_field('version'))}) "
        f"SELECT v.id, {p.row(job_fields)} FROM v RETURNING {qn(ArtifactJob._meta.pk.column)}"
    )
    message_fields = _columns().message
    message_insert = (
        f"INSERT INTO {qn(OutboxMessage._meta.db_table)} "
        f"({_column_list(message_fields, OutboxMessage._meta.get_field('job'))}) "
        f"SELECT j.id, {p.row(message_fields)} FROM j RETURNING {qn(OutboxMessage._meta.pk.column)}"
    )
    # Every data-modifying CTE runs exactly once whether or not it is referenced; foreign keys
    # are checked at commit (Django creates them DEFERRABLE INITIALLY DEFERRED).
    return (
        f"WITH m AS ({model_update}), v AS ({version_insert}), t AS ({tag_insert}), "
        f"a AS ({manifest_insert}), j AS ({job_insert}), o AS ({message_insert}) "
        "SELECT v.id, a.id, j.id, o.id FROM v, a, j, o"
    )


# No parameter types: each placeholder is typed by its CAST, which also serves the unprepared
# text (QUORUM_PREPARED_READS=false), where psycopg2 sends untyped literals.
_INSERT = PreparedStatement("quorum_write_version_rows", (), _insert_sql)


def _values(instance: Model, fields: list[Field]) -> list:
    # What SQLInsertCompiler sends for each field: pre_save applies auto_now(_add) to the instance.
    return [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]


def _saved(instance: Model, pk: int) -> None:
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


def version_rows_insert(rows: NewVersionRows) -> None:
    """Write the version create's rows in the current transaction, and set their ids.

    The model row must be locked by the caller: the counter it writes is the version's number.
    """
    if connection.vendor != "postgresql":
        _rows_insert_orm(rows)
        return
    model, version = rows.model, rows.version
    params = [model.last_version_number, model.updated_at, model.pk]
    columns = _columns()
    params += _values(version, columns.version)
    params += [list(rows.tags), list(rows.tags.values())]
    params += _values(rows.manifest, columns.manifest)
    params += _values(rows.job, columns.job)
    params += _values(rows.message, columns.message)
    version_id, manifest_id, job_id, message_id = _INSERT.fetchall(params)[0]
    _saved(version, version_id)
    rows.manifest.version = version
    _saved(rows.manifest, manifest_id)
    rows.job.version = version
    _saved(rows.job, job_id)
    rows.message.job = rows.job
    _saved(rows.message, message_id)


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
    for row in (rows.manifest, rows.job, rows.message):
        row.save(force_insert=True)
