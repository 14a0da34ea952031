"""Registry services: version numbering, alias moves and deletes, stages, tags, names, all-or-nothing writes."""

import pytest

from access.grants import Level
from audit.models import Action, AuditEvent
from registry import selectors, services
from registry.errors import AlreadyExists, InvalidParameter, NotFound, PermissionDenied
from registry.models import (
    AliasAssignment,
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from tests.fixtures_foundation import targets_open

pytestmark = pytest.mark.django_db


def _stages(model: RegisteredModel) -> dict[int, str]:
    return dict(ModelVersion.objects.filter(model=model).values_list("version", "stage"))


def _new_version(owner, name: str = "fraud") -> int:
    return services.model_version_create(actor=owner, name=name, source="s3://bucket/new").version


# --- version numbers --------------------------------------------------------------------------


def test_versions_count_up_per_model_independently(fraud, cast):
    services.registered_model_create(actor=cast.owner, name="other")
    assert _new_version(cast.owner, "other") == 1
    assert _new_version(cast.owner) == 4
    assert _new_version(cast.owner, "other") == 2


def test_version_numbers_are_never_reused_after_deletes(fraud, cast):
    services.model_version_delete(actor=cast.owner, name="fraud", version=3)
    assert _new_version(cast.owner) == 4
    for number in (1, 2, 4):
        services.model_version_delete(actor=cast.owner, name="fraud", version=number)
    assert not ModelVersion.objects.filter(model=fraud).exists()
    assert _new_version(cast.owner) == 5


def test_a_refused_version_create_consumes_no_number(fraud, cast):
    with pytest.raises(InvalidParameter):
        services.model_version_create(actor=cast.owner, name="fraud", source="s3://b/x", tags=[{"key": ""}])
    assert _new_version(cast.owner) == 4


def test_version_create_records_creator_source_tags_and_audit(fraud, cast):
    row = services.model_version_create(
        actor=cast.owner,
        name="fraud",
        source="s3://bucket/fraud/4",
        run_id="run-1",
        description="retrained",
        tags=[{"key": "auc", "value": "0.93"}],
    )
    assert (row.creator, row.source, row.run_id, row.description) == (
        cast.owner,
        "s3://bucket/fraud/4",
        "run-1",
        "retrained",
    )
    assert list(row.tags.values_list("key", "value")) == [("auc", "0.93")]
    event = AuditEvent.objects.get(action=Action.VERSION_CREATED, version=4)
    assert event.model_name == "fraud"
    assert event.after["tags"] == {"auc": "0.93"}


# --- aliases ----------------------------------------------------------------------------------


def test_moving_an_alias_repoints_the_single_row_and_keeps_history(fraud, cast):
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=1)
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=3)

    rows = ModelAlias.objects.filter(model=fraud, alias="champion")
    assert [row.version.version for row in rows] == [3]
    history = list(AliasAssignment.objects.filter(model=fraud, alias="champion").order_by("assigned_at"))
    assert [(h.version_number, h.cleared_at is None) for h in history] == [(1, False), (3, True)]
    events = AuditEvent.objects.filter(action=Action.ALIAS_SET).order_by("seq")
    assert [(e.before["version"], e.after["version"]) for e in events] == [(None, 1), (1, 3)]


def test_setting_an_alias_to_where_it_already_points_changes_nothing(fraud, cast):
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=2)
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=2)
    assert AuditEvent.objects.filter(action=Action.ALIAS_SET).count() == 1
    assert AliasAssignment.objects.filter(model=fraud).count() == 1


def test_aliases_are_per_model(fraud, cast):
    services.registered_model_create(actor=cast.owner, name="other")
    _new_version(cast.owner, "other")
    services.alias_set(actor=cast.owner, name="fraud", alias="challenger", version=3)
    services.alias_set(actor=cast.owner, name="other", alias="challenger", version=1)
    assert selectors.alias_target_get(cast.owner, "fraud", "challenger").version == 3
    assert selectors.alias_target_get(cast.owner, "other", "challenger").version == 1


def test_alias_to_a_missing_version_is_not_found_and_leaves_the_old_target(fraud, cast):
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=1)
    with pytest.raises(NotFound, match="version=9"):
        services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=9)
    assert selectors.alias_target_get(cast.owner, "fraud", "champion").version == 1


@pytest.mark.parametrize("alias", ["latest", "Latest", "v2", "V10", "bad.alias", "x" * 256])
def test_reserved_or_malformed_aliases_are_refused_without_a_trace(fraud, cast, alias):
    with pytest.raises(InvalidParameter):
        services.alias_set(actor=cast.owner, name="fraud", alias=alias, version=1)
    assert not ModelAlias.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.ALIAS_SET).exists()


