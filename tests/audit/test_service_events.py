"""Every registry write records exactly one event, in the same transaction as the change."""

from collections.abc import Callable

import pytest
from django.db import transaction

import audit
from audit.models import Action, AuditEvent
from audit.services import AuditOutsideTransaction
from registry import services
from registry.errors import NotFound, PermissionDenied
from registry.models import ModelAlias, ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db


def _recorded(write: Callable[[], object]) -> AuditEvent:
    """Run one service call and return the single event it appended."""
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    write()
    new = list(AuditEvent.objects.filter(seq__gt=last))
    assert len(new) == 1, [e.action for e in new]
    return new[0]


@pytest.fixture
def fraud_v2(fraud, cast):
    """fraud (versions 1-3) with alias challenger -> 1 and tag owner-team=risk on version 2."""
    services.alias_set(actor=cast.owner, name="fraud", alias="challenger", version=1)
    services.model_version_tag_set(actor=cast.owner, name="fraud", version=2, key="owner-team", value="risk")
    return fraud


def test_model_create_records_name_description_and_tags(cast):
    event = _recorded(
        lambda: services.registered_model_create(
            actor=cast.owner, name="churn", description="d", tags=[{"key": "k", "value": "v"}]
        )
    )
    model = RegisteredModel.objects.get(name="churn")
    assert (event.action, event.actor_username, event.actor_kind) == (Action.MODEL_CREATED, "owner", "user")
    assert (event.target_type, event.target_id, event.target_name) == (
        "registry.registeredmodel",
        str(model.pk),
        "churn",
    )
    assert (event.model_name, event.registered_model_id) == ("churn", model.pk)
    assert event.before is None
    assert event.after == {"name": "churn", "description": "d", "tags": {"k": "v"}}


