"""Every user-facing read of the registry, filtered to what the user may see."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import (
    BooleanField,
    CharField,
    Exists,
    Expression,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Cast
from guardian.models import GroupObjectPermission, UserObjectPermission

from accounts.permissions import LEVEL_CODENAMES, MANAGE_CODENAME, Level
from config.prepared import hot_reads_enabled
from registry import hot_reads
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

VIEW_PERMS = [f"registry.{LEVEL_CODENAMES[Level.READ]}", f"registry.{MANAGE_CODENAME}"]


class _ReadGrant(Expression):
    """True where the user holds READ or MANAGE on the model whose id is `model_id`, directly or via a team.

    Two EXISTS probes on the grant tables' (user|group, content type, object) indexes, not guardian's
    `id::varchar IN (every object the user or their teams hold a grant on)`, which PostgreSQL
    answered by hashing all of a user's grants on every search (10 ms at 10,000 granted models).
    A probe costs the same at any size; for long lists the planner may still hash the grants (the
    alternative it keeps for EXISTS). The permission ids are an InitPlan on PostgreSQL (computed once,
    not joined on every probe). Global grants do not count, as with guardian's with_superuser=False.

    Written as one SQL expression rather than nested querysets: Django re-aliases every nested
    queryset each time a search is built, which cost more CPU than the query itself.
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, model_id: Expression, *, user_id: int) -> None:
        super().__init__()
        self.model_id = Cast(model_id, output_field=CharField())
        self.user_id = user_id

    def get_source_expressions(self) -> list:
        return [self.model_id]

    def set_source_expressions(self, exprs: list) -> None:
        (self.model_id,) = exprs

    def as_sql(self, compiler, connection):
        object_pk, object_pk_params = compiler.compile(self.model_id)
        qn = connection.ops.quote_name
        content_type = ContentType.objects.get_for_model(RegisteredModel).pk
        codenames = [perm.partition(".")[2] for perm in VIEW_PERMS]
        reading = (
            f"(SELECT quorum_p.id FROM {qn(Permission._meta.db_table)} quorum_p WHERE quorum_p.content_type_id = %s"
            f" AND quorum_p.codename IN ({', '.join(['%s'] * len(codenames))}))"
        )
        if connection.vendor == "postgresql":
            reading = f"= ANY(ARRAY{reading})"
        else:
            reading = f"IN {reading}"
        grant = f"quorum_g.content_type_id = %s AND quorum_g.object_pk = {object_pk} AND quorum_g.permission_id {reading}"
        memberships = qn(get_user_model().groups.through._meta.db_table)
        sql = (
            f"(EXISTS(SELECT 1 FROM {qn(UserObjectPermission._meta.db_table)} quorum_g"
            f" WHERE quorum_g.user_id = %s AND {grant})"
            f" OR EXISTS(SELECT 1 FROM {qn(GroupObjectPermission._meta.db_table)} quorum_g"
            f" JOIN {memberships} quorum_m ON quorum_m.group_id = quorum_g.group_id"
            f" WHERE quorum_m.user_id = %s AND {grant}))"
        )
        params = (self.user_id, content_type, *object_pk_params, content_type, *codenames)
        return sql, (*params, *params)


def registered_models_visible_to(user) -> QuerySet[RegisteredModel]:
    """Models `user` may read: READ or MANAGE, granted directly or via a team (exactly guardian's list)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return RegisteredModel.objects.none()
    if user.is_superuser:
        return RegisteredModel.objects.all()
    return RegisteredModel.objects.filter(_ReadGrant(F("pk"), user_id=user.pk))


def model_versions_visible_to(user) -> QuerySet[ModelVersion]:
    if user is not None and getattr(user, "is_superuser", False) and user.is_active:
        return ModelVersion.objects.all()
    return ModelVersion.objects.filter(model__in=registered_models_visible_to(user).values("pk"))


def _not_found_model(name: str) -> NotFound:
    return NotFound(f"Registered Model with name={name} not found")


def registered_model_named_visible_to(user, name: str) -> QuerySet[RegisteredModel]:
    """`registered_models_visible_to(user).filter(name=name)`, shaped for a single name.

    guardian's queryset tests `id::varchar IN (every object the user or their teams hold a grant
    on)`, which PostgreSQL answers by hashing all of those grants on each call: 10 ms per request
    at 10,000 granted models. Here the one named row is probed with EXISTS on the grant tables'
    (user|group, content type, object) indexes, so the cost does not grow with the registry.
    The same grants count: READ or MANAGE, directly or through a team; global grants do not
    (as with guardian's with_superuser=False).
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return RegisteredModel.objects.none()
    named = RegisteredModel.objects.filter(name=name)
    if user.is_superuser:
        return named
    content_type = ContentType.objects.get_for_model(RegisteredModel)
    codenames = [perm.partition(".")[2] for perm in VIEW_PERMS]
    object_pk = Cast(OuterRef("pk"), output_field=CharField())
    direct = UserObjectPermission.objects.filter(
        user=user, content_type=content_type, object_pk=object_pk, permission__codename__in=codenames
    )
    via_team = GroupObjectPermission.objects.filter(
        group__in=user.groups.all(),
        content_type=content_type,
        object_pk=object_pk,
        permission__codename__in=codenames,
    )
    return named.filter(Exists(direct) | Exists(via_team))


def registered_model_get(user, name: str) -> RegisteredModel:
    """A model by name, or NotFound whether it is missing or hidden from `user`."""
    model = registered_model_named_visible_to(user, name).first()
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


def _visible_model_pk(user, name: str) -> QuerySet[RegisteredModel]:
    return registered_model_named_visible_to(user, name).values("pk")


def _visible_version(user, name: str, *, version: int | None = None, alias: str | None = None):
    """Version `version` (or the one `alias` points at) of a model visible to `user`, in one query, or None.

    On PostgreSQL the query is a prepared statement (registry/hot_reads.py), elsewhere the ORM's.
    """
    if hot_reads_enabled():
        if alias is not None:
            return hot_reads.version_by_alias(user, name, alias)
        return hot_reads.version_by_number(user, name, version)
    rows = ModelVersion.objects.filter(model__in=_visible_model_pk(user, name))
    rows = rows.filter(aliases__alias=alias) if alias is not None else rows.filter(version=version)
    return version_detail_queryset(rows).first()


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
    found = version_detail_queryset(ModelVersion.objects.filter(model=model, aliases__alias=alias)).first()
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
        qs = qs.filter(aliases__alias=alias)
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
        prompts = RegisteredModelTag.objects.filter(key=search.IS_PROMPT_TAG_KEY, value="true")
        qs = qs.exclude(pk__in=prompts.values("model_id"))
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
        prompt_models = RegisteredModelTag.objects.filter(key=search.IS_PROMPT_TAG_KEY, value="true")
        prompt_versions = ModelVersionTag.objects.filter(key=search.IS_PROMPT_TAG_KEY, value="true")
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
