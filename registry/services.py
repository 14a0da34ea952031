"""Every write to the registry: one function per domain operation, one transaction each.

Each function finds what it changes among what the actor may see (hidden == missing), locks
it, checks the actor's level, applies the rules, writes, and records the audit event.
"""

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm

import audit
from accounts.models import User
from accounts.permissions import (
    LEVEL_CODENAMES,
    MANAGE_CODENAME,
    Level,
    user_can,
    user_holds,
    user_holds_global,
)
from accounts.services import superuser_action_record
from audit.models import Action
from config.prepared import PreparedStatement
from registry import rules, tracking
from registry.artifacts import services as artifact_services
from registry.errors import (
    AlreadyExists,
    ApprovalRequired,
    InvalidParameter,
    NotFound,
    PermissionDenied,
)
from registry.hot_reads import with_prefetched
from registry.models import (
    AliasAssignment,
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
    VersionStatus,
)
from registry.selectors import model_uri_resolve, registered_models_visible_to
from registry.sources import is_registry_copy_source, source_validate
from registry.version_rows import NewVersionRows, version_rows_insert

# READ or MANAGE makes a model visible (registered_models_visible_to).
VIEW_CODENAMES = frozenset({LEVEL_CODENAMES[Level.READ], MANAGE_CODENAME})

LEVEL_NAMES = {
    Level.READ: "READ",
    Level.EDIT: "EDIT",
    Level.MANAGE: "MANAGE",
    Level.APPROVE_STAGING: "APPROVE_STAGING",
    Level.APPROVE_PRODUCTION: "APPROVE_PRODUCTION",
}


def require_level(actor, level: Level, model: RegisteredModel, doing: str) -> None:
    if not user_can(actor, level, model):
        raise PermissionDenied(
            f"{doing} on registered model '{model.name}' needs the {LEVEL_NAMES[level]} permission "
            f"({LEVEL_CODENAMES[level]})."
        )
    if actor.is_superuser and not user_holds(actor, level, model):
        superuser_action_record(actor=actor, doing=doing, target=model, needed=LEVEL_CODENAMES[level])


def _model_lock_sql() -> str:
    """Lock the named model if `user` may see it, returning its row and every codename they hold on it.

    Grants are those of `registered_models_visible_to` and `user_can`: object grants to the user
    or one of their teams, and global grants to the user or a team, each object grant probed
    through the grant tables' (user|group, content type, object) indexes, so the cost does not
    grow with the number of models a user holds grants on. A model the user may not see is
    neither returned nor locked: hidden and missing cost the same and block no one.
    """
    qn = connection.ops.quote_name
    memberships = qn(User.groups.through._meta.db_table)
    object_pk = "CAST(m.id AS varchar(255))"
    grants = f"""
        SELECT g.permission_id FROM {qn(UserObjectPermission._meta.db_table)} g
        WHERE g.user_id = $1 AND g.content_type_id = $2 AND g.object_pk = {object_pk}
        UNION ALL
        SELECT g.permission_id FROM {qn(GroupObjectPermission._meta.db_table)} g
        JOIN {memberships} t ON t.group_id = g.group_id
        WHERE t.user_id = $1 AND g.content_type_id = $2 AND g.object_pk = {object_pk}
        UNION ALL
        SELECT u.permission_id FROM {qn(User.user_permissions.through._meta.db_table)} u WHERE u.user_id = $1
        UNION ALL
        SELECT gp.permission_id FROM {qn(Group.permissions.through._meta.db_table)} gp
        JOIN {memberships} t ON t.group_id = gp.group_id WHERE t.user_id = $1"""
    permission = qn(Permission._meta.db_table)
    aggregate = "string_agg" if connection.vendor == "postgresql" else "group_concat"
    view = ", ".join(f"'{codename}'" for codename in sorted(VIEW_CODENAMES))
    columns = ", ".join(f"m.{qn(f.column)}" for f in RegisteredModel._meta.concrete_fields)
    lock = " FOR UPDATE OF m" if connection.features.has_select_for_update_of else ""
    return f"""
SELECT {columns}, (
    SELECT {aggregate}(p.codename, ',') FROM {permission} p
    WHERE p.content_type_id = $2 AND p.id IN ({grants})
)
FROM {qn(RegisteredModel._meta.db_table)} m
WHERE m.name = $3 AND EXISTS (
    SELECT 1 FROM {permission} p
    WHERE p.content_type_id = $2 AND p.codename IN ({view}) AND p.id IN ({grants})
){lock}"""


