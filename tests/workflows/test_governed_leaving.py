"""Issue 19, attack 4: leaving a governed target is governed like entering it.

An EDIT holder archives the Production version or moves it to None; a MANAGE holder deletes
@champion, the version holding Production and @champion, or the model. Each is refused with the
error of the API it came through, naming the route to file a demotion or retirement request; such a
request (native, Databricks, admin queue) applies once approved. A version that was in a governed
target is never hard-deleted: it leaves a tombstone, and its requests and approvals stay visible.
"""

import pytest

from audit.models import Action, AuditEvent
from registry.models import ModelAlias, ModelVersion
from tests.fixtures_mlflow import basic_header
from tests.fixtures_workflow import signature_of, signing_of
from workflows import services as workflow_services
from workflows.models import RequestState, TransitionRequest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def approve_all(governed, request_id: int):
    for approver in (governed.approver, governed.second_approver):
        row = workflow_services.transition_request_approve(
            actor=approver, request_id=request_id, comment="ok", signing=signing_of(approver)
        )
    return row


@pytest.fixture
def in_production(governed, file_request):
    """Version 2 holds Production and @champion, each through an approved request."""
    for target in ({"stage": "Production"}, {"alias": "champion"}):
        assert approve_all(governed, file_request(2, **target).pk).state == RequestState.APPLIED
    return governed


def mlflow(user, password: str):
    def call(client, method: str, endpoint: str, body: dict):
        import json

        sender = getattr(client, method)
        return sender(
            f"/api/2.0/mlflow/{endpoint}",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=basic_header(user, password),
        )

    return call


def resolves(client_for, user, uri: str) -> int | None:
    r = client_for(user).get("/api/v1/resolve", {"uri": uri})
    return r.json()["version"] if r.status_code == 200 else None


@pytest.mark.parametrize("stage", ["Archived", "None"])
def test_an_editor_cannot_take_the_production_version_out_of_production(in_production, client_for, stage):
    r = client_for(in_production.editor).post(
        "/api/v1/models/scoring/versions/2/stage", {"stage": stage}, format="json"
    )
    assert r.status_code == 403, r.content
    assert "/api/v1/models/scoring/requests" in r.json()["message"]
    call = mlflow("editor", "editor-pw-123!")
    from django.test import Client

    r = call(
        Client(),
        "post",
        "model-versions/transition-stage",
        {"name": "scoring", "version": "2", "stage": stage},
    )
    assert r.status_code == 403
    assert r.json()["error_code"] == "PERMISSION_DENIED"
    assert "transition-requests/create" in r.json()["message"]
    assert resolves(client_for, in_production.outsider, "models:/scoring/Production") == 2


def test_a_manager_cannot_delete_the_champion_alias_the_version_or_the_model(in_production, client_for):
    from django.test import Client

    owner = client_for(in_production.owner)
    call = mlflow("owner", "owner-pw-123!")
    r = owner.delete("/api/v1/models/scoring/aliases/champion")
    assert r.status_code == 403 and '"remove": true' in r.json()["message"]
    r = call(Client(), "delete", "registered-models/alias", {"name": "scoring", "alias": "champion"})
    assert (r.status_code, r.json()["error_code"]) == (403, "PERMISSION_DENIED")
    for refused in (
        owner.delete("/api/v1/models/scoring/versions/2"),
        call(Client(), "delete", "model-versions/delete", {"name": "scoring", "version": "2"}),
        owner.delete("/api/v1/models/scoring"),
        call(Client(), "delete", "registered-models/delete", {"name": "scoring"}),
    ):
        assert refused.status_code == 403, refused.content
        assert "Archived" in refused.json()["message"]
    assert resolves(client_for, in_production.outsider, "models:/scoring@champion") == 2
    assert resolves(client_for, in_production.outsider, "models:/scoring/Production") == 2
    assert not AuditEvent.objects.filter(
        action__in=[Action.ALIAS_DELETED, Action.VERSION_DELETED, Action.MODEL_DELETED]
    ).exists()


