"""The approval workflow through the native API: policies, four-eyes, quorum, expiry, refusals, audit."""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone
from guardian.shortcuts import remove_perm

from access.grants import LEVEL_CODENAMES, Level
from accounts.models import Team
from artifacts.models import ArtifactJob, ArtifactManifest
from audit.models import Action, AuditEvent
from registry import services
from registry.errors import PermissionDenied
from registry.models import AliasAssignment, ModelVersion
from tests.conftest import make_user
from tests.fixtures_workflow import (
    grant_levels,
    pipeline_run_queued,
    signature_of,
    signed,
    version_from_local_artifacts,
)
from workflows import services as workflow_services
from workflows.models import Approval, RequestState, TransitionRequest

pytestmark = pytest.mark.django_db


def stage_of(version: int) -> str:
    return ModelVersion.objects.get(model__name="scoring", version=version).stage


def events(action: Action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def approve(client_for, user, request_id: int, comment: str = "looks good"):
    client = client_for(user)
    return client.post(f"/api/v1/requests/{request_id}/approve", signed(client, comment), format="json")


def test_request_is_filed_with_reason_and_evidence_and_audited(governed, client_for):
    r = client_for(governed.editor).post(
        "/api/v1/models/scoring/requests",
        {"version": 2, "stage": "production", "reason": "beats v1 on AUC"},
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["state"], body["target"], body["from_stage"], body["requester"]) == (
        "pending",
        "Production",
        "None",
        "editor",
    )
    # The pipeline's evidence as it stood: validated, with the digest of every file and the governed copy.
    evidence = body["evidence"]
    assert (evidence["pipeline"], evidence["validated"], evidence["validation_state"]) == (
        True,
        True,
        "validated",
    )
    assert re.fullmatch(r"[0-9a-f]{64}", evidence["artifact_digest"])
    assert evidence["governed_location"].startswith("file://")
    assert body["still_needed"] == ["2 more approvals (production rank)"]
    [event] = events(Action.REQUEST_CREATED)
    assert (event.actor_username, event.model_name, event.version, event.reason) == (
        "editor",
        "scoring",
        2,
        "beats v1 on AUC",
    )


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"version": 2, "stage": "Production", "reason": "  "}, "reason is required"),
        ({"version": 2, "reason": "x"}, "exactly one target"),
        ({"version": 2, "stage": "Production", "alias": "champion", "reason": "x"}, "exactly one target"),
        ({"version": 2, "stage": "Prod", "reason": "x"}, "Invalid Model Version stage"),
        ({"version": 2, "stage": "Archived", "reason": "x"}, "not governed"),
        ({"version": 2, "alias": "v3", "reason": "x"}, "reserved"),
        ({"version": "two", "stage": "Production", "reason": "x"}, "valid integer"),
    ],
)
def test_bad_requests_get_a_clear_400(governed, client_for, payload, message):
    r = client_for(governed.editor).post("/api/v1/models/scoring/requests", payload, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in r.json()["message"]


def test_second_open_request_for_the_same_target_is_refused(governed, file_request, client_for):
    file_request(2)
    r = client_for(governed.editor).post(
        "/api/v1/models/scoring/requests",
        {"version": 2, "stage": "Production", "reason": "again"},
        format="json",
    )
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_readers_may_request_and_strangers_do_not_see_the_model(governed, cast, client_for):
    r = client_for(governed.outsider).post(
        "/api/v1/models/scoring/requests", {"version": 2, "stage": "Production", "reason": "x"}, format="json"
    )
    assert r.status_code == 201 and r.json()["requester"] == "outsider"
    stranger = make_user("stranger")
    r = client_for(stranger).post(
        "/api/v1/models/scoring/requests", {"version": 3, "stage": "Production", "reason": "x"}, format="json"
    )
    assert r.status_code == 404
    r = client_for(stranger).get("/api/v1/requests")
    assert r.status_code == 200 and r.json()["results"] == []


def test_requesters_own_approval_is_refused(governed, file_request, client_for, grant):
    request = file_request(2, by=governed.approver)  # approvers may request, never self-approve
    r = approve(client_for, governed.approver, request.pk)
    assert r.status_code == 403
    assert "Four-eyes" in r.json()["message"]
    assert not Approval.objects.exists() and not events(Action.REQUEST_APPROVED)


def test_version_author_may_not_approve_by_default(governed, file_request, client_for, grant):
    editor = grant(governed.editor, Level.APPROVE_PRODUCTION, governed.model)
    request = file_request(2, by=governed.approver)
    r = approve(client_for, editor, request.pk)
    assert r.status_code == 403 and "author" in r.json()["message"]


def test_approval_without_the_ranks_permission_is_refused(governed, file_request, client_for):
    request = file_request(2)
    r = approve(client_for, governed.outsider, request.pk)
    assert r.status_code == 403
    assert "APPROVE_PRODUCTION" in r.json()["message"]


def test_staging_rank_does_not_count_for_production(governed, file_request, client_for, cast):

    staging_only = grant_levels(make_user("stager"), governed.model, Level.APPROVE_STAGING)
    production = file_request(2)
    assert approve(client_for, staging_only, production.pk).status_code == 403
    staging = file_request(3, stage="Staging")
    r = approve(client_for, staging_only, staging.pk)
    assert r.status_code == 200 and r.json()["state"] == "applied"
    assert stage_of(3) == "Staging"


def test_two_distinct_approvals_apply_production_in_one_step_with_audit(governed, file_request, client_for):
    request = file_request(2, archive_existing_versions=True)
    ModelVersion.objects.filter(model=governed.model, version=1).update(stage="Production")
    request.from_stage = "None"
    r = approve(client_for, governed.approver, request.pk)
    assert r.status_code == 200 and r.json()["state"] == "pending"
    assert r.json()["still_needed"] == ["1 more approval (production rank)"]
    again = approve(client_for, governed.approver, request.pk)
    assert again.status_code == 403 and "already approved" in again.json()["message"]
    assert stage_of(2) == "None"
    r = approve(client_for, governed.second_approver, request.pk, "agreed")
    assert r.status_code == 200, r.content
    assert r.json()["state"] == "applied"
    assert [a["approver"] for a in r.json()["approvals"]] == ["approver", "second_approver"]
    assert (stage_of(2), stage_of(1)) == ("Production", "Archived")
    [applied] = events(Action.REQUEST_APPLIED)
    [stage_change] = events(Action.VERSION_STAGE_CHANGED)
    assert stage_change.seq < applied.seq and stage_change.after["archived_versions"] == [1]
    assert "approver, second_approver" in applied.reason


def test_champion_alias_applies_through_request_and_keeps_history(governed, file_request, client_for):
    request = file_request(3, alias="champion")
    approve(client_for, governed.approver, request.pk)
    r = approve(client_for, governed.second_approver, request.pk)
    assert r.json()["state"] == "applied"
    r = client_for(governed.outsider).get("/api/v1/resolve", {"uri": "models:/scoring@champion"})
    assert r.json()["version"] == 3
    assert AliasAssignment.objects.filter(model=governed.model, alias="champion").count() == 1


def test_required_team_must_be_among_the_approvers(governed, file_request, client_for, cast):
    risk = Team.objects.create(group=Group.objects.create(name="model-risk"))
    r = client_for(governed.owner).put(
        "/api/v1/models/scoring/policies/stage/Production",
        {"required_approvals": 2, "required_team": "model-risk"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert events(Action.POLICY_CHANGED)[-1].after["required_team"] == "model-risk"

    risk_officer = grant_levels(make_user("risk_officer"), governed.model, Level.APPROVE_PRODUCTION)
    risk_officer.groups.add(risk.group)
    request = file_request(2)
    approve(client_for, governed.approver, request.pk)
    r = approve(client_for, governed.second_approver, request.pk)
    assert r.json()["state"] == "pending"
    assert r.json()["still_needed"] == ["an approval from team 'model-risk'"]
    r = approve(client_for, risk_officer, request.pk)
    assert r.json()["state"] == "applied"


def test_n_of_m_counts_distinct_people(governed, file_request, client_for, cast):

    workflow_services.promotion_policy_set(
        actor=governed.owner, name="scoring", target_kind="stage", target="Production", required_approvals=3
    )
    third = grant_levels(make_user("third"), governed.model, Level.APPROVE_PRODUCTION)
    request = file_request(2)
    for user, expected in (
        (governed.approver, "pending"),
        (governed.second_approver, "pending"),
        (third, "applied"),
    ):
        assert approve(client_for, user, request.pk).json()["state"] == expected
    assert Approval.objects.filter(request=request).count() == 3


def test_expired_approvals_no_longer_count(governed, file_request, client_for):
    request = file_request(2)
    approve(client_for, governed.approver, request.pk)
    Approval.objects.filter(request=request).update(expires_at=timezone.now() - timedelta(seconds=1))
    r = approve(client_for, governed.second_approver, request.pk)
    assert r.json()["state"] == "pending"
    assert r.json()["still_needed"] == ["1 more approval (production rank)"]
    assert stage_of(2) == "None"


def test_permission_revoked_between_approval_and_apply_drops_the_approval(governed, file_request, client_for):
    request = file_request(2)
    approve(client_for, governed.approver, request.pk)
    remove_perm(LEVEL_CODENAMES[Level.APPROVE_PRODUCTION], governed.approver, governed.model)
    r = approve(client_for, governed.second_approver, request.pk)
    assert r.json()["state"] == "pending"
    assert stage_of(2) == "None"


def test_pending_requests_expire(governed, file_request):
    request = file_request(2)
    TransitionRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert workflow_services.transition_requests_expire() == 1
    request.refresh_from_db()
    assert request.state == RequestState.EXPIRED
    assert events(Action.REQUEST_EXPIRED)[0].actor_username == "system"
    fresh = file_request(3)
    out = io.StringIO()
    call_command("workflow_expire", stdout=out)
    assert out.getvalue().strip() == "Expired 0 pending transition request(s)."
    fresh.refresh_from_db()
    assert fresh.state == RequestState.PENDING


def test_digest_change_after_approval_fails_the_request(governed, file_request, client_for):
    # Someone with database access rewrites the validated digest between the two approvals.
    v2 = ModelVersion.objects.get(model=governed.model, version=2)
    request = file_request(2)
    approve(client_for, governed.approver, request.pk)
    ArtifactManifest.objects.filter(version=v2).update(digest="b" * 64)
    r = approve(client_for, governed.second_approver, request.pk)
    assert r.status_code == 200
    assert r.json()["state"] == "failed"
    assert "digest changed" in r.json()["state_reason"]
    assert stage_of(2) == "None"
    assert events(Action.REQUEST_FAILED)[0].reason == r.json()["state_reason"]


def test_unvalidated_artifacts_hold_a_production_request(governed, file_request, client_for, tmp_path):
    folder = tmp_path / "scoring" / "broken"
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(b"no MLmodel beside it")
    version = services.model_version_create(actor=governed.editor, name="scoring", source=str(folder))
    pipeline_run_queued()
    assert ArtifactManifest.objects.get(version=version).state == "failed"
    request = file_request(version.version)
    assert request.evidence["validated"] is False
    # Production's approvals are signatures over the artifacts' digest, which a failed validation never set.
    r = approve(client_for, governed.approver, request.pk)
    assert r.status_code == 409 and "digest is not known yet" in r.json()["message"]
    r = client_for(governed.owner).get(f"/api/v1/requests/{request.pk}")
    assert r.json()["state"] == "pending"
    assert any("validated artifacts" in m for m in r.json()["still_needed"])


def test_quorum_hands_over_to_the_pipeline_which_applies_after_the_copy(
    governed, file_request, client_for, local_artifact_store
):
    # Validated, but not yet in the governed store: the quorum queues the copy and waits for it.
    version = version_from_local_artifacts(governed.editor, "scoring", local_artifact_store / "scoring" / "4")
    request = file_request(version.version)
    approve(client_for, governed.approver, request.pk)
    r = approve(client_for, governed.second_approver, request.pk)
    assert r.json()["state"] == "applying"
    copy = ArtifactJob.objects.get(version=version, kind="copy")
    assert (copy.request_id, copy.status) == (request.pk, "queued")
    assert stage_of(version.version) == "None"
    pipeline_run_queued()  # the worker copies and verifies every object; the workflow applies
    request.refresh_from_db()
    assert request.state == RequestState.APPLIED and stage_of(version.version) == "Production"
    assert workflow_services.transition_request_apply(request.pk).state == RequestState.APPLIED  # idempotent
    assert len(events(Action.REQUEST_APPLIED)) == 1


def test_version_moved_since_request_fails_instead_of_applying_stale_state(
    governed, file_request, client_for
):
    request = file_request(2, stage="Production")
    ModelVersion.objects.filter(pk=request.version_id).update(stage="Archived")
    approve(client_for, governed.approver, request.pk)
    r = approve(client_for, governed.second_approver, request.pk)
    assert r.json()["state"] == "failed" and "moved from None to Archived" in r.json()["state_reason"]


def test_reject_ends_the_request_and_cancel_is_for_requester_or_manager(governed, file_request, client_for):
    request = file_request(2)
    r = client_for(governed.outsider).post(
        f"/api/v1/requests/{request.pk}/reject",
        {"comment": "no", "signature": signature_of(governed.outsider)},
        format="json",
    )
    assert r.status_code == 403
    r = client_for(governed.approver).post(
        f"/api/v1/requests/{request.pk}/reject",
        {"comment": "", "signature": signature_of(governed.approver)},
        format="json",
    )
    assert r.status_code == 400
    approver = client_for(governed.approver)
    r = approver.post(
        f"/api/v1/requests/{request.pk}/reject", signed(approver, "calibration is off"), format="json"
    )
    assert r.json()["state"] == "rejected"
    assert approve(client_for, governed.second_approver, request.pk).status_code == 409
    other = file_request(3)
    r = client_for(governed.approver).post(f"/api/v1/requests/{other.pk}/cancel", {}, format="json")
    assert r.status_code == 403
    r = client_for(governed.editor).post(
        f"/api/v1/requests/{other.pk}/cancel", {"comment": "oops"}, format="json"
    )
    assert r.json()["state"] == "cancelled"
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="request.").order_by("seq")] == [
        "request.created",
        "request.rejected",
        "request.created",
        "request.cancelled",
    ]


def test_direct_set_of_governed_targets_is_refused_on_the_native_api(governed, client_for):
    api = client_for(governed.owner)
    r = api.post("/api/v1/models/scoring/versions/2/stage", {"stage": "Production"}, format="json")
    assert r.status_code == 403
    assert r.json()["error_code"] == "PERMISSION_DENIED"
    assert "POST /api/v1/models/scoring/requests" in r.json()["message"]
    r = api.put("/api/v1/models/scoring/aliases/champion", {"version": 2}, format="json")
    assert r.status_code == 403 and "approved transition request" in r.json()["message"]
    # ungoverned targets keep working for EDIT holders
    assert (
        api.put("/api/v1/models/scoring/aliases/challenger", {"version": 2}, format="json").status_code == 200
    )
    assert (
        api.post("/api/v1/models/scoring/versions/2/stage", {"stage": "Archived"}, format="json").status_code
        == 200
    )
    assert (
        api.put("/api/v1/models/scoring/aliases/challenger", {"version": 2}, format="json").status_code == 200
    )
    timeline = api.get("/api/v1/models/scoring/versions/2/timeline").json()["timeline"]
    assert [(e["activity_type"], e["from_stage"], e["to_stage"], e["user"]) for e in timeline] == [
        ("APPLIED_TRANSITION", "None", "@challenger", "owner"),
        ("APPLIED_TRANSITION", "None", "Archived", "owner"),
    ]


def test_a_model_policy_can_open_a_target(governed, client_for, cast):
    # Staging is governed by the organisation (the embedded default): opening it for one model loosens
    # the floor, which only a superuser may do (issue 19, attack 2); the owner is refused.
    with pytest.raises(PermissionDenied):
        workflow_services.promotion_policy_set(
            actor=governed.owner, name="scoring", target_kind="stage", target="Staging", governed=False
        )
    workflow_services.promotion_policy_set(
        actor=cast.admin, name="scoring", target_kind="stage", target="Staging", governed=False
    )
    r = client_for(governed.editor).post(
        "/api/v1/models/scoring/versions/2/stage", {"stage": "Staging"}, format="json"
    )
    assert r.status_code == 200
    r = client_for(governed.editor).put("/api/v1/models/scoring/policies/stage/Staging", {}, format="json")
    assert r.status_code == 403  # policies need MANAGE


def test_timeline_lists_every_step(governed, file_request, client_for):
    request = file_request(2)
    client_for(governed.outsider).post(
        f"/api/v1/requests/{request.pk}/comments", {"comment": "why now?"}, format="json"
    )
    approve(client_for, governed.approver, request.pk)
    approve(client_for, governed.second_approver, request.pk)
    r = client_for(governed.outsider).get("/api/v1/models/scoring/versions/2/timeline")
    assert r.status_code == 200
    assert [(e["activity_type"], e["user"]) for e in r.json()["timeline"]] == [
        ("REQUESTED_TRANSITION", "editor"),
        ("NEW_COMMENT", "outsider"),
        ("APPROVED_REQUEST", "approver"),
        ("APPROVED_REQUEST", "second_approver"),
        ("APPLIED_TRANSITION", None),
    ]
    assert events(Action.REQUEST_COMMENTED)[0].reason == "why now?"


def test_actionable_list_is_the_approvers_queue(governed, file_request, client_for):
    request = file_request(2)
    r = client_for(governed.approver).get("/api/v1/requests", {"actionable": "true"})
    assert [row["id"] for row in r.json()["results"]] == [request.pk]
    approve(client_for, governed.approver, request.pk)
    r = client_for(governed.approver).get("/api/v1/requests", {"actionable": "true"})
    assert r.json()["results"] == []
    assert client_for(governed.editor).get("/api/v1/requests", {"actionable": "1"}).json()["results"] == []
    assert client_for(governed.editor).get("/api/v1/requests", {"state": "bogus"}).status_code == 400


def test_point_in_time_alias_resolution(governed, file_request, client_for):
    for version in (1, 3):
        request = file_request(version, alias="champion")
        approve(client_for, governed.approver, request.pk)
        approve(client_for, governed.second_approver, request.pk)
    first, second = AliasAssignment.objects.filter(model=governed.model, alias="champion").order_by(
        "assigned_at"
    )
    api = client_for(governed.outsider)

    def at(moment) -> object:
        return api.get("/api/v1/resolve", {"uri": "models:/scoring@champion", "as_of": moment.isoformat()})

    assert at(first.assigned_at).json()["version"] == 1
    assert at(second.assigned_at - timedelta(microseconds=1)).json()["version"] == 1
    assert at(second.assigned_at).json()["version"] == 3
    assert at(first.assigned_at - timedelta(seconds=1)).status_code == 404
    assert (
        api.get("/api/v1/resolve", {"uri": "models:/scoring@champion", "as_of": "yesterday"}).status_code
        == 400
    )


def mlflow_post(client, user, endpoint: str, body: dict):
    """Call an MLflow route as the mlflow client does: JSON body, HTTP Basic credentials."""
    import base64

    token = base64.b64encode(f"{user.username}:{user.username}-pw-123!".encode()).decode()
    return client.post(
        f"/api/2.0/mlflow/{endpoint}",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {token}",
    )


def test_direct_set_of_governed_targets_is_refused_on_the_mlflow_routes(governed, client):
    r = mlflow_post(
        client,
        governed.owner,
        "model-versions/transition-stage",
        {"name": "scoring", "version": "2", "stage": "Production"},
    )
    assert r.status_code == 403, r.content
    assert r.json()["error_code"] == "PERMISSION_DENIED"
    assert "transition-requests/create" in r.json()["message"]
    r = mlflow_post(
        client,
        governed.owner,
        "registered-models/alias",
        {"name": "scoring", "alias": "champion", "version": "2"},
    )
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
    assert ModelVersion.objects.get(model=governed.model, version=2).stage == "None"
    r = mlflow_post(
        client,
        governed.owner,
        "registered-models/alias",
        {"name": "scoring", "alias": "shadow", "version": "2"},
    )
    assert r.status_code == 200, r.content


def test_request_lists_take_a_fixed_number_of_queries(
    governed, file_request, client_for, django_assert_max_num_queries
):
    api = client_for(governed.outsider)
    file_request(1)
    approve(client_for, governed.approver, file_request(2, stage="Staging").pk)

    def count(path: str) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert api.get(path).status_code == 200
        return len(captured)

    few = {path: count(path) for path in ("/api/v1/requests", "/api/v1/models/scoring/requests")}
    for version in (2, 3):
        request = file_request(version, alias="champion")
        approve(client_for, governed.approver, request.pk)
    file_request(3, stage="Production")
    for path, queries in few.items():
        with django_assert_max_num_queries(queries):
            assert len(api.get(path).json()["results"]) == 5


def test_superusers_set_organisation_defaults_that_models_without_a_policy_follow(governed, cast, client_for):
    body = {"required_approvals": 1, "rank": "production"}
    r = client_for(governed.owner).put("/api/v1/policies/stage/Production", body, format="json")
    assert r.status_code == 403
    r = client_for(cast.admin).put("/api/v1/policies/stage/Production", body, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["name"] is None and r.json()["require_validated_artifacts"] is True
    assert [
        p["target"] for p in client_for(governed.outsider).get("/api/v1/policies").json()["defaults"]
    ] == ["Production"]
    event = events(Action.POLICY_CHANGED)[-1]
    assert (event.actor_username, event.model_name, event.after["required_approvals"]) == ("admin", "", 1)
    request = workflow_services.transition_request_create(
        actor=governed.editor, name="scoring", version=2, target_kind="stage", target="Production", reason="r"
    )
    assert approve(client_for, governed.approver, request.pk).json()["state"] == "applied"
    # champion keeps the embedded default: configuring Production opened nothing else
    r = client_for(governed.owner).put(
        "/api/v1/models/scoring/aliases/champion", {"version": 2}, format="json"
    )
    assert r.status_code == 403


@pytest.mark.parametrize("request_id", ["0", "99999999999999999999"])
def test_out_of_range_request_ids_are_404(governed, client_for, request_id):
    api = client_for(governed.approver)
    assert api.get(f"/api/v1/requests/{request_id}").status_code == 404
    r = api.post(f"/api/v1/requests/{request_id}/approve", {"comment": "x"}, format="json")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_beat_schedule_expires_stale_requests_as_the_system_task(governed, file_request, settings):
    from workflows.tasks import transition_requests_expire_periodic

    entry = settings.CELERY_BEAT_SCHEDULE["workflow-requests-expire"]
    assert entry["task"] == transition_requests_expire_periodic.name
    request = file_request(2)
    TransitionRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert transition_requests_expire_periodic.delay().get() == 1
    request.refresh_from_db()
    assert request.state == RequestState.EXPIRED
    event = events(Action.REQUEST_EXPIRED)[0]
    assert (event.actor_username, event.actor_kind, event.actor_detail) == (
        "system",
        "system",
        "registry.workflows.tasks.transition_requests_expire_periodic",
    )


def test_a_superuser_deciding_without_an_approve_grant_is_audited_as_superuser_power(
    governed, file_request, client_for, cast
):
    from tests.fixtures_workflow import grant_levels

    grant_levels(
        cast.admin, governed.model
    )  # READ through a grant: only the approve level is superuser power
    request = file_request(2)
    assert approve(client_for, cast.admin, request.pk).status_code == 200
    power = events(Action.SUPERUSER_ACTION)
    assert [(e.actor_username, e.model_name) for e in power] == [("admin", "scoring")]
    assert power[0].after["permission_not_granted"] == "approve_production_registeredmodel"
    # A grant holder approving is ordinary: no superuser event.
    assert approve(client_for, governed.approver, request.pk).status_code == 200
    assert len(events(Action.SUPERUSER_ACTION)) == 1
