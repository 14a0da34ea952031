"""The serving-path version reads (`models:/name@alias`, `models:/name/3`) as one prepared statement.

One statement answers visibility (the same grants as `selectors.registered_model_named_visible_to`:
READ or MANAGE on the model, directly or through a team; superusers see everything), the version,
its creator's username, tags and aliases. It is prepared once per connection (config/prepared.py),
so PostgreSQL neither re-plans it nor do we pay the ORM's query building per request; every call
still reads the database, so a moved alias is never served stale.

A miss (hidden or missing model, missing alias or version) returns None: the caller then takes the
ORM path, which says precisely what is missing and costs the same for hidden and missing models.
"""

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import QuerySet
from guardian.models import GroupObjectPermission, UserObjectPermission

from accounts.models import User
from config.prepared import PreparedStatement
from registry.models import ModelAlias, ModelVersion, ModelVersionTag, RegisteredModel

# The version's own columns, in model order, so rows become ModelVersion instances via from_db.
_VERSION_FIELDS = [field.attname for field in ModelVersion._meta.concrete_fields]


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _version_sql(by_alias: bool) -> str:
    qn = connection.ops.quote_name
    version_columns = ", ".join(f"v.{qn(field.column)}" for field in ModelVersion._meta.concrete_fields)
    model, version, alias, tag = (
        _table(RegisteredModel),
        _table(ModelVersion),
        _table(ModelAlias),
        _table(ModelVersionTag),
    )
    memberships = _table(User.groups.through)
    if by_alias:
        target = (
            f"JOIN {alias} a ON a.model_id = m.id AND a.alias = $3 JOIN {version} v ON v.id = a.version_id"
        )
    else:
        target = f"JOIN {version} v ON v.model_id = m.id AND v.version = $3"
    return f"""
SELECT {version_columns}, m.name, u.{qn(User.USERNAME_FIELD)},
    ARRAY(SELECT t.key FROM {tag} t WHERE t.version_id = v.id ORDER BY t.key),
    ARRAY(SELECT t.value FROM {tag} t WHERE t.version_id = v.id ORDER BY t.key),
    ARRAY(SELECT x.alias FROM {alias} x WHERE x.version_id = v.id ORDER BY x.alias)
FROM {model} m
{target}
LEFT JOIN {_table(User)} u ON u.id = v.creator_id
WHERE m.name = $2 AND (
    $4
    OR EXISTS (
        SELECT 1 FROM {_table(UserObjectPermission)} g JOIN {_table(Permission)} p ON p.id = g.permission_id
        WHERE g.user_id = $1 AND g.content_type_id = $5 AND g.object_pk = m.id::varchar
            AND p.codename = ANY($6)
    )
    OR EXISTS (
        SELECT 1 FROM {_table(GroupObjectPermission)} g
            JOIN {memberships} ug ON ug.group_id = g.group_id
            JOIN {_table(Permission)} p ON p.id = g.permission_id
        WHERE ug.user_id = $1 AND g.content_type_id = $5 AND g.object_pk = m.id::varchar
            AND p.codename = ANY($6)
    )
)
"""


# $3 is the alias (text) or the version number: bigint, so a number beyond 32 bits from a native
# route's URL finds nothing (a 404) instead of failing the cast (a 500).
_PARAMS = ["bigint", "text", None, "boolean", "integer", "text[]"]
VERSION_BY_ALIAS = PreparedStatement(
    "quorum_version_by_alias", [t or "text" for t in _PARAMS], lambda: _version_sql(by_alias=True)
)
VERSION_BY_NUMBER = PreparedStatement(
    "quorum_version_by_number", [t or "bigint" for t in _PARAMS], lambda: _version_sql(by_alias=False)
)


def with_prefetched(instance, related_name: str, rows: list) -> None:
    # What prefetch_related leaves behind: the related manager's .all() answers from these rows.
    # A bare queryset: building the manager's filtered one cost more than the rest of the answer.
    queryset = QuerySet(model=instance._meta.get_field(related_name).related_model)
    queryset._result_cache = rows
    queryset._prefetch_done = True
    instance._prefetched_objects_cache[related_name] = queryset


def _version_from_row(row: tuple) -> ModelVersion:
    count = len(_VERSION_FIELDS)
    version = ModelVersion.from_db(connection.alias, _VERSION_FIELDS, row[:count])
    name, username, tag_keys, tag_values, aliases = row[count:]
    version.model = RegisteredModel.from_db(connection.alias, ["id", "name"], [version.model_id, name])
    if version.creator_id is not None:
        version.creator = User.from_db(
            connection.alias, ["id", User.USERNAME_FIELD], [version.creator_id, username]
        )
    version._prefetched_objects_cache = {}
    with_prefetched(
        version,
        "tags",
        [
            ModelVersionTag(version_id=version.pk, key=k, value=v)
            for k, v in zip(tag_keys, tag_values, strict=True)
        ],
    )
    with_prefetched(
        version,
        "aliases",
        [ModelAlias(model_id=version.model_id, version_id=version.pk, alias=a) for a in aliases],
    )
    return version


def _visibility_params(user) -> tuple[bool, int, list[str]] | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    from registry.selectors import VIEW_PERMS  # the one list of codenames that grant reading

    content_type = ContentType.objects.get_for_model(RegisteredModel)
    return user.is_superuser, content_type.pk, [perm.partition(".")[2] for perm in VIEW_PERMS]


def _one(statement: PreparedStatement, user, name: str, key) -> ModelVersion | None:
    visibility = _visibility_params(user)
    if visibility is None:
        return None
    is_superuser, content_type_id, codenames = visibility
    rows = statement.fetchall([user.pk, name, key, is_superuser, content_type_id, codenames])
    return _version_from_row(rows[0]) if rows else None


def version_by_alias(user, name: str, alias: str) -> ModelVersion | None:
    """The version `alias` of a model visible to `user` points at, or None."""
    return _one(VERSION_BY_ALIAS, user, name, alias)


BIGINT_MAX = 2**63 - 1


def version_by_number(user, name: str, version: int) -> ModelVersion | None:
    """Version `version` of a model visible to `user`, or None."""
    if not 0 < version <= BIGINT_MAX:  # no such version; and the parameter could not even be cast
        return None
    return _one(VERSION_BY_NUMBER, user, name, version)
