"""Evidence approvers decide on (issue 21): stale evidence never applies, a snapshot is what was
shown, the comparison says what differs, and an unreachable tracking server is said so."""

import socket

import pytest

from registry import services
from registry.errors import Conflict
from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, write_tree
from tests.fixtures_workflow import pipeline_run_queued, signing_of
from workflows import evidence as request_evidence
from workflows import rules
from workflows import services as workflow_services
from workflows.models import EvidenceSnapshot, RequestState

pytestmark = pytest.mark.django_db

VALIDATED = {
    "validated": True,
    "artifact_digest": "a" * 64,
    "validation_state": "validated",
    "tampered_at": None,
}


def test_staleness_is_one_rule_over_the_pipeline_facts():
    assert rules.evidence_staleness(VALIDATED, dict(VALIDATED)) is None
    assert rules.evidence_staleness(None, VALIDATED) == "no evidence was taken for this request"
    pending = {
        "validated": False,
        "artifact_digest": None,
        "validation_state": "pending",
        "tampered_at": None,
    }
    why = rules.evidence_staleness(pending, VALIDATED)
    assert "validated" in why and "artifact digest" in why and "validation state" in why
    # Extra keys (object counts, messages) do not make evidence stale; the currency keys do.
    assert rules.evidence_staleness({**VALIDATED, "object_count": 3}, VALIDATED) is None
    assert rules.evidence_staleness(VALIDATED, {**VALIDATED, "tampered_at": "2026-01-01"}) is not None


def test_stale_evidence_blocks_the_verdict_even_with_every_approval():
    policy = rules.Policy("stage", "Production", required_approvals=1, rank=rules.PRODUCTION_RANK)
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    approval = rules.ApprovalFacts(
        approver_id=5,
        approver_name="ann",
        expires_at=now + timedelta(hours=1),
        holds_rank=True,
        in_required_team=True,
    )
    args = {"requester_id": 1, "creator_id": 2, "now": now}
    stale = {**VALIDATED, "artifact_digest": "b" * 64}
    verdict = rules.quorum_verdict(policy, [approval], evidence=VALIDATED, shown=stale, **args)
    assert not verdict.may_apply and "current evidence" in verdict.reason
    assert rules.quorum_verdict(policy, [approval], evidence=VALIDATED, shown=VALIDATED, **args).may_apply


def test_comparison_gives_metric_deltas_with_direction_params_that_differ_and_dependency_changes():
    candidate = {
        "version": 2,
        "run": {
            "metrics": {"rmse": 0.5, "r2": 0.9, "new_only": 1.0},
            "params": {"alpha": "0.1", "fit": "True"},
        },
        "model": {"requirements": ["scikit-learn==1.5.0", "numpy==2.0"], "signature": {"inputs": "[1]"}},
    }
    holder = {
        "version": 1,
        "run": {"metrics": {"rmse": 0.7, "r2": 0.9}, "params": {"alpha": "1.0", "fit": "True", "old": "x"}},
        "model": {"requirements": ["scikit-learn==1.4.2", "pandas"], "signature": {"inputs": "[0]"}},
    }
    cmp = rules.evidence_comparison(candidate, holder)
    rmse = next(m for m in cmp["metrics"] if m["key"] == "rmse")
    assert rmse["direction"] == "down" and rmse["better"] is True and rmse["delta"] == pytest.approx(-0.2)
    assert next(m for m in cmp["metrics"] if m["key"] == "r2")["direction"] == "same"
    assert next(m for m in cmp["metrics"] if m["key"] == "new_only")["delta"] is None
    assert {p["key"] for p in cmp["params_differing"]} == {"alpha", "old"}
    assert cmp["params_same"] == ["fit"]
    assert cmp["requirements"] == {
        "added": ["numpy==2.0"],
        "removed": ["pandas"],
        "changed": [["scikit-learn==1.4.2", "scikit-learn==1.5.0"]],
    }
    assert cmp["signature_changed"] is True
    assert rules.evidence_comparison(candidate, None)["signature_changed"] is False
    assert rules.metric_better_direction("val_accuracy") == "higher"
    assert rules.metric_better_direction("training_mean_squared_error") == "lower"
    assert rules.metric_better_direction("throughput") is None  # not guessed


def _version_not_yet_validated(actor, folder):
    write_tree(folder, model_files(big_bytes=2_000))
    return services.model_version_create(actor=actor, name="scoring", source=str(folder))