@pytest.mark.parametrize(
    ("write", "action", "version", "before", "after"),
    [
        (
            lambda a: services.registered_model_update(actor=a, name="fraud", description="new"),
            Action.MODEL_UPDATED,
            None,
            {"description": "detects fraud"},
            {"description": "new"},
        ),
        (
            lambda a: services.registered_model_tag_set(actor=a, name="fraud", key="team", value="ops"),
            Action.MODEL_TAG_SET,
            None,
            {"team": "risk"},
            {"team": "ops"},
        ),
        (
            lambda a: services.registered_model_tag_delete(actor=a, name="fraud", key="team"),
            Action.MODEL_TAG_DELETED,
            None,
            {"team": "risk"},
            None,
        ),
        (
            lambda a: services.model_version_create(actor=a, name="fraud", source="s3://bucket/fraud/4"),
            Action.VERSION_CREATED,
            4,
            None,
            {
                "source": "s3://bucket/fraud/4",
                "storage_location": "",
                "run_id": "",
                "model_id": "",
                "tags": {},
            },
        ),
        (
            lambda a: services.model_version_update(actor=a, name="fraud", version=2, description="v2 notes"),
            Action.VERSION_UPDATED,
            2,
            {"description": ""},
            {"description": "v2 notes"},
        ),
        (
            lambda a: services.model_version_tag_set(
                actor=a, name="fraud", version=2, key="owner-team", value="ml"
            ),
            Action.VERSION_TAG_SET,
            2,
            {"owner-team": "risk"},
            {"owner-team": "ml"},
        ),
        (
            lambda a: services.model_version_tag_delete(actor=a, name="fraud", version=2, key="owner-team"),
            Action.VERSION_TAG_DELETED,
            2,
            {"owner-team": "risk"},
            None,
        ),
        (
            lambda a: services.model_version_stage_transition(
                actor=a, name="fraud", version=2, stage="Archived"
            ),
            Action.VERSION_STAGE_CHANGED,
            2,
            {"stage": "None"},
            {"stage": "Archived", "archived_versions": []},
        ),
        (
            lambda a: services.alias_set(actor=a, name="fraud", alias="challenger", version=3),
            Action.ALIAS_SET,
            3,
            {"alias": "challenger", "version": 1},
            {"alias": "challenger", "version": 3},
        ),
        (
            lambda a: services.alias_delete(actor=a, name="fraud", alias="challenger"),
            Action.ALIAS_DELETED,
            1,
            {"alias": "challenger", "version": 1},
            None,
        ),
        (
            lambda a: services.model_version_delete(actor=a, name="fraud", version=1),
            Action.VERSION_DELETED,
            1,
            {"stage": "None", "aliases": ["challenger"], "source": "s3://bucket/fraud/1"},
            None,
        ),
        (
            lambda a: services.registered_model_rename(actor=a, name="fraud", new_name="fraud-v2"),
            Action.MODEL_RENAMED,
            None,
            {"name": "fraud"},
            {"name": "fraud-v2"},
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_registry_write_records_exactly_its_event(fraud_v2, cast, write, action, version, before, after):
    event = _recorded(lambda: write(cast.owner))
    assert event.action == action
    assert event.actor_username == "owner"
    assert event.registered_model_id == fraud_v2.pk
    assert event.version == version
    assert event.before == before
    assert event.after == after


def test_model_delete_records_what_was_there_and_keeps_the_model_id(fraud_v2, cast):
    event = _recorded(lambda: services.registered_model_delete(actor=cast.owner, name="fraud"))
    assert event.action == Action.MODEL_DELETED
    assert event.before == {"versions": [1, 2, 3], "aliases": {"challenger": 1}}
    assert event.registered_model_id == fraud_v2.pk
    assert not RegisteredModel.objects.filter(pk=fraud_v2.pk).exists()


def test_stage_change_with_archiving_names_the_archived_versions(fraud, cast):
    from registry.models import Stage

    services.stage_apply(
        actor=cast.owner,
        model=fraud,
        row=fraud.versions.get(version=1),
        stage=Stage.PRODUCTION,
        archive_existing_versions=False,
        governed=False,
    )
    event = _recorded(
        lambda: services.stage_apply(
            actor=cast.owner,
            model=fraud,
            row=fraud.versions.get(version=2),
            stage=Stage.PRODUCTION,
            archive_existing_versions=True,
            governed=True,
            reason="approved request",
        )
    )
    assert event.after == {"stage": "Production", "archived_versions": [1]}
    assert event.reason == "approved request"


@pytest.mark.parametrize(
    "write",
    [
        lambda c: services.registered_model_update(actor=c.outsider, name="fraud", description="x"),
        lambda c: services.model_version_create(actor=c.outsider, name="fraud", source="s3://b/x"),
        lambda c: services.alias_set(actor=c.owner, name="fraud", alias="challenger", version=99),
        lambda c: services.registered_model_tag_delete(actor=c.owner, name="fraud", key="missing"),
        lambda c: services.registered_model_create(actor=c.editor, name="not-allowed"),
    ],
)
def test_a_refused_change_leaves_no_event(fraud, cast, write):
    before = AuditEvent.objects.count()
    with pytest.raises((NotFound, PermissionDenied)):
        write(cast)
    assert AuditEvent.objects.count() == before


def test_a_failed_audit_write_leaves_no_change(fraud, cast, monkeypatch):
    events_before = AuditEvent.objects.count()

    def broken(fields):
        raise RuntimeError("audit storage unavailable")

    # The canonical form is built on every append: in Python on SQLite, for the trigger on PostgreSQL.
    monkeypatch.setattr("audit.services.event_hash", broken)
    monkeypatch.setattr("audit.services._canonical_pieces", broken)
    with pytest.raises(RuntimeError, match="audit storage unavailable"):
        services.model_version_create(actor=cast.owner, name="fraud", source="s3://bucket/fraud/4")
    with pytest.raises(RuntimeError):
        services.alias_set(actor=cast.owner, name="fraud", alias="challenger", version=2)
    assert not ModelVersion.objects.filter(model=fraud, version=4).exists()
    assert RegisteredModel.objects.get(pk=fraud.pk).last_version_number == 3
    assert not ModelAlias.objects.filter(model=fraud).exists()
    assert AuditEvent.objects.count() == events_before


def test_an_event_is_rolled_back_with_its_change(fraud, cast):
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.registered_model_update(actor=cast.owner, name="fraud", description="doomed")
        raise RuntimeError("the caller's transaction fails after the service returned")
    assert AuditEvent.objects.count() == before
    assert RegisteredModel.objects.get(pk=fraud.pk).description == "detects fraud"


def test_recording_outside_a_transaction_is_refused(cast):
    with pytest.raises(AuditOutsideTransaction):
        # pytest-django's `db` wraps the test in a transaction; leave it to prove the check.
        from django.db import connection

        connection.in_atomic_block, saved = False, connection.in_atomic_block
        try:
            audit.record(actor=cast.owner, action=Action.MODEL_UPDATED)
        finally:
            connection.in_atomic_block = saved


def test_sequence_numbers_are_gap_free_and_each_event_links_to_the_previous(fraud_v2):
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == "0" * 64
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.hash


def test_secrets_are_redacted_from_before_and_after(cast):
    with transaction.atomic():
        event = audit.record(
            actor=cast.owner,
            action=Action.TOKEN_CREATED,
            after={"name": "ci", "token": "qrm_secret", "password": "p"},
        )
    assert event.after == {"name": "ci", "token": "[redacted]", "password": "[redacted]"}


def test_secrets_nested_in_before_and_after_are_redacted_too(cast):
    with transaction.atomic():
        event = audit.record(
            actor=cast.owner,
            action=Action.WEBHOOK_CHANGED,
            before={"hooks": [{"url": "https://a", "secret": "s1"}]},
            after={
                "config": {
                    "url": "https://b",
                    "Webhook_Secret": "s2",
                    "headers": {"Authorization": "Bearer x"},
                }
            },
        )
    assert event.before == {"hooks": [{"url": "https://a", "secret": "[redacted]"}]}
    assert event.after == {
        "config": {
            "url": "https://b",
            "Webhook_Secret": "[redacted]",
            "headers": {"Authorization": "[redacted]"},
        }
    }
