"""Every user-facing read of the registry, filtered to what the user may see."""

from datetime import datetime

from django.db.models import (
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)

from access.grants import ActorRef, Level, allowed_q
from config.prepared import PreparedQuery, hot_reads_enabled, prefetched_set
from registry import prompts
from registry.errors import InvalidParameter, NotFound
from registry.models import (
    AliasAssignment,
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
)
from registry.uris import ModelUri, parse_model_uri


def registered_models_allowed(user, level: Level) -> QuerySet[RegisteredModel]:
    """Models on which `user` holds `level` (access.grants is the rule): every read and write lock starts here."""
    return RegisteredModel.objects.filter(allowed_q(user, level))


def registered_models_visible_to(user) -> QuerySet[RegisteredModel]:
    """Models `user` may read."""
    return registered_models_allowed(user, Level.READ)


def model_versions_visible_to(user) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(allowed_q(user, Level.READ, model_id="model_id"))


def _not_found_model(name: str) -> NotFound:
    return NotFound(f"Registered Model with name={name} not found")


def registered_model_get(user, name: str) -> RegisteredModel:
    """A model by name, or NotFound whether it is missing or hidden from `user`."""
    model = registered_models_visible_to(user).filter(name=name).first()
    if model is None:
        raise _not_found_model(name)
    return model


def registered_model_detail_queryset(qs: QuerySet[RegisteredModel]) -> QuerySet[RegisteredModel]:
    """Prefetch what a model's representation shows, in a fixed number of queries."""
    return qs.select_related("creator").prefetch_related(
        Prefetch("tags", queryset=RegisteredModelTag.objects.order_by("key")),
        Prefetch("aliases", queryset=ModelAlias.objects.select_related("version").order_by("alias")),
    )