# On PostgreSQL prepared once per connection: planning it cost more than running it.
_MODEL_LOCK = PreparedStatement("quorum_write_model_lock", ("bigint", "integer", "text"), _model_lock_sql)


def _visible_model_lock(actor, name: str) -> tuple[RegisteredModel | None, set[str]]:
    """The named model, locked, and the codenames the active non-superuser `actor` holds on it.

    (None, set()) when there is no such model or the actor may not see it.
    """
    content_type = ContentType.objects.get_for_model(RegisteredModel)  # cached after the first call
    rows = _MODEL_LOCK.fetchall([actor.pk, content_type.pk, name])
    if not rows:
        return None, set()
    *values, granted = rows[0]
    fields = RegisteredModel._meta.concrete_fields
    values = [_from_db(field, value) for field, value in zip(fields, values, strict=True)]
    model = RegisteredModel.from_db(connection.alias, [f.attname for f in fields], values)
    return model, set(granted.split(",")) if granted else set()


def _from_db(field, value):
    """A column's value as the ORM would hand it over (e.g. SQLite returns datetimes as text)."""
    column = field.get_col(field.model._meta.db_table)
    for convert in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
        value = convert(value, column, connection)
    return value


def registered_model_for_update(actor, name: str, level: Level, doing: str) -> RegisteredModel:
    """Lock a model the actor can see (else NotFound), then require `level` (else PermissionDenied)."""
    if actor is None or not actor.is_authenticated or not actor.is_active or actor.is_superuser:
        # Superusers see everything but their use of that power is audited (require_level);
        # anonymous and inactive callers see nothing.
        visible = registered_models_visible_to(actor).filter(name=name).values_list("pk", flat=True).first()
        if visible is None:
            raise NotFound(f"Registered Model with name={name} not found")
        model = RegisteredModel.objects.select_for_update().get(pk=visible)
        require_level(actor, level, model, doing)
        return model
    # The write path's permission check and lock in one statement (the guardian queryset, the
    # lock and user_can cost seven): SELECT ... FOR UPDATE serializes version numbering, alias
    # moves and stage changes per model.
    model, granted = _visible_model_lock(actor, name)
    if model is None:
        raise NotFound(f"Registered Model with name={name} not found")
    if LEVEL_CODENAMES[level] not in granted and MANAGE_CODENAME not in granted:
        raise PermissionDenied(
            f"{doing} on registered model '{model.name}' needs the {LEVEL_NAMES[level]} permission "
            f"({LEVEL_CODENAMES[level]})."
        )
    return model


def _version_lock_sql() -> str:
    """Lock a model's version by number; with it, where the alias named $3 points now (if any)."""
    qn = connection.ops.quote_name
    versions, aliases = qn(ModelVersion._meta.db_table), qn(ModelAlias._meta.db_table)
    columns = ", ".join(f"v.{qn(f.column)}" for f in ModelVersion._meta.concrete_fields)
    lock = " FOR UPDATE OF v" if connection.features.has_select_for_update_of else ""
    return f"""
SELECT {columns}, a.id, a.version_id, av.version
FROM {versions} v
LEFT JOIN {aliases} a ON a.model_id = v.model_id AND a.alias = $3
LEFT JOIN {versions} av ON av.id = a.version_id
WHERE v.model_id = $1 AND v.version = $2{lock}"""


# The number is bigint: callers may pass any integer (a native route's URL), and beyond 32 bits
# a version is missing, not an error.
_VERSION_LOCK = PreparedStatement(
    "quorum_write_version_lock", ("bigint", "bigint", "text"), _version_lock_sql
)