def test_deleting_an_alias_closes_its_history(fraud, cast):
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=2)
    services.alias_delete(actor=cast.owner, name="fraud", alias="champion")
    assert not ModelAlias.objects.exists()
    assert AliasAssignment.objects.get(alias="champion").cleared_at is not None
    event = AuditEvent.objects.get(action=Action.ALIAS_DELETED)
    assert event.before == {"alias": "champion", "version": 2}
    with pytest.raises(NotFound):
        services.alias_delete(actor=cast.owner, name="fraud", alias="champion")


def test_deleting_a_version_deletes_its_aliases_and_only_its_aliases(fraud, cast):
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=2)
    services.alias_set(actor=cast.owner, name="fraud", alias="shadow", version=2)
    services.alias_set(actor=cast.owner, name="fraud", alias="challenger", version=3)
    services.model_version_tag_set(actor=cast.owner, name="fraud", version=2, key="k", value="v")

    services.model_version_delete(actor=cast.owner, name="fraud", version=2)

    assert dict(ModelAlias.objects.values_list("alias", "version__version")) == {"challenger": 3}
    assert not ModelVersionTag.objects.filter(version__version=2).exists()
    open_history = AliasAssignment.objects.filter(model=fraud, cleared_at__isnull=True)
    assert list(open_history.values_list("alias", flat=True)) == ["challenger"]
    event = AuditEvent.objects.get(action=Action.VERSION_DELETED)
    assert sorted(event.before["aliases"]) == ["champion", "shadow"]
    with pytest.raises(InvalidParameter, match="alias champion not found"):
        selectors.model_version_by_alias(cast.owner, "fraud", "champion")  # MLflow's answer
    with pytest.raises(NotFound):
        selectors.alias_target_get(cast.owner, "fraud", "champion")  # the native API's answer


# --- stages -----------------------------------------------------------------------------------


def test_promoting_without_archiving_leaves_other_versions_in_the_stage(fraud, cast):
    for number in (1, 2):
        services.model_version_stage_transition(
            actor=cast.owner, name="fraud", version=number, stage="Production"
        )
    assert _stages(fraud) == {1: "Production", 2: "Production", 3: "None"}


def test_archive_existing_versions_archives_only_the_target_stage(fraud, cast):
    services.model_version_stage_transition(actor=cast.owner, name="fraud", version=1, stage="Production")
    services.model_version_stage_transition(actor=cast.owner, name="fraud", version=2, stage="Staging")
    services.model_version_stage_transition(
        actor=cast.owner, name="fraud", version=3, stage="production", archive_existing_versions=True
    )
    assert _stages(fraud) == {1: "Archived", 2: "Staging", 3: "Production"}
    event = AuditEvent.objects.filter(action=Action.VERSION_STAGE_CHANGED, version=3).get()
    assert event.before == {"stage": "None"}
    assert event.after == {"stage": "Production", "archived_versions": [1]}


def test_archiving_when_the_version_is_already_in_the_stage_keeps_it_there(fraud, cast):
    for number in (1, 2):
        services.model_version_stage_transition(
            actor=cast.owner, name="fraud", version=number, stage="Staging"
        )
    services.model_version_stage_transition(
        actor=cast.owner, name="fraud", version=2, stage="Staging", archive_existing_versions=True
    )
    assert _stages(fraud) == {1: "Archived", 2: "Staging", 3: "None"}


@pytest.mark.parametrize("stage", ["Archived", "None"])
def test_archiving_into_an_inactive_stage_is_refused_and_changes_nothing(fraud, cast, stage):
    services.model_version_stage_transition(actor=cast.owner, name="fraud", version=1, stage="Production")
    with pytest.raises(InvalidParameter, match="not an active stage"):
        services.model_version_stage_transition(
            actor=cast.owner, name="fraud", version=2, stage=stage, archive_existing_versions=True
        )
    assert _stages(fraud) == {1: "Production", 2: "None", 3: "None"}
    assert AuditEvent.objects.filter(action=Action.VERSION_STAGE_CHANGED).count() == 1


def test_versions_can_leave_a_stage(fraud, cast):
    services.model_version_stage_transition(actor=cast.owner, name="fraud", version=1, stage="Production")
    services.model_version_stage_transition(actor=cast.owner, name="fraud", version=1, stage="Archived")
    services.model_version_stage_transition(actor=cast.owner, name="fraud", version=1, stage="none")
    assert _stages(fraud)[1] == "None"


