"""Issue 19, attacks 2 and 3: organisation policies are floors, and approvers are people.

A model's creator holds MANAGE. They may tighten the organisation's policy for a target of their
model, never loosen it (fewer approvals, requester or author approval, no validated artifacts,
governed: false, service accounts counting). A pipeline's token never makes a quorum.
"""

import pytest
from rest_framework.test import APIClient

from access.grants import Level
from accounts import services as account_services
from audit.models import Action, AuditEvent
from tests.conftest import make_user
from tests.fixtures_workflow import grant_levels, signed
from workflows.models import PromotionPolicy

pytestmark = pytest.mark.django_db

PRODUCTION = "/api/v1/models/scoring/policies/stage/Production"
CHAMPION = "/api/v1/models/scoring/policies/alias/champion"


def approve(client, request_id: int):
    return client.post(f"/api/v1/requests/{request_id}/approve", signed(client), format="json")


def effective(client, path: str = "/api/v1/models/scoring/policies") -> dict:
    body = client.get(path).json()
    return {(p["target_kind"], p["target"]): p for p in body["effective"]}


@pytest.mark.parametrize(
    "loosening",
    [
        {"required_approvals": 1},
        {"required_approvals": 2, "requester_may_approve": True},
        {"required_approvals": 2, "creator_may_approve": True},
        {"required_approvals": 2, "require_validated_artifacts": False},
        {"governed": False},
        {"required_approvals": 2, "rank": "staging"},
        {"required_approvals": 2, "approval_ttl_hours": 24 * 365},
        {"required_approvals": 2, "service_accounts_count": True},
    ],
)
@pytest.mark.parametrize("path", [PRODUCTION, CHAMPION])
def test_a_model_owner_cannot_loosen_the_organisation_policy(governed, client_for, loosening, path):
    r = client_for(governed.owner).put(path, loosening, format="json")
    assert r.status_code == 403, r.content
    assert "never loosen" in r.json()["message"]
    assert not PromotionPolicy.objects.filter(model=governed.model).exists()
    assert not AuditEvent.objects.filter(action=Action.POLICY_CHANGED).exists()


def test_after_a_refused_loosening_the_owner_still_cannot_promote_champion_alone(
    governed, file_request, client_for
):
    owner = client_for(governed.owner)
    r = owner.put(CHAMPION, {"required_approvals": 1, "requester_may_approve": True}, format="json")
    assert r.status_code == 403
    request = file_request(3, alias="champion", by=governed.owner)
    # The owner is neither requester-exempt nor an approver at production rank of their own accord:
    r = approve(owner, request.pk)
    assert r.status_code == 403
    r = approve(client_for(governed.approver), request.pk)
    assert r.json()["state"] == "pending"
    assert r.json()["still_needed"] == ["1 more approval (production rank)"]