def test_request_filed_before_validation_does_not_apply_on_stale_evidence(
    governed, local_artifact_store, django_capture_on_commit_callbacks
):
    """The quickstart's demo: filed while validation was still queued ("Validated: no, digest
    unknown"), approved after validation finished. Before issue 21 the second approval applied it
    with the stale evidence on the page; now it waits for the refresh."""
    row = _version_not_yet_validated(governed.editor, local_artifact_store / "scoring" / "4")
    request = workflow_services.transition_request_create(
        actor=governed.editor, name="scoring", version=row.version, target_kind="stage",
        target="Production", reason="filed before validation",
    )  # fmt: skip
    assert request.evidence["validated"] is False and request.evidence["artifact_digest"] is None
    # A signature binds to the artifacts' digest: none can be given before validation knows it.
    with pytest.raises(Conflict, match="not known yet"):
        workflow_services.transition_request_approve(
            actor=governed.approver,
            request_id=request.pk,
            comment="ok",
            signing=signing_of(governed.approver),
        )
    pipeline_run_queued()  # validation finishes; its refresh waits for a commit that never comes here
    assert workflow_services.version_evidence(row)["validated"] is True
    workflow_services.transition_request_approve(
        actor=governed.approver, request_id=request.pk, comment="ok", signing=signing_of(governed.approver)
    )

    workflow_services.transition_request_approve(
        actor=governed.second_approver,
        request_id=request.pk,
        comment="ok too",
        signing=signing_of(governed.second_approver),
    )
    request.refresh_from_db()
    assert request.state == RequestState.PENDING  # was APPLIED before the fix, on evidence never shown
    assert ModelVersion.objects.get(pk=row.pk).stage == "None"
    verdict = workflow_services.selectors.request_verdict(request)
    assert any("current evidence" in need for need in verdict.missing)

    # The refresh (what the validation's commit runs) shows the current facts and lets it go on.
    with django_capture_on_commit_callbacks(execute=True):
        assert workflow_services.evidence_refresh(version_id=row.pk, outcome="validated") == 1
    request.refresh_from_db()
    assert request.evidence["validated"] is True and request.evidence["artifact_digest"]
    assert request.state in (RequestState.APPLIED, RequestState.APPLYING)
    assert EvidenceSnapshot.objects.filter(request=request, reason__startswith="validation finished").exists()


def test_validation_finishing_refreshes_open_requests_on_commit(
    governed, local_artifact_store, django_capture_on_commit_callbacks
):
    row = _version_not_yet_validated(governed.editor, local_artifact_store / "scoring" / "5")
    request = workflow_services.transition_request_create(
        actor=governed.editor, name="scoring", version=row.version, target_kind="stage",
        target="Staging", reason="filed before validation",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_run_queued()
    request.refresh_from_db()
    assert request.evidence["validated"] is True
    view = request_evidence.request_evidence_view(request)
    assert view["stale"] is False


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_unreachable_tracking_server_is_said_so_and_a_snapshot_keeps_what_was_shown(
    governed, file_request, settings, client_for
):
    ModelVersion.objects.filter(model__name="scoring", version=2).update(run_id="0" * 32)
    settings.QUORUM_MLFLOW_TRACKING_URI = f"http://127.0.0.1:{_closed_port()}"
    request = file_request(2)
    snapshot = request_evidence.snapshot_take(request.pk, "filed")
    assert snapshot.candidate["run"]["state"] == "unavailable"
    assert "did not answer" in snapshot.candidate["run"]["reason"] and snapshot.candidate["run"]["at"]
    answer = client_for(governed.approver).get(f"/api/v1/requests/{request.pk}").json()
    shown = answer["evidence_snapshot"]
    assert shown["state"] == "unavailable" and shown["stale"] is False
    assert shown["content_digest"] == snapshot.content_digest
    assert answer["evidence"]["validated"] is True  # the existing field is kept

    # Snapshots never change: a later one is another row, the first stays as approvers saw it.
    before = snapshot.candidate
    request_evidence.snapshot_take(request.pk, "refreshed")
    assert EvidenceSnapshot.objects.get(pk=snapshot.pk).candidate == before
    assert EvidenceSnapshot.objects.filter(request=request).count() == 2


def test_decided_request_compares_with_the_version_it_replaced(governed, file_request):
    for version in (1, 2):
        request = file_request(version)
        for approver in (governed.approver, governed.second_approver):
            workflow_services.transition_request_approve(
                actor=approver, request_id=request.pk, comment="ok", signing=signing_of(approver)
            )
        request.refresh_from_db()
        assert request.state == RequestState.APPLIED, request.state_reason
    assert request.replaced_version.version == 1  # recorded when decided; v2 holds Production now
    snapshot = request_evidence.snapshot_take(request.pk, "decided")
    assert snapshot.holder_version.version == 1
    assert request_evidence.request_evidence_view(request)["holder_is"] == "replaced"
