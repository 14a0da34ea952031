"""Databricks-compatible transition-request and comment endpoints, as its scripts call them."""

import pytest

from audit.models import Action, AuditEvent
from registry.models import ModelVersion
from tests.fixtures_workflow import password_of, signature_of

pytestmark = pytest.mark.django_db

BASE = "/api/2.0/mlflow"
ACTIVITY_KEYS = {
    "id",
    "activity_type",
    "from_stage",
    "to_stage",
    "user_id",
    "comment",
    "system_comment",
    "creation_timestamp",
    "last_updated_timestamp",
}


def create(client_for, user, version: str = "2", stage: str = "Production", comment: str = "ready"):
    return client_for(user).post(
        f"{BASE}/transition-requests/create",
        {"name": "scoring", "version": version, "stage": stage, "comment": comment},
        format="json",
    )


def test_create_list_approve_apply_with_databricks_shapes(governed, client_for):
    r = create(client_for, governed.editor)
    assert r.status_code == 200, r.content
    request = r.json()["request"]
    assert (request["to_stage"], request["user_id"], request["comment"]) == ("Production", "editor", "ready")
    assert request["available_actions"] == ["CANCEL_TRANSITION_REQUEST"]
    assert isinstance(request["creation_timestamp"], int)

    r = client_for(governed.approver).get(
        f"{BASE}/transition-requests/list", {"name": "scoring", "version": "2"}
    )
    [listed] = r.json()["requests"]
    assert set(listed) == ACTIVITY_KEYS | {"available_actions", "evidence"}  # + Quorum's evidence
    assert listed["activity_type"] == "REQUESTED_TRANSITION"
    assert (listed["from_stage"], listed["to_stage"]) == ("None", "Production")
    assert listed["available_actions"] == ["APPROVE_TRANSITION_REQUEST", "REJECT_TRANSITION_REQUEST"]

    body = {"name": "scoring", "version": "2", "stage": "Production", "archive_existing_versions": True}
    r = client_for(governed.approver).post(
        f"{BASE}/transition-requests/approve",
        body | {"comment": "ok", "signature": signature_of(governed.approver)},
        format="json",
    )
    assert r.status_code == 200, r.content
    activity = r.json()["activity"]
    assert set(activity) == ACTIVITY_KEYS
    assert (activity["activity_type"], activity["user_id"], activity["comment"]) == (
        "APPROVED_REQUEST",
        "approver",
        "ok",
    )
    assert ModelVersion.objects.get(model=governed.model, version=2).stage == "None"  # 1 of 2
    r = client_for(governed.second_approver).post(
        f"{BASE}/transition-requests/approve",
        body | {"comment": "ok too", "signature": signature_of(governed.second_approver)},
        format="json",
    )
    assert r.status_code == 200
    assert ModelVersion.objects.get(model=governed.model, version=2).stage == "Production"
    r = client_for(governed.approver).get(
        f"{BASE}/transition-requests/list", {"name": "scoring", "version": "2"}
    )
    assert r.json()["requests"] == []
    assert AuditEvent.objects.filter(action=Action.REQUEST_APPLIED).count() == 1


