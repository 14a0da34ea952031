"""Every write to the registry: one function per domain operation, one transaction each.

Each function finds what it changes among what the actor may see (hidden == missing), locks
it, checks the actor's level, applies the rules, writes, and publishes what happened as a typed
event (registry/events.py) in the same transaction; the audit trail records it (audit/recorders.py).
"""

import functools

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm

import events
from access.grants import (
    LEVEL_CODENAMES,
    ActorRef,
    HeldCodenames,
    Level,
    allowed_q,
    has_actor,
    held_parse,
    levels_from_codenames,
    user_can,
    user_holds,
    user_holds_global,
)
from config.prepared import PreparedQuery, prefetched_set, saved_mark
from registry import ports, prompts, rules, tracking
from registry.errors import (
    AlreadyExists,
    InvalidParameter,
    NotFound,
    PermissionDenied,
)
from registry.events import (
    AliasDeleted,
    AliasMoved,
    ModelCreated,
    ModelDeleted,
    ModelRenamed,
    ModelTagDeleted,
    ModelTagSet,
    ModelUpdated,
    StageChanged,
    SuperuserPowerUsed,
    VersionCreated,
    VersionDeleted,
    VersionTagDeleted,
    VersionTagSet,
    VersionUpdated,
)
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
from registry.selectors import model_uri_resolve, registered_models_allowed
from registry.sources import is_registry_copy_source, source_validate
from registry.version_rows import NewVersionRows, version_rows_insert


def _level_refused(model: RegisteredModel, level: Level, doing: str) -> PermissionDenied:
    return PermissionDenied(
        f"{doing} on registered model '{model.name}' needs the {level.value} permission "
        f"({LEVEL_CODENAMES[level]})."
    )


def require_level(actor, level: Level, model: RegisteredModel, doing: str) -> None:
    if not user_can(actor, level, model):
        raise _level_refused(model, level, doing)
    _superuser_power_audit(actor, level, model, doing)


def _superuser_power_audit(actor, level: Level, model: RegisteredModel, doing: str) -> None:
    """Say a superuser did what only their superuser status allows (no grant of their own)."""
    if getattr(actor, "is_superuser", False) and not user_holds(actor, level, model):
        _superuser_power_used(actor, doing, model, LEVEL_CODENAMES[level])


def _superuser_power_used(actor, doing: str, target: RegisteredModel | None, needed: str) -> None:
    # Its own atomic block: inside the caller's transaction it rolls back with the change; a caller
    # outside one (a read) still gets it recorded.
    with transaction.atomic():
        events.publish(SuperuserPowerUsed(actor=actor, doing=doing, target=target, needed=needed))


def _model_locked(actor_id: int, name: str) -> QuerySet[RegisteredModel]:
    """The named model if the actor may see it, locked, with the codenames they hold on it.

    The rule is asked about the model found by name (a one-time subquery), not about each row: with
    the row's own id PostgreSQL hashes every grant the actor holds to probe one model.
    """
    named = RegisteredModel.objects.filter(name=name)
    model_id = Subquery(named.values("pk")[:1])
    visible = named.filter(allowed_q(ActorRef(actor_id), Level.READ, model_id=model_id)).order_by()
    return visible.annotate(
        held=HeldCodenames(model_id, user_id=actor_id), is_prompt=prompts.is_prompt_annotation()
    ).select_for_update(of=("self",))


# The write path's permission check and lock in one statement, prepared once per connection
# (planning it cost more than running it): SELECT ... FOR UPDATE serializes version numbering,
# alias moves and stage changes per model. A model the actor may not see is neither returned nor
# locked: hidden and missing cost the same and block no one.
_MODEL_LOCK = PreparedQuery("quorum_write_model_lock", _model_locked, {"actor_id": "bigint", "name": "text"})