def _version_and_alias_for_update(
    model: RegisteredModel, version: int, alias: str | None = None
) -> tuple[ModelVersion, tuple[int, int, int] | None]:
    """The locked version (else NotFound) and `alias`'s current (row id, version id, number) or None."""
    # Not even sent when no bigint could hold it (a native route's URL takes any integer).
    rows = _VERSION_LOCK.fetchall([model.pk, version, alias]) if 0 < version < 2**63 else []
    if not rows:
        raise NotFound(f"Model Version (name={model.name}, version={version}) not found")
    *values, alias_pk, alias_version_id, alias_number = rows[0]
    fields = ModelVersion._meta.concrete_fields
    values = [_from_db(field, value) for field, value in zip(fields, values, strict=True)]
    row = ModelVersion.from_db(connection.alias, [f.attname for f in fields], values)
    row.model = model  # already at hand (and locked): str(row) and row.model.name cost no query
    return row, (alias_pk, alias_version_id, alias_number) if alias_pk is not None else None


def _version_for_update(model: RegisteredModel, version: int) -> ModelVersion:
    return _version_and_alias_for_update(model, version)[0]


def _touch(model: RegisteredModel) -> None:
    RegisteredModel.objects.filter(pk=model.pk).update(updated_at=timezone.now())


def _tags_validated(tags: list[dict] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for index, tag in enumerate(tags or []):
        if not isinstance(tag, dict):
            raise InvalidParameter("Each tag must be an object with 'key' and 'value'.", field="tags")
        try:
            key, value = rules.validate_tag(tag.get("key"), tag.get("value"))
        except InvalidParameter as exc:
            # Point at the offending entry ("tags.2.key"), not just "key".
            raise InvalidParameter(exc.message, field=f"tags.{index}.{exc.field}")
        result[key] = value
    return result


# --- Registered models -------------------------------------------------------------------


@transaction.atomic
def registered_model_create(
    *, actor, name: str, description: str = "", tags: list[dict] | None = None
) -> RegisteredModel:
    rules.validate_model_name(name)
    description = rules.validate_description(description)
    tag_values = _tags_validated(tags)
    if not (actor.is_superuser or actor.has_perm("registry.add_registeredmodel")):
        raise PermissionDenied(
            "Creating registered models needs the global 'registry.add_registeredmodel' permission."
        )
    if actor.is_superuser and not user_holds_global(actor, "registry.add_registeredmodel"):
        superuser_action_record(
            actor=actor, doing="Creating a registered model", target=None, needed="add_registeredmodel"
        )
    if RegisteredModel.objects.filter(name=name).exists():
        raise AlreadyExists(f"Registered Model (name={name}) already exists.")
    try:
        with transaction.atomic():
            model = RegisteredModel.objects.create(name=name, description=description, creator=actor)
    except IntegrityError:
        raise AlreadyExists(f"Registered Model (name={name}) already exists.")
    RegisteredModelTag.objects.bulk_create(
        [RegisteredModelTag(model=model, key=k, value=v) for k, v in tag_values.items()]
    )
    # Whoever creates a model manages it.
    assign_perm(LEVEL_CODENAMES[Level.MANAGE], actor, model)
    audit.record(
        actor=actor,
        action=Action.MODEL_CREATED,
        target=model,
        model_name=name,
        after={"name": name, "description": description, "tags": tag_values},
    )
    return model


@transaction.atomic
def registered_model_rename(*, actor, name: str, new_name: str) -> RegisteredModel:
    rules.validate_model_name(new_name, field="new_name")
    model = registered_model_for_update(actor, name, Level.MANAGE, "Renaming")
    if new_name == name:
        return model
    if RegisteredModel.objects.filter(name=new_name).exists():
        raise AlreadyExists(f"Registered Model (name={new_name}) already exists.")
    model.name = new_name
    model.save(update_fields=["name", "updated_at"])
    audit.record(
        actor=actor,
        action=Action.MODEL_RENAMED,
        target=model,
        model_name=new_name,
        before={"name": name},
        after={"name": new_name},
    )
    return model


@transaction.atomic
def registered_model_update(*, actor, name: str, description: str | None) -> RegisteredModel:
    model = registered_model_for_update(actor, name, Level.EDIT, "Editing the description")
    if description is None:
        return model
    description = rules.validate_description(description)
    before = model.description
    model.description = description
    model.save(update_fields=["description", "updated_at"])
    audit.record(
        actor=actor,
        action=Action.MODEL_UPDATED,
        target=model,
        model_name=name,
        before={"description": before},
        after={"description": description},
    )
    return model


@transaction.atomic
def registered_model_delete(*, actor, name: str) -> None:
    model = registered_model_for_update(actor, name, Level.MANAGE, "Deleting")
    summary = {
        "versions": list(model.versions.order_by("version").values_list("version", flat=True)),
        "aliases": dict(model.aliases.values_list("alias", "version__version")),
    }
    now = timezone.now()
    AliasAssignment.objects.filter(model=model, cleared_at__isnull=True).update(cleared_at=now)
    audit.record(
        actor=actor,
        action=Action.MODEL_DELETED,
        target=model,
        model_name=name,
        before=summary,
    )
    content_type = ContentType.objects.get_for_model(RegisteredModel)
    UserObjectPermission.objects.filter(content_type=content_type, object_pk=str(model.pk)).delete()
    GroupObjectPermission.objects.filter(content_type=content_type, object_pk=str(model.pk)).delete()
    model.delete()


@transaction.atomic
def registered_model_tag_set(*, actor, name: str, key: str, value: str) -> RegisteredModelTag:
    key, value = rules.validate_tag(key, value)
    model = registered_model_for_update(actor, name, Level.EDIT, "Setting a tag")
    previous = RegisteredModelTag.objects.filter(model=model, key=key).first()
    tag, _ = RegisteredModelTag.objects.update_or_create(model=model, key=key, defaults={"value": value})
    _touch(model)
    audit.record(
        actor=actor,
        action=Action.MODEL_TAG_SET,
        target=model,
        model_name=name,
        before={key: previous.value} if previous else None,
        after={key: value},
    )
    return tag


@transaction.atomic
def registered_model_tag_delete(*, actor, name: str, key: str) -> None:
    model = registered_model_for_update(actor, name, Level.EDIT, "Deleting a tag")
    tag = RegisteredModelTag.objects.filter(model=model, key=key).first()
    if tag is None:
        raise NotFound(f"No tag with name: {key} in registered model '{name}'.")
    tag.delete()
    _touch(model)
    audit.record(
        actor=actor,
        action=Action.MODEL_TAG_DELETED,
        target=model,
        model_name=name,
        before={key: tag.value},
    )


# --- Model versions ----------------------------------------------------------------------


def model_version_create(
    *,
    actor,
    name: str,
    source: str,
    run_id: str = "",
    run_link: str = "",
    description: str = "",
    tags: list[dict] | None = None,
    model_id: str = "",
    storage_location: str = "",
) -> ModelVersion:
    """Register a version; `runs:/` and `models:/<id>` sources resolve via the tracking server."""
    # Only `runs:/` and `models:/` sources are resolved (tracking server or registry copy); for the
    # others the visibility and EDIT checks below would be paid twice per create for nothing.
    if not storage_location and isinstance(source, str) and source.startswith(("runs:/", "models:/")):
        source_validate(source, run_id=run_id if isinstance(run_id, str) else "")
        # Only callers who may create the version make Quorum call out; the others get their
        # NotFound / PermissionDenied from the locked check below. Resolved before the
        # transaction: a slow tracking server must not hold the write lock.
        visible = registered_models_visible_to(actor).filter(name=name).first()
        if visible is not None and user_can(actor, Level.EDIT, visible):
            storage_location = _source_location(actor, source)
    return _model_version_create(
        actor=actor,
        name=name,
        source=source,
        run_id=run_id,
        run_link=run_link,
        description=description,
        tags=tags,
        model_id=model_id,
        storage_location=storage_location,
    )


def _source_location(actor, source: str) -> str:
    """Where a source's artifacts concretely are, or "" when the source itself says so."""
    if is_registry_copy_source(source):
        # A copy of a registered version (MlflowClient.copy_model_version): the caller must READ it.
        return model_uri_resolve(actor, source).download_uri
    return tracking.source_resolve(source)


@transaction.atomic
def _model_version_create(
    *,
    actor,
    name: str,
    source: str,
    run_id: str = "",
    run_link: str = "",
    description: str = "",
    tags: list[dict] | None = None,
    model_id: str = "",
    storage_location: str = "",
) -> ModelVersion:
    run_id = run_id or ""
    model_id = model_id or ""
    if not isinstance(run_id, str) or len(run_id) > 64:
        raise InvalidParameter(
            "Parameter 'run_id' must be a string of at most 64 characters.", field="run_id"
        )
    if not isinstance(model_id, str) or len(model_id) > 64:
        raise InvalidParameter(
            "Parameter 'model_id' must be a string of at most 64 characters.", field="model_id"
        )
    if not isinstance(run_link, str | None) or len(run_link or "") > 4000:
        raise InvalidParameter(
            "Parameter 'run_link' must be a string of at most 4000 characters.", field="run_link"
        )
    source_validate(source, run_id=run_id, model_id=model_id)
    description = rules.validate_description(description)
    tag_values = _tags_validated(tags)
    model = registered_model_for_update(actor, name, Level.EDIT, "Creating a model version")
    # The model row is locked and was read under the lock, so this number cannot race; the
    # counter never goes down.
    model.last_version_number += 1
    model.updated_at = timezone.now()
    version = ModelVersion(
        model=model,
        version=model.last_version_number,
        source=source,
        storage_location=storage_location,
        run_id=run_id,
        run_link=run_link or "",
        logged_model_id=model_id,
        description=description,
        # Validation (registry.artifacts) moves it to READY or FAILED_REGISTRATION after commit.
        status=VersionStatus.PENDING_REGISTRATION,
        creator=actor,
    )
    manifest, job, message = artifact_services.validation_rows_new(version=version, actor=actor)
    version_rows_insert(
        NewVersionRows(
            model=model, version=version, tags=tag_values, manifest=manifest, job=job, message=message
        )
    )
    artifact_services.outbox_publish_on_commit(message)
    # Last: on SQLite the audit append locks the chain head until commit (PostgreSQL seals at COMMIT).
    audit.record(
        actor=actor,
        action=Action.VERSION_CREATED,
        target=version,
        model_name=name,
        version=version.version,
        after={
            "source": source,
            "storage_location": storage_location,
            "run_id": run_id,
            "model_id": model_id,
            "tags": tag_values,
        },
    )
    # What a reader would get back, so the caller can answer without reading it (no aliases yet).
    version._prefetched_objects_cache = {}
    with_prefetched(
        version, "tags", [ModelVersionTag(version=version, key=k, value=v) for k, v in tag_values.items()]
    )
    with_prefetched(version, "aliases", [])
    return version


@transaction.atomic
def model_version_update(*, actor, name: str, version: int, description: str | None) -> ModelVersion:
    model = registered_model_for_update(actor, name, Level.EDIT, "Editing a version description")
    row = _version_for_update(model, version)
    if description is None:
        return row
    description = rules.validate_description(description)
    before = row.description
    row.description = description
    row.save(update_fields=["description", "updated_at"])
    audit.record(
        actor=actor,
        action=Action.VERSION_UPDATED,
        target=row,
        model_name=name,
        version=version,
        before={"description": before},
        after={"description": description},
    )
    return row


@transaction.atomic
def model_version_delete(*, actor, name: str, version: int) -> None:
    model = registered_model_for_update(actor, name, Level.MANAGE, "Deleting a model version")
    row = _version_for_update(model, version)
    aliases = list(row.aliases.values_list("alias", flat=True))
    AliasAssignment.objects.filter(model=model, alias__in=aliases, cleared_at__isnull=True).update(
        cleared_at=timezone.now()
    )
    audit.record(
        actor=actor,
        action=Action.VERSION_DELETED,
        target=row,
        model_name=name,
        version=version,
        before={"stage": row.stage, "aliases": aliases, "source": row.source},
    )
    row.delete()  # its aliases and tags go with it
    _touch(model)


@transaction.atomic
def model_version_tag_set(*, actor, name: str, version: int, key: str, value: str) -> ModelVersionTag:
    key, value = rules.validate_tag(key, value)
    model = registered_model_for_update(actor, name, Level.EDIT, "Setting a version tag")
    row = _version_for_update(model, version)
    previous = ModelVersionTag.objects.filter(version=row, key=key).first()
    tag, _ = ModelVersionTag.objects.update_or_create(version=row, key=key, defaults={"value": value})
    ModelVersion.objects.filter(pk=row.pk).update(updated_at=timezone.now())
    audit.record(
        actor=actor,
        action=Action.VERSION_TAG_SET,
        target=row,
        model_name=name,
        version=version,
        before={key: previous.value} if previous else None,
        after={key: value},
    )
    return tag


@transaction.atomic
def model_version_tag_delete(*, actor, name: str, version: int, key: str) -> None:
    model = registered_model_for_update(actor, name, Level.EDIT, "Deleting a version tag")
    row = _version_for_update(model, version)
    tag = ModelVersionTag.objects.filter(version=row, key=key).first()
    if tag is None:
        raise NotFound(f"No tag with name: {key} in model version '{name}' version {version}.")
    tag.delete()
    ModelVersion.objects.filter(pk=row.pk).update(updated_at=timezone.now())
    audit.record(
        actor=actor,
        action=Action.VERSION_TAG_DELETED,
        target=row,
        model_name=name,
        version=version,
        before={key: tag.value},
    )


def stage_apply(
    *,
    actor,
    model: RegisteredModel,
    row: ModelVersion,
    stage: Stage,
    archive_existing_versions: bool,
    reason: str = "",
) -> ModelVersion:
    """Move a locked version to `stage`, archiving others as MLflow does. Caller holds the model lock."""
    before = row.stage
    archived: list[int] = []
    for archived_stage in rules.stages_archived_by(stage, archive_existing_versions):
        others = ModelVersion.objects.filter(model=model, stage=archived_stage).exclude(pk=row.pk)
        archived = list(others.values_list("version", flat=True))
        others.update(stage=Stage.ARCHIVED, updated_at=timezone.now())
    row.stage = stage
    row.save(update_fields=["stage", "updated_at"])
    _touch(model)
    audit.record(
        actor=actor,
        action=Action.VERSION_STAGE_CHANGED,
        target=row,
        model_name=model.name,
        version=row.version,
        before={"stage": before},
        after={"stage": stage.value, "archived_versions": archived},
        reason=reason,
    )
    return row


def governed_direct_change_refuse(model: RegisteredModel, target_kind: str, target: str) -> None:
    """Refuse a direct set of a target a promotion policy governs: it needs an approved request."""
    from registry.workflows.rules import direct_change_refusal
    from registry.workflows.selectors import policy_governing

    refusal = direct_change_refusal(
        policy_governing(model, target_kind, target), target_kind, target, model.name
    )
    if refusal:
        raise ApprovalRequired(refusal)


def direct_transition_record(*, actor, version: ModelVersion, from_stage: str, to_stage: str) -> None:
    """Put a direct (ungoverned) stage or alias change on the version's timeline."""
    from registry.workflows.activity import activity_record
    from registry.workflows.models import ActivityType

    activity_record(
        version=version,
        activity_type=ActivityType.APPLIED_TRANSITION,
        user=actor,
        from_stage=from_stage,
        to_stage=to_stage,
        system_comment="Applied directly (target not governed).",
    )


@transaction.atomic
def model_version_stage_transition(
    *, actor, name: str, version: int, stage: str, archive_existing_versions: bool = False
) -> ModelVersion:
    target = rules.parse_stage(stage)
    model = registered_model_for_update(actor, name, Level.EDIT, "Changing a version's stage")
    row = _version_for_update(model, version)
    governed_direct_change_refuse(model, "stage", target.value)
    before = row.stage
    stage_apply(
        actor=actor, model=model, row=row, stage=target, archive_existing_versions=archive_existing_versions
    )
    direct_transition_record(actor=actor, version=row, from_stage=before, to_stage=target.value)
    return row


# --- Aliases -----------------------------------------------------------------------------


def alias_apply(
    *, actor, model: RegisteredModel, alias: str, row: ModelVersion, reason: str = ""
) -> ModelAlias:
    """Point `alias` at a locked version and keep the history. Caller holds the model lock."""
    return _alias_move(
        actor=actor, model=model, alias=alias, row=row, previous=_alias_current(model, alias), reason=reason
    )


def _alias_current(model: RegisteredModel, alias: str) -> tuple[int, int, int] | None:
    """(alias row id, version id, version number) the alias points at now, or None."""
    return (
        ModelAlias.objects.filter(model=model, alias=alias)
        .values_list("pk", "version_id", "version__version")
        .first()
    )


def _alias_move(
    *,
    actor,
    model: RegisteredModel,
    alias: str,
    row: ModelVersion,
    previous: tuple[int, int, int] | None,
    reason: str = "",
    before_audit=None,
) -> ModelAlias:
    """Move (or create) the alias from `previous`; `before_audit` runs just before the audit event.

    The model row is locked, so no other transaction changes this alias meanwhile: a plain UPDATE
    or INSERT replaces update_or_create (its SELECT ... FOR UPDATE and savepoints).
    """
    if previous is not None and previous[1] == row.pk:
        return ModelAlias.objects.get(pk=previous[0])
    now = timezone.now()
    AliasAssignment.objects.filter(model=model, alias=alias, cleared_at__isnull=True).update(cleared_at=now)
    AliasAssignment.objects.create(model=model, alias=alias, version_number=row.version, assigned_at=now)
    if previous is None:
        alias_row = ModelAlias.objects.create(model=model, alias=alias, version=row)
    else:
        ModelAlias.objects.filter(pk=previous[0]).update(version=row, updated_at=now)
        alias_row = ModelAlias(pk=previous[0], model=model, alias=alias, version=row, updated_at=now)
        alias_row._state.adding = False
    _touch(model)
    if before_audit is not None:
        before_audit()
    # Last: on SQLite the audit append locks the chain head until commit (PostgreSQL seals at COMMIT).
    audit.record(
        actor=actor,
        action=Action.ALIAS_SET,
        target=model,
        target_name=f"{model.name}@{alias}",
        model_name=model.name,
        version=row.version,
        before={"alias": alias, "version": previous[2] if previous else None},
        after={"alias": alias, "version": row.version},
        reason=reason,
    )
    return alias_row


@transaction.atomic
def alias_set(*, actor, name: str, alias: str, version: int) -> ModelAlias:
    rules.validate_alias(alias)
    model = registered_model_for_update(actor, name, Level.EDIT, "Setting an alias")
    row, previous = _version_and_alias_for_update(model, version, alias)
    governed_direct_change_refuse(model, "alias", alias)
    return _alias_move(
        actor=actor,
        model=model,
        alias=alias,
        row=row,
        previous=previous,
        before_audit=lambda: direct_transition_record(
            actor=actor, version=row, from_stage=row.stage, to_stage=f"@{alias}"
        ),
    )


@transaction.atomic
def alias_delete(*, actor, name: str, alias: str) -> None:
    model = registered_model_for_update(actor, name, Level.EDIT, "Deleting an alias")
    row = ModelAlias.objects.filter(model=model, alias=alias).select_related("version").first()
    if row is None:
        raise NotFound(f"Registered model alias {alias} not found.")
    from registry.workflows.selectors import policy_governing

    if policy_governing(model, "alias", alias) is not None:
        # Taking a governed alias such as @champion away changes what serves production: EDIT is
        # not enough, only a MANAGE holder may do it (and it is audited like every delete).
        require_level(actor, Level.MANAGE, model, f"Deleting the governed alias '{alias}'")
    AliasAssignment.objects.filter(model=model, alias=alias, cleared_at__isnull=True).update(
        cleared_at=timezone.now()
    )
    version_number = row.version.version
    row.delete()
    _touch(model)
    audit.record(
        actor=actor,
        action=Action.ALIAS_DELETED,
        target=model,
        target_name=f"{model.name}@{alias}",
        model_name=name,
        version=version_number,
        before={"alias": alias, "version": version_number},
    )