def test_a_model_owner_may_tighten_the_organisation_policy(governed, file_request, client_for, cast):
    r = client_for(governed.owner).put(PRODUCTION, {"required_approvals": 3}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["floor_waived"] is False
    entry = effective(client_for(governed.outsider))[("stage", "Production")]
    assert (entry["source"], entry["required_approvals"]) == ("model", 3)


def test_a_superuser_may_loosen_it_audited_and_in_the_separation_of_duties_report(
    governed, file_request, client_for, cast
):
    r = client_for(cast.admin).put(PRODUCTION, {"required_approvals": 1}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["floor_waived"] is True
    event = AuditEvent.objects.filter(action=Action.POLICY_CHANGED).latest("seq")
    assert event.actor_username == "admin"
    assert event.after["loosens_floor"] == ["fewer approvals than the organisation requires"]
    assert "floor waived" in event.reason
    request = file_request(2)
    assert approve(client_for(governed.approver), request.pk).json()["state"] == "applied"
    rows = client_for(cast.admin).get("/api/v1/audit/reports/separation-of-duties").json()["rows"]
    waived = [row for row in rows if row["kind"] == "policy_floor_waived"]
    assert [(row["user"], row["model"]) for row in waived] == [("admin", "scoring")]
    assert "fewer approvals" in waived[0]["detail"]


def test_a_loosening_policy_written_behind_the_api_is_raised_to_the_floor(governed, file_request, client_for):
    # Someone with database access (or a policy set before floors existed): one approval, requester
    # may approve. The floor still applies to it.
    PromotionPolicy.objects.create(
        model=governed.model,
        target_kind="stage",
        target="Production",
        required_approvals=1,
        requester_may_approve=True,
    )
    request = file_request(2, by=governed.approver)
    r = approve(client_for(governed.approver), request.pk)
    assert r.status_code == 403  # four-eyes: the floor does not let the requester approve
    r = approve(client_for(governed.second_approver), request.pk)
    assert r.json()["state"] == "pending"
    entry = effective(client_for(governed.outsider))[("stage", "Production")]
    assert (entry["required_approvals"], entry["requester_may_approve"], entry["raised_to_floor"]) == (
        2,
        False,
        True,
    )


def test_policies_answer_the_effective_policy_of_each_target_and_where_it_comes_from(
    governed, client_for, cast
):
    reader = client_for(governed.outsider)
    body = reader.get("/api/v1/models/scoring/policies").json()
    assert body["policies"] == [] and body["defaults"] == []
    found = effective(reader)
    assert {key: (p["source"], p["governed"]) for key, p in found.items()} == {
        ("stage", "Production"): ("built-in", True),
        ("alias", "champion"): ("built-in", True),
        ("stage", "Staging"): ("built-in", True),
    }
    assert found[("stage", "Production")]["required_approvals"] == 2
    assert found[("stage", "Staging")]["rank"] == "staging"
    admin = client_for(cast.admin)
    assert (
        admin.put("/api/v1/policies/stage/Staging", {"required_approvals": 2}, format="json").status_code
        == 200
    )
    assert effective(reader)[("stage", "Staging")]["source"] == "organisation"
    assert effective(reader, "/api/v1/policies")[("stage", "Staging")]["required_approvals"] == 2
    assert (
        client_for(governed.owner).put(PRODUCTION, {"required_approvals": 4}, format="json").status_code
        == 200
    )
    assert effective(reader)[("stage", "Production")]["source"] == "model"


def test_a_model_policy_can_be_removed_to_fall_back_to_the_organisation_policy(governed, client_for):
    owner = client_for(governed.owner)
    assert owner.put(PRODUCTION, {"required_approvals": 4}, format="json").status_code == 200
    assert client_for(governed.editor).delete(PRODUCTION).status_code == 403  # needs MANAGE
    r = owner.delete(PRODUCTION)
    assert r.status_code == 204
    assert not PromotionPolicy.objects.filter(model=governed.model).exists()
    entry = effective(client_for(governed.outsider))[("stage", "Production")]
    assert (entry["source"], entry["required_approvals"]) == ("built-in", 2)
    event = AuditEvent.objects.filter(action=Action.POLICY_CHANGED).latest("seq")
    assert (event.before["required_approvals"], event.after) == (4, None)
    assert owner.delete(PRODUCTION).status_code == 404


# --- Attack 3: service accounts are not approvers -------------------------------------------


def _pipeline_client(governed) -> APIClient:
    bot = make_user("ci-bot", is_service_account=True)
    bot = grant_levels(bot, governed.model, Level.APPROVE_PRODUCTION, Level.APPROVE_STAGING)
    issued = account_services.token_create(actor=bot, user=bot, name="pipeline")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return client


def test_one_person_and_a_pipeline_token_are_not_two_distinct_approvers(governed, file_request, client_for):
    pipeline = _pipeline_client(governed)
    request = file_request(2)
    assert approve(client_for(governed.approver), request.pk).json()["state"] == "pending"
    r = approve(pipeline, request.pk)
    assert r.status_code == 403, r.content
    assert "Service accounts do not approve" in r.json()["message"]
    r = client_for(governed.outsider).get(f"/api/v1/requests/{request.pk}")
    assert r.json()["state"] == "pending"
    assert r.json()["still_needed"] == ["1 more approval (production rank)"]


def test_service_accounts_count_only_when_the_organisation_policy_says_so(
    governed, file_request, client_for, cast
):
    pipeline = _pipeline_client(governed)
    # A pipeline cannot sign electronically, so its approval can count only where signatures are off.
    body = {"required_approvals": 2, "service_accounts_count": True, "require_signature": False}
    assert client_for(governed.owner).put(PRODUCTION, body, format="json").status_code == 403
    r = client_for(cast.admin).put("/api/v1/policies/stage/Production", body, format="json")
    assert r.status_code == 200 and r.json()["service_accounts_count"] is True
    request = file_request(2)
    assert approve(client_for(governed.approver), request.pk).json()["state"] == "pending"
    assert approve(pipeline, request.pk).json()["state"] == "applied"