def registered_model_for_update(actor, name: str, level: Level, doing: str) -> RegisteredModel:
    """Lock a model the actor can see (else NotFound), then require `level` (else PermissionDenied)."""
    model = _MODEL_LOCK.first(actor_id=actor.pk, name=name) if has_actor(actor) else None
    if model is None:
        raise NotFound(f"Registered Model with name={name} not found")
    if not levels_from_codenames(held_parse(model.held), level):
        raise _level_refused(model, level, doing)
    _superuser_power_audit(actor, level, model, doing)
    return model


def _version_locked(model_id: int, version: int, alias: str | None) -> QuerySet[ModelVersion]:
    """A model's version by number, locked; with it, where the alias named `alias` points now (if any)."""
    current = ModelAlias.objects.filter(model_id=OuterRef("model_id"), alias=alias).order_by()
    return (
        # No ordering: one row by its unique key (the default ordering would join the model to sort).
        ModelVersion.objects.filter(model_id=model_id, version=version)
        .order_by()
        .annotate(
            alias_pk=Subquery(current.values("pk")[:1]),
            alias_version_id=Subquery(current.values("version_id")[:1]),
            alias_number=Subquery(current.values("version__version")[:1]),
        )
        .select_for_update(of=("self",))
    )


_VERSION_LOCK = PreparedQuery(
    "quorum_write_version_lock",
    _version_locked,
    {"model_id": "bigint", "version": "integer", "alias": "text"},
)


def _version_and_alias_for_update(
    model: RegisteredModel, version: int, alias: str | None = None
) -> tuple[ModelVersion, tuple[int, int, int] | None]:
    """The locked version (else NotFound) and `alias`'s current (row id, version id, number) or None."""
    # Not even sent when the integer column could not hold it (a native route's URL takes any integer).
    row = (
        _VERSION_LOCK.first(model_id=model.pk, version=version, alias=alias) if 0 < version < 2**31 else None
    )
    if row is None:
        raise NotFound(f"Model Version (name={model.name}, version={version}) not found")
    row.model = model  # already at hand (and locked): str(row) and row.model.name cost no query
    current = (row.alias_pk, row.alias_version_id, row.alias_number) if row.alias_pk is not None else None
    return row, current


def model_version_for_update(model: RegisteredModel, version: int) -> ModelVersion:
    """A version of a model the caller locked (registered_model_for_update), locked too; else NotFound."""
    return _version_and_alias_for_update(model, version)[0]


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
    tag_values = prompts.tags_canonical(_tags_validated(tags))
    if not (actor.is_superuser or actor.has_perm("registry.add_registeredmodel")):
        raise PermissionDenied(
            "Creating registered models needs the global 'registry.add_registeredmodel' permission."
        )
    if actor.is_superuser and not user_holds_global(actor, "registry.add_registeredmodel"):
        _superuser_power_used(actor, "Creating a registered model", None, "add_registeredmodel")
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
    model.is_prompt = prompts.tags_say_prompt(tag_values)
    events.publish(ModelCreated(actor=actor, model=model, tags=tag_values, prompt=model.is_prompt))
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
    events.publish(ModelRenamed(actor=actor, model=model, previous_name=name))
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
    events.publish(ModelUpdated(actor=actor, model=model, previous_description=before))
    return model


def _governed_holdings_check(
    actor, model: RegisteredModel, rows: list[tuple[int, str]], aliases: list[tuple[str, int]], doing: str
) -> None:
    """Refuse `doing` while a version holds a governed stage or alias: leaving it needs a request."""
    for number, stage in rows:
        if stage != Stage.NONE:
            ports.leave_check(
                model=model, target_kind="stage", target=stage, version=number, doing=doing, actor=actor
            )
    for alias, number in aliases:
        ports.leave_check(
            model=model, target_kind="alias", target=alias, version=number, doing=doing, actor=actor
        )