def test_reject_and_delete(governed, client_for):
    create(client_for, governed.editor)
    body = {"name": "scoring", "version": "2", "stage": "Production", "comment": "not yet"}
    body["signature"] = {"password": password_of(governed.approver)}  # Production's decisions are signed
    r = client_for(governed.approver).post(f"{BASE}/transition-requests/reject", body, format="json")
    assert r.json()["activity"]["activity_type"] == "REJECTED_REQUEST"
    create(client_for, governed.editor, stage="Staging")
    query = "name=scoring&version=2&stage=Staging&creator=editor&comment=withdrawn"
    r = client_for(governed.editor).delete(f"{BASE}/transition-requests/delete?{query}")
    assert r.status_code == 200, r.content
    assert r.json()["activity"]["activity_type"] == "CANCELLED_REQUEST"
    r = client_for(governed.editor).delete(f"{BASE}/transition-requests/delete?{query}")
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize(
    "path, body, status, code",
    [
        (
            "transition-requests/create",
            {"name": "scoring", "version": "2", "stage": "Production"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "transition-requests/create",
            {"name": "scoring", "version": "x", "stage": "Production", "comment": "c"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "transition-requests/create",
            {"name": "scoring", "version": "2", "stage": "Prod", "comment": "c"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "transition-requests/create",
            {"name": "nope", "version": "2", "stage": "Production", "comment": "c"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "transition-requests/approve",
            {"name": "scoring", "version": "2", "stage": "Production", "comment": "c"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "transition-requests/approve",
            {"version": "2", "stage": "Production"},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("comments/create", {"name": "scoring", "version": "2"}, 400, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_errors_use_mlflow_json(governed, client_for, path, body, status, code):
    r = client_for(governed.editor).post(f"{BASE}/{path}", body, format="json")
    assert r.status_code == status, r.content
    assert r.json()["error_code"] == code and r.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": {"x": 1}, "version": "2", "stage": "Production", "comment": "c"},
        {"name": ["scoring"], "version": "2", "stage": "Production", "comment": "c"},
        {"name": "scoring", "version": ["2"], "stage": "Production", "comment": "c"},
        {"name": "scoring", "version": "2", "stage": 7, "comment": "c"},
        {"name": "scoring", "version": "2", "stage": "Production", "comment": {"text": "c"}},
    ],
)
def test_wrong_types_are_400_not_500(governed, client_for, body):
    r = client_for(governed.editor).post(f"{BASE}/transition-requests/create", body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_form_encoded_body_is_read_like_a_query_string(governed, client_for):
    r = client_for(governed.editor).post(
        f"{BASE}/transition-requests/create",
        {"name": "scoring", "version": "2", "stage": "Staging", "comment": "c"},
    )
    assert r.status_code == 200, r.content
    assert r.json()["request"]["to_stage"] == "Staging"


def test_unparseable_body_and_anonymous_caller_get_json_errors(governed, client_for):
    r = client_for(governed.editor).post(
        f"{BASE}/transition-requests/create", "{not json", content_type="application/json"
    )
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = client_for(None).get(f"{BASE}/transition-requests/list", {"name": "scoring", "version": "2"})
    assert r.status_code in (401, 403) and "error_code" in r.json()


def test_comments_create_update_delete(governed, client_for):
    r = client_for(governed.outsider).post(
        f"{BASE}/comments/create", {"name": "scoring", "version": "2", "comment": "first"}, format="json"
    )
    assert r.status_code == 200, r.content
    comment = r.json()["comment"]
    assert (comment["user_id"], comment["comment"]) == ("outsider", "first")
    assert comment["available_actions"] == ["EDIT_COMMENT", "DELETE_COMMENT"]
    r = client_for(governed.editor).patch(
        f"{BASE}/comments/update", {"id": comment["id"], "comment": "x"}, format="json"
    )
    assert r.status_code == 403
    r = client_for(governed.outsider).patch(
        f"{BASE}/comments/update", {"id": comment["id"], "comment": "edited"}, format="json"
    )
    assert r.json()["comment"]["comment"] == "edited"
    r = client_for(governed.outsider).delete(f"{BASE}/comments/delete?id={comment['id']}")
    assert r.status_code == 200 and r.json() == {}
    r = client_for(governed.outsider).delete(f"{BASE}/comments/delete?id={comment['id']}")
    assert r.status_code == 404
    r = client_for(governed.outsider).delete(f"{BASE}/comments/delete?id=abc")
    assert r.status_code == 400
    actions = [
        e.before and e.before.get("comment")
        for e in AuditEvent.objects.filter(action=Action.REQUEST_COMMENTED)
    ]
    assert actions == [None, "first", "edited"]