def test_a_demotion_request_through_the_databricks_route_archives_once_approved(in_production, client_for):
    editor = client_for(in_production.editor)
    r = editor.post(
        "/api/2.0/mlflow/transition-requests/create",
        {"name": "scoring", "version": "2", "stage": "Archived", "comment": "retired: drift"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["request"]["to_stage"] == "Archived"
    request = TransitionRequest.objects.get(version__version=2, target="Archived")
    assert (request.from_stage, request.state) == ("Production", RequestState.PENDING)
    # Leaving Production is governed by Production's policy: production-rank approvers, four eyes.
    assert (
        editor.post(
            "/api/2.0/mlflow/transition-requests/approve",
            {"name": "scoring", "version": "2", "stage": "Archived", "comment": "mine"},
            format="json",
        ).status_code
        == 403
    )
    for approver in (in_production.approver, in_production.second_approver):
        r = client_for(approver).post(
            "/api/2.0/mlflow/transition-requests/approve",
            {
                "name": "scoring",
                "version": "2",
                "stage": "Archived",
                "comment": "agreed",
                "signature": signature_of(approver, "Reviewed"),
            },
            format="json",
        )
        assert r.status_code == 200, r.content
    assert ModelVersion.objects.get(model=in_production.model, version=2).stage == "Archived"
    assert resolves(client_for, in_production.outsider, "models:/scoring/Production") is None


def test_an_alias_removal_request_through_the_native_api(in_production, client_for):
    r = client_for(in_production.editor).post(
        "/api/v1/models/scoring/requests",
        {"version": 2, "alias": "champion", "remove": True, "reason": "rollback"},
        format="json",
    )
    assert r.status_code == 201, r.content
    assert (r.json()["target"], r.json()["removes"]) == ("champion", True)
    for approver in (in_production.approver, in_production.second_approver):
        state = (
            client_for(approver)
            .post(
                f"/api/v1/requests/{r.json()['id']}/approve",
                {"comment": "ok", "signature": signature_of(approver)},
                format="json",
            )
            .json()["state"]
        )
    assert state == "applied"
    assert not ModelAlias.objects.filter(model=in_production.model, alias="champion").exists()
    event = AuditEvent.objects.filter(action=Action.ALIAS_DELETED).get()
    assert (event.actor_username, event.before) == ("system", {"alias": "champion", "version": 2})


def test_removing_an_alias_that_points_elsewhere_is_refused(in_production, client_for):
    r = client_for(in_production.editor).post(
        "/api/v1/models/scoring/requests",
        {"version": 3, "alias": "champion", "remove": True, "reason": "x"},
        format="json",
    )
    assert r.status_code == 400


def test_a_retired_version_leaves_a_tombstone_with_its_history_visible(in_production, client_for, cast):
    from django.test import Client

    for target in ({"stage": "Archived"}, {"alias": "champion", "remove": True}):
        request = workflow_services.transition_request_create(
            actor=in_production.editor,
            name="scoring",
            version=2,
            target_kind="alias" if "alias" in target else "stage",
            target=target.get("alias") or target["stage"],
            reason="retired",
            remove=target.get("remove", False),
        )
        assert approve_all(in_production, request.pk).state == RequestState.APPLIED
    owner = client_for(in_production.owner)
    assert owner.delete("/api/v1/models/scoring/versions/2").status_code == 204
    # Gone for every normal read, as MLflow shows a deleted version: not found.
    assert owner.get("/api/v1/models/scoring/versions/2").status_code == 404
    call = mlflow("owner", "owner-pw-123!")
    r = Client().get(
        "/api/2.0/mlflow/model-versions/get",
        {"name": "scoring", "version": "2"},
        HTTP_AUTHORIZATION=basic_header("owner", "owner-pw-123!"),
    )
    assert (r.status_code, r.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    r = Client().get(
        "/api/2.0/mlflow/model-versions/search",
        {"filter": "name='scoring'"},
        HTTP_AUTHORIZATION=basic_header("owner", "owner-pw-123!"),
    )
    assert sorted(v["version"] for v in r.json()["model_versions"]) == ["1", "3"]
    assert resolves(client_for, in_production.outsider, "models:/scoring/2") is None
    # The row stays, marked deleted; its requests, approvals and evidence stay visible.
    tombstone = ModelVersion.all_objects.get(model=in_production.model, version=2)
    assert tombstone.deleted_at is not None
    requests = client_for(in_production.outsider).get("/api/v1/models/scoring/requests").json()["results"]
    mine = [row for row in requests if row["version"] == 2]
    assert len(mine) == 4 and all(len(row["approvals"]) == 2 for row in mine)
    detail = client_for(in_production.outsider).get(f"/api/v1/requests/{mine[0]['id']}").json()
    assert detail["evidence"]["validated"] is True and detail["version_deleted"] is True
    admin = Client()
    admin.force_login(cast.admin)
    page = admin.get(f"/admin/approvals/{mine[0]['id']}/")
    assert page.status_code == 200 and b"deleted" in page.content
    # A later delete is not found, and the number is never reused.
    assert owner.delete("/api/v1/models/scoring/versions/2").status_code == 404
    assert (
        call(Client(), "delete", "model-versions/delete", {"name": "scoring", "version": "2"}).status_code
        == 404
    )


def test_a_version_never_governed_is_deleted_as_before(governed, client_for):
    assert client_for(governed.owner).delete("/api/v1/models/scoring/versions/1").status_code == 204
    assert not ModelVersion.all_objects.filter(model=governed.model, version=1).exists()