@ports.refusals_recorded
def registered_model_delete(*, actor, name: str) -> None:
    model = registered_model_for_update(actor, name, Level.MANAGE, "Deleting")
    summary = {
        "versions": list(model.versions.order_by("version").values_list("version", flat=True)),
        "aliases": dict(model.aliases.values_list("alias", "version__version")),
    }
    doing = f"Deleting registered model '{name}'"
    ports.removal_check(model=model, version=None, doing=doing, actor=actor)
    _governed_holdings_check(
        actor,
        model,
        list(model.versions.order_by("version").values_list("version", "stage")),
        list(model.aliases.order_by("alias").values_list("alias", "version__version")),
        doing,
    )
    # Deleting the model would take its versions' governance history with it (requests, approvals,
    # evidence): a model with such history is never deleted, its versions are (as tombstones).
    kept = [
        row.version
        for row in ModelVersion.all_objects.filter(model=model)
        if ports.version_keeps_history(row)
    ]
    if kept:
        raise PermissionDenied(
            f"Registered model '{name}' cannot be deleted: version(s) {', '.join(map(str, sorted(kept)))} "
            "have a governance history (transition requests, approvals, evidence) that is never deleted. "
            "Archive or delete its versions instead; deleted ones are kept as tombstones."
        )
    now = timezone.now()
    AliasAssignment.objects.filter(model=model, cleared_at__isnull=True).update(cleared_at=now)
    events.publish(
        ModelDeleted(actor=actor, model=model, versions=summary["versions"], aliases=summary["aliases"])
    )
    content_type = ContentType.objects.get_for_model(RegisteredModel)
    UserObjectPermission.objects.filter(content_type=content_type, object_pk=str(model.pk)).delete()
    GroupObjectPermission.objects.filter(content_type=content_type, object_pk=str(model.pk)).delete()
    model.delete()


@transaction.atomic
def registered_model_tag_set(*, actor, name: str, key: str, value: str) -> RegisteredModelTag:
    key, value = rules.validate_tag(key, value)
    prompts.model_tag_change_check(key)
    model = registered_model_for_update(actor, name, Level.EDIT, "Setting a tag")
    previous = RegisteredModelTag.objects.filter(model=model, key=key).first()
    tag, _ = RegisteredModelTag.objects.update_or_create(model=model, key=key, defaults={"value": value})
    _touch(model)
    events.publish(
        ModelTagSet(
            actor=actor,
            model=model,
            key=key,
            value=value,
            previous=previous.value if previous else None,
            prompt=prompts.model_is_prompt(model),
        )
    )
    return tag


