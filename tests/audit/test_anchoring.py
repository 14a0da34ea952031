"""Issue 20, items 1 and 2: someone with database access rewrites, erases or cuts the audit trail.

Each attack runs raw SQL through the application's own connection (the default setup's app role
owns the audit tables, so it can switch their triggers off, as `tamper` does). A privileged change
over HTTP is anchored by a checkpoint in the governed store right after it commits; `audit_verify`
reads those objects back and names each kind of tampering, exiting 1.
"""

import json

import pytest

from audit.chain import event_hash
from audit.models import Action, AuditCheckpoint, AuditEvent, ChainHead
from audit.privileged import event_is_privileged
from audit.services import checkpoint_create
from registry import services
from tests.fixtures_audit import broken, chained_row, verify

pytestmark = pytest.mark.django_db

GRANTS = "/api/v1/models/fraud/grants"


def _last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()


def _stored(governed_dir) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(governed_dir.glob("audit/checkpoints/*.json"))]


@pytest.fixture
def granted(fraud, cast, client_for, governed_dir, django_capture_on_commit_callbacks) -> int:
    """The owner grants the outsider READ over HTTP (committed: its checkpoint follows); returns its seq."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(cast.owner).post(GRANTS, {"user": "outsider", "level": "READ"}, format="json")
    assert response.status_code == 201, response.content
    return AuditEvent.objects.get(action=Action.ACCESS_GRANTED).seq


def _ordinary_events(cast, count: int, capture) -> None:
    with capture(execute=True):
        for value in range(count):
            services.registered_model_tag_set(actor=cast.owner, name="fraud", key="k", value=str(value))


def test_a_privileged_change_is_anchored_in_the_governed_store_right_after_it_commits(granted, governed_dir):
    stored = _stored(governed_dir)
    assert [(d["seq"], d["algorithm"]) for d in stored] == [(granted, "ed25519")]
    assert stored[0]["hash"] == chained_row(granted)["hash"]
    assert AuditEvent.objects.get(seq=granted + 1).action == Action.CHECKPOINT_CREATED
    assert "audit chain OK" in verify()
    assert "1 in the governed store" in verify()


def test_ordinary_changes_are_not_checkpointed_one_by_one(
    fraud, cast, governed_dir, django_capture_on_commit_callbacks
):
    _ordinary_events(cast, 3, django_capture_on_commit_callbacks)
    assert not AuditCheckpoint.objects.exists()
    assert _stored(governed_dir) == []


def test_several_privileged_events_in_one_transaction_get_one_checkpoint(
    fraud, cast, governed_dir, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from accounts import services as account_services

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for user in ("outsider", "editor"):
            account_services.grant_add(
                actor=cast.owner,
                model_name="fraud",
                principal=account_services.Principal("user", user),
                level="READ",
            )
    assert AuditCheckpoint.objects.count() == 1
    assert (
        AuditCheckpoint.objects.get().seq
        == AuditEvent.objects.filter(action=Action.ACCESS_GRANTED).last().seq
    )


def test_rewritten_history_with_recomputed_hashes_and_no_checkpoint_rows_is_named(
    granted, cast, tamper, django_capture_on_commit_callbacks
):
    _ordinary_events(cast, 2, django_capture_on_commit_callbacks)
    # Frame someone else for the grant, recompute every hash from it on, move the head, and delete
    # every checkpoint row: the database alone is consistent again.
    previous_hash = chained_row(granted - 1)["hash"]
    for seq in range(granted, _last_seq() + 1):
        row = {**chained_row(seq), "prev_hash": previous_hash}
        if seq == granted:
            row["actor_username"] = "editor"
        row["hash"] = event_hash(row)
        tamper(
            "UPDATE audit_auditevent SET actor_username = %s, prev_hash = %s, hash = %s WHERE seq = %s",
            [row["actor_username"], row["prev_hash"], row["hash"], seq],
        )
        previous_hash = row["hash"]
    ChainHead.objects.filter(pk=1).update(hash=previous_hash)
    tamper("DELETE FROM audit_auditcheckpoint")
    tamper("DELETE FROM audit_auditevent WHERE action = %s", [Action.CHECKPOINT_CREATED.value])
    _renumber_and_rechain()
    assert "audit chain OK" in verify("--skip-store")  # what the database alone says
    message = broken()
    assert f"BROKEN at seq {granted} (rewritten_history)" in message
    assert "(deleted_checkpoint)" in message


def _renumber_and_rechain() -> None:
    """Close the gaps deleted rows left (renumber, recompute hashes), as a thorough attacker would."""
    from django.db import connection

    from tests.fixtures_audit import audit_triggers_suspended

    with audit_triggers_suspended(), connection.cursor() as cursor:
        previous_hash = "0" * 64
        seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
        for new_seq, old_seq in enumerate(seqs, start=1):
            row = {**chained_row(old_seq), "seq": new_seq, "prev_hash": previous_hash}
            row["hash"] = event_hash(row)
            cursor.execute(
                "UPDATE audit_auditevent SET seq = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                [new_seq, row["prev_hash"], row["hash"], old_seq],
            )
            previous_hash = row["hash"]
        ChainHead.objects.filter(pk=1).update(seq=len(seqs), hash=previous_hash)


def test_a_cut_tail_with_the_head_moved_back_is_named(
    granted, cast, tamper, django_capture_on_commit_callbacks
):
    _ordinary_events(cast, 3, django_capture_on_commit_callbacks)
    # Erase the grant and everything after it, and the checkpoint rows that signed it; move the head back.
    tamper("DELETE FROM audit_auditevent WHERE seq >= %s", [granted])
    tamper("DELETE FROM audit_auditcheckpoint WHERE seq >= %s", [granted])
    before = chained_row(granted - 1)
    ChainHead.objects.filter(pk=1).update(seq=before["seq"], hash=before["hash"])
    assert "audit chain OK" in verify("--skip-store")  # what the database alone says
    message = broken()
    assert f"BROKEN at seq {granted} (cut_tail)" in message
    assert f"the chain ends at seq {granted - 1}" in message
    assert "(deleted_checkpoint)" in message


def test_deleted_checkpoint_rows_are_named(granted, tamper):
    tamper("DELETE FROM audit_auditcheckpoint")
    message = broken()
    assert f"BROKEN at seq {granted} (deleted_checkpoint)" in message
    assert f"BROKEN at seq {granted + 1} (checkpoint_event_without_row)" in message


def test_a_checkpoint_event_without_its_row_is_named_even_without_a_store_copy(fraud, cast, tamper):
    checkpoint = checkpoint_create(actor=cast.owner)  # the test's transaction never commits: no copy
    event_seq = AuditEvent.objects.get(action=Action.CHECKPOINT_CREATED).seq
    tamper("DELETE FROM audit_auditcheckpoint WHERE id = %s", [checkpoint.pk])
    message = broken()
    assert f"BROKEN at seq {event_seq} (checkpoint_event_without_row)" in message
    assert f"checkpoint id {checkpoint.pk}" in message


def test_an_unreadable_governed_store_fails_verification(granted, settings):
    settings.QUORUM_GOVERNED_STORE = "ftp://nowhere"
    assert "(store_unreadable)" in broken()


def test_the_privileged_list_covers_governed_targets_only(fraud, cast):
    from workflows import services as workflow_services

    workflow_services.promotion_policy_set(
        actor=cast.admin, name=None, target_kind="alias", target="champion"
    )
    alias = {"action": Action.ALIAS_SET, "registered_model_id": fraud.pk, "before": {"alias": "champion"}}
    assert event_is_privileged({**alias, "after": {"alias": "champion", "version": 2}})
    assert not event_is_privileged({**alias, "before": None, "after": {"alias": "candidate", "version": 2}})
    stage = {"action": Action.VERSION_STAGE_CHANGED, "registered_model_id": fraud.pk}
    assert not event_is_privileged({**stage, "before": {"stage": "None"}, "after": {"stage": "Archived"}})
    assert event_is_privileged({"action": Action.ACCESS_REVOKED})
    assert not event_is_privileged({"action": Action.MODEL_TAG_SET})


@pytest.mark.django_db(transaction=True)
def test_a_committed_grant_is_anchored_and_a_cut_tail_found(fraud, cast, client_for, governed_dir, tamper):
    """The same attack without captured callbacks: real commits (PostgreSQL seals at COMMIT)."""
    from django.db import transaction

    response = client_for(cast.owner).post(GRANTS, {"user": "outsider", "level": "READ"}, format="json")
    assert response.status_code == 201
    granted = AuditEvent.objects.get(action=Action.ACCESS_GRANTED).seq
    assert [d["seq"] for d in _stored(governed_dir)] == [granted]
    assert "audit chain OK" in verify()
    with transaction.atomic():
        tamper("DELETE FROM audit_auditevent WHERE seq >= %s", [granted])
        tamper("DELETE FROM audit_auditcheckpoint")
        before = chained_row(granted - 1)
        ChainHead.objects.filter(pk=1).update(seq=before["seq"], hash=before["hash"])
    assert f"BROKEN at seq {granted} (cut_tail)" in broken()


def test_a_checkpoint_stored_while_verifying_is_left_for_the_next_run(granted, cast, monkeypatch):
    from audit import checkpoint_store
    from audit.checkpoint_store import checkpoint_publish

    names = checkpoint_store.store_checkpoint_names

    def names_after_a_concurrent_checkpoint():
        # Between the run's snapshot of the chain and its listing of the store, another request
        # commits a change and its checkpoint reaches the store: it signs a longer chain than the
        # one being verified, and must not be taken for a cut tail.
        services.registered_model_tag_set(actor=cast.owner, name="fraud", key="k", value="late")
        checkpoint_publish(checkpoint_create(actor=cast.owner).pk)
        yield from names()

    monkeypatch.setattr(checkpoint_store, "store_checkpoint_names", names_after_a_concurrent_checkpoint)
    assert "audit chain OK" in verify()
    monkeypatch.setattr(checkpoint_store, "store_checkpoint_names", names)
    assert "2 in the governed store" in verify()


def test_with_a_broker_the_checkpoint_after_a_privileged_change_is_a_task(
    granted, cast, client_for, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from audit import tasks

    queued = []
    monkeypatch.setattr(tasks.audit_checkpoint_after_change, "delay", lambda: queued.append(True))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    before = AuditCheckpoint.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(cast.owner).post(GRANTS, {"user": "editor", "level": "READ"}, format="json")
    assert response.status_code == 201
    assert queued == [True]  # published once the change committed, not run in the request
    assert AuditCheckpoint.objects.count() == before
    with django_capture_on_commit_callbacks(execute=True):
        seq = tasks.audit_checkpoint_after_change()  # what the worker runs
    assert seq == AuditEvent.objects.filter(action=Action.ACCESS_GRANTED).last().seq
    assert AuditCheckpoint.objects.count() == before + 1
    assert "audit chain OK" in verify()