def test_governed_stages_are_refused_by_default(cast):
    """Without opting out, Production is governed: the direct path refuses and points to a request."""
    services.registered_model_create(actor=cast.owner, name="governed")
    _new_version(cast.owner, "governed")
    with pytest.raises(PermissionDenied, match="transition request"):
        services.model_version_stage_transition(
            actor=cast.owner, name="governed", version=1, stage="Production"
        )
    targets_open(cast.owner, "governed")
    services.model_version_stage_transition(actor=cast.owner, name="governed", version=1, stage="Production")


# --- names and tags ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a/b", "a:b", "x" * 257, "ctl\x1b", "bidi\u202e", " pad"])
def test_invalid_model_names_are_refused_at_create_and_rename(fraud, cast, name):
    with pytest.raises(InvalidParameter):
        services.registered_model_create(actor=cast.owner, name=name)
    with pytest.raises(InvalidParameter) as caught:
        services.registered_model_rename(actor=cast.owner, name="fraud", new_name=name)
    assert caught.value.field == "new_name"
    assert list(RegisteredModel.objects.values_list("name", flat=True)) == ["fraud"]


def test_model_names_are_unique_across_create_and_rename(fraud, cast):
    services.registered_model_create(actor=cast.owner, name="other")
    with pytest.raises(AlreadyExists):
        services.registered_model_create(actor=cast.owner, name="fraud")
    with pytest.raises(AlreadyExists):
        services.registered_model_rename(actor=cast.owner, name="other", new_name="fraud")


def test_rename_keeps_versions_aliases_and_permissions(fraud, cast):
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=2)
    services.registered_model_rename(actor=cast.owner, name="fraud", new_name="fraud-v2")
    assert selectors.alias_target_get(cast.owner, "fraud-v2", "champion").version == 2
    with pytest.raises(NotFound):
        selectors.registered_model_get(cast.owner, "fraud")
    assert _new_version(cast.owner, "fraud-v2") == 4


def test_tags_overwrite_by_key_and_audit_before_and_after(fraud, cast):
    services.registered_model_tag_set(actor=cast.owner, name="fraud", key="team", value="fin-crime")
    assert list(RegisteredModelTag.objects.values_list("key", "value")) == [("team", "fin-crime")]
    event = AuditEvent.objects.filter(action=Action.MODEL_TAG_SET).get()
    assert (event.before, event.after) == ({"team": "risk"}, {"team": "fin-crime"})
    services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="1")
    services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="2")
    assert list(ModelVersionTag.objects.values_list("key", "value")) == [("k", "2")]


@pytest.mark.parametrize(("key", "value"), [("k" * 251, "v"), ("", "v"), ("k", "v" * 5001), ("k\x00", "v")])
def test_tags_beyond_mlflow_limits_are_refused(fraud, cast, key, value):
    with pytest.raises(InvalidParameter):
        services.registered_model_tag_set(actor=cast.owner, name="fraud", key=key, value=value)
    with pytest.raises(InvalidParameter):
        services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key=key, value=value)
    with pytest.raises(InvalidParameter):
        services.registered_model_create(actor=cast.owner, name="new", tags=[{"key": key, "value": value}])
    assert not RegisteredModel.objects.filter(name="new").exists()


def test_deleting_a_missing_tag_is_not_found(fraud, cast):
    with pytest.raises(NotFound):
        services.registered_model_tag_delete(actor=cast.owner, name="fraud", key="nope")
    with pytest.raises(NotFound):
        services.model_version_tag_delete(actor=cast.owner, name="fraud", version=1, key="nope")


def test_deleting_a_model_takes_its_versions_aliases_and_tags(fraud, cast):
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=1)
    services.registered_model_delete(actor=cast.owner, name="fraud")
    assert not ModelVersion.objects.exists()
    assert not ModelAlias.objects.exists()
    assert not RegisteredModelTag.objects.exists()
    event = AuditEvent.objects.get(action=Action.MODEL_DELETED)
    assert event.before == {"versions": [1, 2, 3], "aliases": {"champion": 1}}


# --- who may do what --------------------------------------------------------------------------


def test_hidden_models_are_not_found_and_visible_ones_need_the_level(fraud, cast, grant):
    with pytest.raises(NotFound):
        services.alias_set(actor=cast.outsider, name="fraud", alias="mine", version=1)
    reader = grant(cast.outsider, Level.READ, fraud)
    with pytest.raises(PermissionDenied, match="EDIT"):
        services.alias_set(actor=reader, name="fraud", alias="mine", version=1)
    editor = grant(reader, Level.EDIT, fraud)
    services.alias_set(actor=editor, name="fraud", alias="mine", version=1)
    with pytest.raises(PermissionDenied, match="MANAGE"):
        services.registered_model_delete(actor=editor, name="fraud")
    assert RegisteredModel.objects.filter(name="fraud").exists()