@transaction.atomic
def registered_model_tag_delete(*, actor, name: str, key: str) -> None:
    prompts.model_tag_change_check(key)
    model = registered_model_for_update(actor, name, Level.EDIT, "Deleting a tag")
    tag = RegisteredModelTag.objects.filter(model=model, key=key).first()
    if tag is None:
        raise NotFound(f"No tag with name: {key} in registered model '{name}'.")
    tag.delete()
    _touch(model)
    events.publish(
        ModelTagDeleted(
            actor=actor, model=model, key=key, value=tag.value, prompt=prompts.model_is_prompt(model)
        )
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
        if registered_models_allowed(actor, Level.EDIT).filter(name=name).exists():
            resolved = _source_location(actor, source)
            storage_location = resolved.location
            # MLflow's registry fills run_id from the logged model's source run when none was sent.
            run_id = run_id or resolved.source_run_id
    elif (
        (run_id or model_id)
        and isinstance(run_id, str)
        and isinstance(model_id, str)
        and tracking.tracking_uri()
    ):
        # The source check (artifacts, under the write lock) asks where this run's artifacts are:
        # asked here first, outside the lock, so a slow tracking server holds no one up.
        if registered_models_allowed(actor, Level.EDIT).filter(name=name).exists():
            tracking.lineage_root_prefetch(run_id=run_id, model_id=model_id)
    if not run_id and model_id and isinstance(model_id, str) and tracking.tracking_uri():
        # A logged model named by model_id alone (source elsewhere): its run, as MLflow fills it.
        if registered_models_allowed(actor, Level.EDIT).filter(name=name).exists():
            run_id = tracking.logged_model_source_run(model_id)
    version = _model_version_create(
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
    if version.logged_model_id and tracking.tracking_uri():
        # As MLflow's server does: the logged model lists the versions registered from it.
        transaction.on_commit(
            functools.partial(
                tracking.logged_model_versions_tag,
                model_id=version.logged_model_id,
                name=version.model.name,
                version=version.version,
            )
        )
    return version


def _source_location(actor, source: str) -> tracking.ResolvedSource:
    """Where a source's artifacts concretely are ("" when the source itself says so), and its run."""
    if is_registry_copy_source(source):
        # A copy of a registered version (MlflowClient.copy_model_version): the caller must READ it.
        copied = model_uri_resolve(actor, source)
        prompts.copy_source_check(source, source_is_prompt=prompts.model_is_prompt(copied.model))
        return tracking.ResolvedSource(copied.download_uri)
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
    tag_values = prompts.tags_canonical(_tags_validated(tags))
    is_prompt = prompts.tags_say_prompt(tag_values)
    if is_prompt:
        prompts.version_source_check(source)  # a prompt has no artifacts: nothing to read or scope
    else:
        source_validate(source, run_id=run_id, model_id=model_id)
    description = rules.validate_description(description)
    model = registered_model_for_update(actor, name, Level.EDIT, "Creating a model version")
    prompts.version_kind_check(
        name=name, model_is_prompt=prompts.model_is_prompt(model), version_is_prompt=is_prompt
    )
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
        # Validation (artifacts) moves it to READY or FAILED_REGISTRATION after commit; a prompt
        # version is its template (a tag written with it), complete at once as on MLflow's server.
        status=VersionStatus.READY if is_prompt else VersionStatus.PENDING_REGISTRATION,
        creator=actor,
    )
    if is_prompt:
        version_rows_insert(NewVersionRows(model=model, version=version, tags=tag_values, companions=()))
    else:
        # The artifact pipeline's rows (manifest, validation job, outbox message) commit with the version.
        registration = ports.registration()
        companions = tuple(registration.companions(version, actor))
        version_rows_insert(
            NewVersionRows(model=model, version=version, tags=tag_values, companions=companions)
        )
        registration.written(companions)
    # Last: the audit trail records it first among the subscribers (on SQLite the append locks the
    # chain head until commit; PostgreSQL seals at COMMIT).
    events.publish(VersionCreated(actor=actor, version=version, tags=tag_values, prompt=is_prompt))
    # What a reader would get back, so the caller can answer without reading it (no aliases yet).
    prefetched_set(
        version, "tags", [ModelVersionTag(version=version, key=k, value=v) for k, v in tag_values.items()]
    )
    prefetched_set(version, "aliases", [])
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
    events.publish(VersionUpdated(actor=actor, version=row, previous_description=before))
    return row


@ports.refusals_recorded
def model_version_delete(*, actor, name: str, version: int) -> None:
    """Delete a version; one with a governance history stays as a tombstone (hidden, never reused)."""
    model = registered_model_for_update(actor, name, Level.MANAGE, "Deleting a model version")
    row = _version_for_update(model, version)
    aliases = list(row.aliases.order_by("alias").values_list("alias", flat=True))
    doing = f"Deleting version {row.version} of '{name}'"
    ports.removal_check(model=model, version=row, doing=doing, actor=actor)
    _governed_holdings_check(
        actor, model, [(row.version, row.stage)], [(alias, row.version) for alias in aliases], doing
    )
    # Kept as a tombstone for its governance history, or until the purge finds its retention over.
    tombstone = ports.version_keeps_history(row) or ports.version_keeps_record(row)
    now = timezone.now()
    AliasAssignment.objects.filter(model=model, alias__in=aliases, cleared_at__isnull=True).update(
        cleared_at=now
    )
    events.publish(VersionDeleted(actor=actor, version=row, aliases=aliases, tombstone=tombstone))
    if tombstone:
        ModelAlias.objects.filter(version=row).delete()  # ungoverned ones (governed were refused above)
        row.deleted_at = now
        row.save(update_fields=["deleted_at", "updated_at"])
    else:
        row.delete()  # its aliases and tags go with it
    _touch(model)


def model_version_purge(*, actor, row: ModelVersion) -> None:
    """Remove a version row for good, its retention over (the retention app's purge; caller holds the
    model and version locks and records what it removed). A legal hold still refuses it."""
    ports.removal_check(
        model=row.model,
        version=row,
        doing=f"Purging version {row.version} of '{row.model.name}'",
        actor=actor,
    )
    row.delete()  # its aliases, tags, requests and evidence go with it; the audit trail keeps the record


@transaction.atomic
def model_version_tag_set(*, actor, name: str, version: int, key: str, value: str) -> ModelVersionTag:
    key, value = rules.validate_tag(key, value)
    prompts.version_tag_change_check(key)
    model = registered_model_for_update(actor, name, Level.EDIT, "Setting a version tag")
    row = _version_for_update(model, version)
    previous = ModelVersionTag.objects.filter(version=row, key=key).first()
    tag, _ = ModelVersionTag.objects.update_or_create(version=row, key=key, defaults={"value": value})
    ModelVersion.objects.filter(pk=row.pk).update(updated_at=timezone.now())
    events.publish(
        VersionTagSet(
            actor=actor,
            version=row,
            key=key,
            value=value,
            previous=previous.value if previous else None,
            prompt=prompts.model_is_prompt(model),
        )
    )
    return tag


@transaction.atomic
def model_version_tag_delete(*, actor, name: str, version: int, key: str) -> None:
    prompts.version_tag_change_check(key)
    model = registered_model_for_update(actor, name, Level.EDIT, "Deleting a version tag")
    row = _version_for_update(model, version)
    tag = ModelVersionTag.objects.filter(version=row, key=key).first()
    if tag is None:
        raise NotFound(f"No tag with name: {key} in model version '{name}' version {version}.")
    tag.delete()
    ModelVersion.objects.filter(pk=row.pk).update(updated_at=timezone.now())
    events.publish(
        VersionTagDeleted(
            actor=actor, version=row, key=key, value=tag.value, prompt=prompts.model_is_prompt(model)
        )
    )


def stage_apply(
    *,
    actor,
    model: RegisteredModel,
    row: ModelVersion,
    stage: Stage,
    archive_existing_versions: bool,
    governed: bool,
    reason: str = "",
) -> ModelVersion:
    """Move a locked version to `stage`, archiving others as MLflow does. Caller holds the model lock.

    `governed`: the move applies an approved request (the workflow's call), not a direct set.
    """
    before = row.stage
    archived: list[int] = []
    for archived_stage in rules.stages_archived_by(stage, archive_existing_versions):
        others = ModelVersion.objects.filter(model=model, stage=archived_stage).exclude(pk=row.pk)
        archived = list(others.values_list("version", flat=True))
        others.update(stage=Stage.ARCHIVED, updated_at=timezone.now())
    row.stage = stage
    row.save(update_fields=["stage", "updated_at"])
    _touch(model)
    events.publish(
        StageChanged(
            actor=actor,
            version=row,
            previous=before,
            current=stage.value,
            archived=archived,
            governed=governed,
            reason=reason,
        )
    )
    return row


@ports.refusals_recorded
def model_version_stage_transition(
    *, actor, name: str, version: int, stage: str, archive_existing_versions: bool = False
) -> ModelVersion:
    target = rules.parse_stage(stage)
    model = registered_model_for_update(actor, name, Level.EDIT, "Changing a version's stage")
    row = _version_for_update(model, version)
    ports.direct_change_check(
        model=model, target_kind="stage", target=target.value, actor=actor, version=row.version
    )
    if row.stage != target.value:
        # Leaving a governed stage (archiving or un-staging the Production version) is governed too.
        ports.leave_check(
            model=model,
            target_kind="stage",
            target=row.stage,
            version=row.version,
            doing=f"Moving version {row.version} of '{name}' to {target.value}",
            actor=actor,
        )
    stage_apply(
        actor=actor,
        model=model,
        row=row,
        stage=target,
        archive_existing_versions=archive_existing_versions,
        governed=False,
    )
    return row


# --- Aliases -----------------------------------------------------------------------------


def alias_apply(
    *, actor, model: RegisteredModel, alias: str, row: ModelVersion, reason: str = ""
) -> ModelAlias:
    """Point `alias` at a locked version for an approved request (the workflow's call); caller holds the lock."""
    return _alias_move(
        actor=actor,
        model=model,
        alias=alias,
        row=row,
        previous=_alias_current(model, alias),
        governed=True,
        reason=reason,
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
    governed: bool,
    reason: str = "",
) -> ModelAlias:
    """Move (or create) the alias from `previous`.

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
        alias_row = ModelAlias(model=model, alias=alias, version=row, updated_at=now)
        saved_mark(alias_row, previous[0])
    _touch(model)
    # Last: the audit trail records it first among the subscribers (on SQLite the append locks the
    # chain head until commit; PostgreSQL seals at COMMIT).
    events.publish(
        AliasMoved(
            actor=actor,
            model=model,
            alias=alias,
            previous=previous[2] if previous else None,
            current=row,
            governed=governed,
            reason=reason,
            prompt=prompts.model_is_prompt(model),
        )
    )
    return alias_row


@ports.refusals_recorded
def alias_set(*, actor, name: str, alias: str, version: int) -> ModelAlias:
    rules.validate_alias(alias)
    model = registered_model_for_update(actor, name, Level.EDIT, "Setting an alias")
    row, previous = _version_and_alias_for_update(model, version, alias)
    ports.direct_change_check(
        model=model, target_kind="alias", target=alias, actor=actor, version=row.version
    )
    return _alias_move(actor=actor, model=model, alias=alias, row=row, previous=previous, governed=False)


@ports.refusals_recorded
def alias_delete(*, actor, name: str, alias: str) -> None:
    model = registered_model_for_update(actor, name, Level.EDIT, "Deleting an alias")
    row = ModelAlias.objects.filter(model=model, alias=alias).select_related("version").first()
    if row is None:
        raise NotFound(f"Registered model alias {alias} not found.")
    ports.removal_check(
        model=model, version=row.version, doing=f"Deleting the alias '{alias}' of '{name}'", actor=actor
    )
    # Taking a governed alias such as @champion away changes what serves production: like pointing
    # it, it needs an approved (removal) request, whatever the caller's level.
    ports.leave_check(
        model=model,
        target_kind="alias",
        target=alias,
        version=row.version.version,
        doing=f"Deleting the alias '{alias}' of '{name}'",
        actor=actor,
    )
    _alias_remove(actor=actor, model=model, row=row, governed=False)


def alias_remove_apply(*, actor, model: RegisteredModel, alias: str, reason: str = "") -> None:
    """Remove `alias` for an approved removal request (the workflow's call); caller holds the model lock."""
    row = ModelAlias.objects.filter(model=model, alias=alias).select_related("version").first()
    if row is None:
        raise NotFound(f"Registered model alias {alias} not found.")
    # An approved removal request is still a removal: a legal hold on the version refuses it too.
    ports.removal_check(
        model=model, version=row.version, doing=f"Removing the alias '{alias}' of '{model.name}'", actor=actor
    )
    _alias_remove(actor=actor, model=model, row=row, governed=True, reason=reason)


def _alias_remove(
    *, actor, model: RegisteredModel, row: ModelAlias, governed: bool, reason: str = ""
) -> None:
    AliasAssignment.objects.filter(model=model, alias=row.alias, cleared_at__isnull=True).update(
        cleared_at=timezone.now()
    )
    version_number = row.version.version
    row.delete()
    _touch(model)
    events.publish(
        AliasDeleted(
            actor=actor,
            model=model,
            alias=row.alias,
            version=version_number,
            governed=governed,
            reason=reason,
            prompt=prompts.model_is_prompt(model),
        )
    )
