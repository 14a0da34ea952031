"""The purge removes only ended versions whose retention expired and that no legal hold covers, and
records each removal; the retention class comes from what the version ever reached."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import Action, AuditEvent
from registry import services as registry_services
from registry.models import ModelVersion
from retention import rules
from workflows import services as workflow_services

pytestmark = pytest.mark.django_db

EXPIRE_STANDARD_AT_ONCE = "production:10:stage=Production|governed-alias,staging:5:stage=Staging,standard:0"


def purge(*args: str) -> dict:
    out = StringIO()
    call_command("retention_purge", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def named(items: list[dict]) -> set[str]:
    return {f"{item['model']}/v{item['version']}" for item in items}


def test_the_default_classes_keep_production_ten_years_staging_five_others_one():
    classes = rules.classes_parse(
        ["production:10:stage=Production|governed-alias", "staging:5:stage=Staging", "standard:1"]
    )
    ended = datetime(2026, 1, 1, tzinfo=UTC)

    def facts(stages=(), aliases=(), governed=()):
        return rules.VersionFacts(frozenset(stages), frozenset(aliases), frozenset(governed), ended)

    assert (
        rules.retention_for(facts(["Production", "Archived"]), classes).retention_class.name == "production"
    )
    assert rules.retention_for(
        facts(aliases=["champion"], governed=["champion"]), classes
    ).retention_class.name == ("production")
    assert (
        rules.retention_for(facts(["Staging"], aliases=["shadow"]), classes).retention_class.name == "staging"
    )
    standard = rules.retention_for(facts(["Archived"]), classes)
    assert standard.retention_class.name == "standard"
    assert standard.retain_until == ended + timedelta(days=365.25)
    still_in_use = rules.VersionFacts(frozenset(["Production"]), frozenset(), frozenset(), None)
    assert rules.retention_for(still_in_use, classes).retain_until is None
    assert rules.purge_refusal(standard, held=False, now=ended + timedelta(days=366)) is None
    assert "keeps it until 2027-01-01" in rules.purge_refusal(standard, held=False, now=ended)
    assert (
        rules.purge_refusal(standard, held=True, now=ended + timedelta(days=9999)) == "a legal hold covers it"
    )


@pytest.mark.parametrize(
    "entries",
    [[], ["production:10:stage=Production"], ["x:ten"], ["x:-1"], ["x:1:colour=blue", "rest:1"], ["nothing"]],
)
def test_a_retention_configuration_that_does_not_parse_is_refused(entries):
    with pytest.raises(rules.RetentionConfigError):
        rules.classes_parse(entries)


def test_purge_removes_only_expired_unheld_ended_versions_and_records_them(fraud, cast, settings, hold):
    settings.QUORUM_RETENTION_CLASSES = EXPIRE_STANDARD_AT_ONCE.split(",")
    registry_services.model_version_create(actor=cast.owner, name="fraud", source="s3://bucket/fraud/4")
    stage = registry_services.model_version_stage_transition
    stage(actor=cast.owner, name="fraud", version=1, stage="Production", archive_existing_versions=False)
    for number in (1, 2, 4):
        stage(
            actor=cast.owner, name="fraud", version=number, stage="Archived", archive_existing_versions=False
        )
    hold("fraud", 4)
    registry_services.model_version_create(actor=cast.owner, name="fraud", source="s3://bucket/fraud/5")
    stage(actor=cast.owner, name="fraud", version=5, stage="Archived", archive_existing_versions=False)
    registry_services.alias_set(actor=cast.owner, name="fraud", alias="fallback", version=5)
    # v1 was in Production: 10 years; v2, v4 and v5 were never anywhere: at once, but v4 is held and
    # v5 still holds an alias; v3 is in use.

    printed = StringIO()
    call_command("retention_purge", "--dry-run", stdout=printed)
    assert "would remove fraud/v2 (archived, class standard" in printed.getvalue()
    assert "kept fraud/v4: a legal hold covers it" in printed.getvalue()
    assert printed.getvalue().rstrip().endswith("1 would remove, 3 kept, 0 failed (dry run: nothing removed)")
    dry = purge("--dry-run")
    assert named(dry["removed"]) == {"fraud/v2"}
    assert ModelVersion.all_objects.filter(model=fraud).count() == 5
    assert not AuditEvent.objects.filter(
        action__in=[Action.RETENTION_PURGED, Action.RETENTION_PURGE_RUN]
    ).exists()

    report = purge()
    assert named(report["removed"]) == {"fraud/v2"}
    kept = {f"{item['model']}/v{item['version']}": item["why"] for item in report["kept"]}
    assert kept["fraud/v4"] == "a legal hold covers it"
    assert kept["fraud/v5"] == "it still holds @fallback; remove the alias first"
    assert "retention class 'production' keeps it until" in kept["fraud/v1"]
    assert sorted(ModelVersion.all_objects.filter(model=fraud).values_list("version", flat=True)) == [
        1,
        3,
        4,
        5,
    ]
    removed = AuditEvent.objects.get(action=Action.RETENTION_PURGED)
    assert (removed.actor_username, removed.model_name, removed.version) == ("system", "fraud", 2)
    assert removed.before["class"] == "standard"
    run = AuditEvent.objects.get(action=Action.RETENTION_PURGE_RUN)
    assert run.after["removed"] == ["fraud/v2"]


def test_purge_removes_an_expired_tombstone_with_its_governed_copy_unless_held(
    governed, file_request, local_artifact_store, settings, client_for, compliance
):
    settings.QUORUM_RETENTION_CLASSES = ["production:10:stage=Production|governed-alias", "standard:0"]
    for stage in ("Staging", "Archived"):  # in and out of Staging by approved requests: a governance history
        request = file_request(3, stage=stage)
        for approver in (governed.approver, governed.second_approver):
            decided = workflow_services.transition_request_approve(
                actor=approver, request_id=request.pk, comment="ok"
            )
            if decided.state == "applied":
                break
    assert ModelVersion.objects.get(model=governed.model, version=3).stage == "Archived"
    registry_services.model_version_delete(actor=governed.owner, name="scoring", version=3)
    tombstone = ModelVersion.all_objects.get(model=governed.model, version=3)
    assert tombstone.deleted_at is not None  # its requests keep it as a tombstone
    copy = local_artifact_store / "governed" / "scoring" / "3"
    assert any(copy.rglob("MLmodel"))

    placed = client_for(compliance).post(
        "/api/v1/legal-holds", {"model": "scoring", "version": 3, "reason": "audit sample"}, format="json"
    )
    assert placed.status_code == 201, placed.content
    assert named(purge()["removed"]) == set()
    assert any(copy.rglob("MLmodel")), "a held version's governed copy stays"

    release = f"/api/v1/legal-holds/{placed.json()['id']}/release"
    assert client_for(compliance).post(release, {"reason": "sampled"}, format="json").status_code == 200
    report = purge()
    assert named(report["removed"]) == {"scoring/v3"}
    assert not ModelVersion.all_objects.filter(pk=tombstone.pk).exists()
    assert not any(path.is_file() for path in copy.rglob("*"))
    event = AuditEvent.objects.get(action=Action.RETENTION_PURGED)
    assert event.before["state"] == "deleted" and len(event.before["governed_objects_removed"]) >= 2
    # The other versions, live, are untouched.
    assert ModelVersion.objects.filter(model=governed.model).count() == 2


def test_a_copy_made_for_a_production_request_is_locked_for_the_production_class(governed, file_request):
    from registry import ports

    version = ModelVersion.objects.get(model=governed.model, version=2)
    assert ports.retention().copy_lock(version).retain_until < timezone.now() + timedelta(days=400)
    file_request(2, stage="Production")
    ten_years = ports.retention().copy_lock(version).retain_until - timezone.now()
    assert timedelta(days=3650) < ten_years < timedelta(days=3654)


def test_the_governed_copy_of_a_held_version_cannot_be_deleted(governed, local_artifact_store, hold):
    from artifacts import services as artifact_services
    from registry.errors import HoldRefused

    hold("scoring", 1)
    version = ModelVersion.objects.get(model=governed.model, version=1)
    with pytest.raises(HoldRefused, match="Deleting the governed copy of version 1"):
        artifact_services.governed_copy_purge(actor="system", version=version)
    assert any((local_artifact_store / "governed" / "scoring" / "1").rglob("MLmodel"))


def test_a_deleted_version_that_was_in_production_stays_a_tombstone_for_its_class(fraud, cast, client_for):
    stage = registry_services.model_version_stage_transition
    stage(actor=cast.owner, name="fraud", version=1, stage="Production", archive_existing_versions=False)
    owner = client_for(cast.owner)
    assert owner.delete("/api/v1/models/fraud/versions/1").status_code == 204
    assert owner.delete("/api/v1/models/fraud/versions/2").status_code == 204
    tombstone = ModelVersion.all_objects.get(model=fraud, version=1)
    assert tombstone.deleted_at is not None, "ever in Production: kept ten years, as a tombstone"
    assert not ModelVersion.all_objects.filter(model=fraud, version=2).exists(), "never anywhere: deleted"
    kept = {f"{item['model']}/v{item['version']}": item["why"] for item in purge()["kept"]}
    assert "retention class 'production' keeps it until" in kept["fraud/v1"]