def version_detail_queryset(qs: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    return qs.select_related("model", "creator").prefetch_related(
        Prefetch("tags", queryset=ModelVersionTag.objects.order_by("key")),
        Prefetch("aliases", queryset=ModelAlias.objects.order_by("alias")),
    )


def pointed_at_by(alias: str) -> Q:
    """Where `alias` points: the one definition every read of an alias's version filters with."""
    return Q(aliases__alias=alias)


def version_served(user, name: str, *, version: int | None = None, alias: str | None = None):
    """Version `version` of a model visible to `user`, or the one `alias` points at: the serving read."""
    rows = model_versions_visible_to(user).filter(model__name=name)
    rows = rows.filter(pointed_at_by(alias)) if alias is not None else rows.filter(version=version)
    return rows.select_related("model", "creator").order_by()  # one row: no sort


def _served_with_relations(user_id: int, name: str, **lookup) -> QuerySet[ModelVersion]:
    """`version_served` with its tags and aliases as arrays: the whole answer in one statement (PostgreSQL)."""
    from django.contrib.postgres.expressions import ArraySubquery

    tags = ModelVersionTag.objects.filter(version_id=OuterRef("pk")).order_by("key")
    aliases = ModelAlias.objects.filter(version_id=OuterRef("pk")).order_by("alias")
    return version_served(ActorRef(user_id), name, **lookup).annotate(
        tag_keys=ArraySubquery(tags.values("key")),
        tag_values=ArraySubquery(tags.values("value")),
        alias_names=ArraySubquery(aliases.values("alias")),
    )


# On PostgreSQL the serving reads are the selector above, prepared once per connection.
_BY_ALIAS = PreparedQuery(
    "quorum_version_by_alias",
    lambda user_id, name, alias: _served_with_relations(user_id, name, alias=alias),
    {"user_id": "bigint", "name": "text", "alias": "text"},
)
_BY_NUMBER = PreparedQuery(
    "quorum_version_by_number",
    lambda user_id, name, version: _served_with_relations(user_id, name, version=version),
    {"user_id": "bigint", "name": "text", "version": "integer"},
)
VERSION_NUMBER_MAX = 2**31 - 1  # the column is an integer: a larger number names no version


def _visible_version(user, name: str, *, version: int | None = None, alias: str | None = None):
    """Version `version` (or the one `alias` points at) of a model visible to `user`, with tags and aliases, or None."""
    if user is None or not user.is_authenticated:
        return None
    if not hot_reads_enabled():
        return version_detail_queryset(version_served(user, name, version=version, alias=alias)).first()
    if alias is not None:
        found = _BY_ALIAS.first(user_id=user.pk, name=name, alias=alias)
    elif 0 < version <= VERSION_NUMBER_MAX:
        found = _BY_NUMBER.first(user_id=user.pk, name=name, version=version)
    else:
        return None
    if found is not None:
        tags = zip(found.tag_keys, found.tag_values, strict=True)
        prefetched_set(found, "tags", [ModelVersionTag(version_id=found.pk, key=k, value=v) for k, v in tags])
        aliases = [
            ModelAlias(model_id=found.model_id, version_id=found.pk, alias=a) for a in found.alias_names
        ]
        prefetched_set(found, "aliases", aliases)
    return found


def model_version_get(user, name: str, version: int) -> ModelVersion:
    # Hot path (every models:/ resolution): visibility and version in one query. A miss takes the
    # slow path only to say which thing is missing; hidden and missing models still cost the same.
    found = _visible_version(user, name, version=version)
    if found is not None:
        return found
    registered_model_get(user, name)
    raise NotFound(f"Model Version (name={name}, version={version}) not found")


def latest_versions(model: RegisteredModel, stages: list[Stage] | None = None) -> list[ModelVersion]:
    """The newest version in each stage (all stages when `stages` is empty), as MLflow's latest_versions."""
    wanted = stages or list(Stage)
    result = []
    for stage in wanted:
        found = (
            version_detail_queryset(ModelVersion.objects.filter(model=model, stage=stage))
            .order_by("-version")
            .first()
        )
        if found is not None:
            result.append(found)
    return sorted(result, key=lambda v: v.version)


def _alias_target(model: RegisteredModel, alias: str) -> ModelVersion:
    """The version `alias` points at ('latest': the newest version), or NotFound."""
    if alias.lower() == "latest":
        found = version_detail_queryset(model.versions.all()).order_by("-version").first()
        if found is None:
            raise NotFound(f"Registered model '{model.name}' has no versions.")
        return found
    found = version_detail_queryset(ModelVersion.objects.filter(pointed_at_by(alias), model=model)).first()
    if found is None:
        raise NotFound(f"Registered model alias {alias} not found.")
    return found


def alias_target_get(user, name: str, alias: str) -> ModelVersion:
    """The version an alias of a visible model points at; NotFound for a missing model or alias."""
    return _alias_target(registered_model_get(user, name), alias)


def model_version_by_alias(user, name: str, alias: str) -> ModelVersion:
    """As `alias_target_get`, but an unset alias is INVALID_PARAMETER_VALUE, which the MLflow client expects."""
    if alias.lower() != "latest":
        # Hot path (models:/name@alias): visibility, alias and version in one query; a miss falls
        # through to say whether the model or the alias is missing. Always read from the database,
        # so a moved alias is never served stale.
        found = _visible_version(user, name, alias=alias)
        if found is not None:
            return found
    model = registered_model_get(user, name)
    try:
        return _alias_target(model, alias)
    except NotFound as exc:
        raise InvalidParameter(exc.message, field="alias")


def model_aliases_list(user, name: str) -> QuerySet[ModelAlias]:
    """The aliases of a visible model with their versions, by alias name."""
    model = registered_model_get(user, name)
    return ModelAlias.objects.filter(model=model).select_related("version").order_by("alias")


def alias_version_at(model: RegisteredModel, alias: str, when: datetime) -> int | None:
    """Which version number `alias` pointed to at `when`, from the alias history."""
    row = (
        AliasAssignment.objects.filter(model=model, alias=alias, assigned_at__lte=when)
        .filter(Q(cleared_at__isnull=True) | Q(cleared_at__gt=when))
        .order_by("-assigned_at")
        .first()
    )
    return row.version_number if row else None


def model_uri_resolve(user, uri: str, as_of: datetime | None = None) -> ModelVersion:
    """Resolve a `models:/` URI to a version the user may read."""
    parsed: ModelUri = parse_model_uri(uri)
    model = registered_model_get(user, parsed.name)
    versions = version_detail_queryset(model.versions.all())
    if parsed.version is not None:
        found = versions.filter(version=parsed.version).first()
        if found is None:
            raise NotFound(f"Model Version (name={parsed.name}, version={parsed.version}) not found")
        return found
    if parsed.alias is not None:
        if as_of is not None:
            number = alias_version_at(model, parsed.alias, as_of)
            found = versions.filter(version=number).first() if number is not None else None
            if found is None:
                raise NotFound(
                    f"Alias '{parsed.alias}' of '{parsed.name}' pointed to no existing version at {as_of}."
                )
            return found
        return _alias_target(model, parsed.alias)
    if parsed.stage is not None:
        found = versions.filter(stage=parsed.stage).order_by("-version").first()
        if found is None:
            raise NotFound(f"No versions of model '{parsed.name}' are in stage '{parsed.stage.value}'.")
        return found
    found = versions.order_by("-version").first()
    if found is None:
        raise NotFound(f"Registered model '{parsed.name}' has no versions.")
    return found


# --- Native API listing filters ---------------------------------------------------------

MODEL_ORDERINGS = {"name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"}
VERSION_ORDERINGS = {
    "version",
    "-version",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "name",
    "-name",
}


def _tag_condition(raw: str, prefix: str) -> Q:
    key, sep, value = raw.partition("=")
    if not key:
        raise InvalidParameter("Tag filter must be 'key' or 'key=value'.", field="tag")
    condition = Q(**{f"{prefix}key": key})
    if sep:
        condition &= Q(**{f"{prefix}value": value})
    return condition


def _time_range(qs: QuerySet, field: str, after: datetime | None, before: datetime | None) -> QuerySet:
    if after is not None:
        qs = qs.filter(**{f"{field}__gte": after})
    if before is not None:
        qs = qs.filter(**{f"{field}__lt": before})
    return qs


def registered_models_list(
    user,
    *,
    name: str | None = None,
    name_prefix: str | None = None,
    tags: list[str] | None = None,
    creator: str | None = None,
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
    ordering: str = "name",
    filter_string: str | None = None,
) -> QuerySet[RegisteredModel]:
    qs = registered_models_visible_to(user)
    if filter_string:
        from registry.search import registered_model_filter_q

        qs = qs.filter(registered_model_filter_q(filter_string)[0])
    if name:
        qs = qs.filter(name=name)
    if name_prefix:
        qs = qs.filter(name__startswith=name_prefix)
    for raw in tags or []:
        qs = qs.filter(pk__in=RegisteredModelTag.objects.filter(_tag_condition(raw, "")).values("model_id"))
    if creator:
        qs = qs.filter(creator__username=creator)
    qs = _time_range(qs, "updated_at", updated_after, updated_before)
    if ordering not in MODEL_ORDERINGS:
        raise InvalidParameter(
            f"Invalid ordering '{ordering}'; use one of {', '.join(sorted(MODEL_ORDERINGS))}.",
            field="ordering",
        )
    return registered_model_detail_queryset(qs.order_by(ordering, "name"))


def model_versions_list(
    user,
    *,
    name: str | None = None,
    stage: str | None = None,
    alias: str | None = None,
    tags: list[str] | None = None,
    creator: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    ordering: str = "version",
    filter_string: str | None = None,
) -> QuerySet[ModelVersion]:
    if name is not None:
        qs = ModelVersion.objects.filter(model=registered_model_get(user, name))
    else:
        qs = model_versions_visible_to(user)
    if filter_string:
        from registry.search import model_version_filter_q

        qs = qs.filter(model_version_filter_q(filter_string)[0])
    if stage:
        from registry.rules import parse_stage

        qs = qs.filter(stage=parse_stage(stage))
    if alias:
        qs = qs.filter(pointed_at_by(alias))
    for raw in tags or []:
        qs = qs.filter(pk__in=ModelVersionTag.objects.filter(_tag_condition(raw, "")).values("version_id"))
    if creator:
        qs = qs.filter(creator__username=creator)
    qs = _time_range(qs, "created_at", created_after, created_before)
    if ordering not in VERSION_ORDERINGS:
        raise InvalidParameter(
            f"Invalid ordering '{ordering}'; use one of {', '.join(sorted(VERSION_ORDERINGS))}.",
            field="ordering",
        )
    order = ordering.replace("name", "model__name")
    return version_detail_queryset(qs.order_by(order, "model__name", "version"))


# --- MLflow search (filter grammar in registry.search) -----------------------------------


def registered_models_search(
    user, *, filter_string: str | None = None, order_by: list[str] | None = None
) -> QuerySet[RegisteredModel]:
    """Visible models matching an MLflow filter, ordered; prompts only when the filter asks for them."""
    from registry import search

    condition, wants_prompts = search.registered_model_filter_q(filter_string)
    qs = registered_models_visible_to(user).filter(condition)
    if not wants_prompts:
        prompt_models = RegisteredModelTag.objects.filter(prompts.prompt_tag_q())
        qs = qs.exclude(pk__in=prompt_models.values("model_id"))
    # The creator comes by prefetch, not select_related: one user object for the page, not a copy per row.
    return search.paged(
        qs.order_by(*search.registered_model_ordering(order_by)).prefetch_related(
            "creator",
            Prefetch("tags", queryset=RegisteredModelTag.objects.order_by("key")),
            # A model's aliases show their version's number only: not whole version rows.
            Prefetch(
                "aliases",
                queryset=ModelAlias.objects.select_related("version")
                .only("model_id", "alias", "version_id", "version__version")
                .order_by("alias"),
            ),
        )
    )


def model_versions_search(
    user, *, filter_string: str | None = None, order_by: list[str] | None = None
) -> QuerySet[ModelVersion]:
    """Visible versions matching an MLflow filter, ordered; versions of prompts only when asked for."""
    from registry import search

    condition, wants_prompts = search.model_version_filter_q(filter_string)
    qs = model_versions_visible_to(user).filter(condition)
    if not wants_prompts:
        prompt_models = RegisteredModelTag.objects.filter(prompts.prompt_tag_q())
        prompt_versions = ModelVersionTag.objects.filter(prompts.prompt_tag_q())
        qs = qs.exclude(model_id__in=prompt_models.values("model_id")).exclude(
            pk__in=prompt_versions.values("version_id")
        )
    # Model and creator by prefetch: one object each per distinct id, not a copy on every row.
    return search.paged(
        qs.order_by(*search.model_version_ordering(order_by)).prefetch_related(
            "model",
            "creator",
            Prefetch("tags", queryset=ModelVersionTag.objects.order_by("key")),
            Prefetch("aliases", queryset=ModelAlias.objects.order_by("alias")),
        )
    )


def latest_versions_by_model(models: list[RegisteredModel] | list[int]) -> dict[int, list[ModelVersion]]:
    """MLflow's latest_versions (newest version per stage) for many models (or model ids) in two queries.

    The versions come with creator and tags (what a model's latest_versions shows), not aliases.
    """
    from registry import search

    if not models:
        return {}
    # One index probe per model and stage on (model, stage, version), not a MAX over every version
    # of every model: the cost follows the number of models shown, not how many versions they have.
    newest = {
        f"top_{i}": Subquery(
            ModelVersion.objects.filter(model_id=OuterRef("pk"), stage=stage)
            .order_by("-version")
            .values("pk")[:1]
        )
        for i, stage in enumerate(Stage)
    }
    given = {model.pk: model for model in models if isinstance(model, RegisteredModel)}
    ids = [model.pk if isinstance(model, RegisteredModel) else model for model in models]
    tops = RegisteredModel.objects.filter(pk__in=ids).order_by().annotate(**newest).values_list(*newest)
    wanted = {pk for row in tops for pk in row if pk is not None}
    if not wanted:
        return {}
    # Given models are reused rather than loaded again.
    versions = ModelVersion.objects.filter(pk__in=wanted).prefetch_related(
        "creator",
        *([] if given else ["model"]),
        Prefetch("tags", queryset=ModelVersionTag.objects.order_by("key")),
    )
    result: dict[int, list[ModelVersion]] = {}
    for row in search.paged(versions).order_by("model_id", "version"):
        if given:
            row.model = given[row.model_id]
        result.setdefault(row.model_id, []).append(row)
    return result
