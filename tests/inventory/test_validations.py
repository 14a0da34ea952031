"""Independent validations through the native API: who may validate (attacks first), the policy
requirement on the approval path, overdue reviews (report, command, webhook event)."""

import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone

from audit.models import Action, AuditEvent
from inventory.models import Validation
from tests.conftest import make_user
from tests.fixtures_workflow import grant_levels, signing_of
from webhooks.models import WebhookEventRecord
from workflows import rules as workflow_rules
from workflows import services as workflow_services

pytestmark = pytest.mark.django_db

PASS = {"scope": "conceptual soundness, outcomes analysis", "outcome": "pass"}


def may_validate(user, model):
    """READ on the model plus the validation function's global permission."""
    user.user_permissions.add(
        Permission.objects.get(codename="add_validation", content_type__app_label="inventory")
    )
    return grant_levels(user, model)


@pytest.fixture
def validator(governed):
    return may_validate(make_user("validator"), governed.model)


def validate(client_for, user, version: int = 2, body: dict | None = None):
    return client_for(user).post(
        f"/api/v1/models/scoring/versions/{version}/validations", body or PASS, format="json"
    )


def recorded() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.VALIDATION_RECORDED).order_by("seq"))


def test_an_independent_validator_records_a_validation_with_next_review_from_the_tier(
    governed, validator, client_for
):
    r = client_for(governed.owner).patch(
        "/api/v1/models/scoring/inventory", {"risk_tier": "high"}, format="json"
    )
    assert r.status_code == 200
    r = validate(
        client_for,
        validator,
        body={
            "scope": "full revalidation",
            "outcome": "pass_with_conditions",
            "conditions": "only for applicants with 12+ months of history",
            "findings": [
                {"severity": "medium", "description": "drift monitor missing", "remediation_status": "open"}
            ],
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    today = timezone.localdate()
    assert (body["validator"], body["outcome"], body["risk_tier"]) == (
        "validator",
        "pass_with_conditions",
        "high",
    )
    assert body["validated_on"] == today.isoformat()
    assert body["next_review_on"] == (today + timedelta(days=180)).isoformat()
    assert body["findings"] == [
        {"severity": "medium", "description": "drift monitor missing", "remediation_status": "open"}
    ]
    (event,) = recorded()
    assert (event.actor_username, event.version, event.after["outcome"]) == (
        "validator",
        2,
        "pass_with_conditions",
    )
    listed = client_for(governed.outsider).get("/api/v1/models/scoring/versions/2/validations").json()
    assert [v["id"] for v in listed["results"]] == [body["id"]]


def test_the_versions_author_may_not_validate_it(governed, client_for):
    author = may_validate(governed.editor, governed.model)  # created versions 1-3
    r = validate(client_for, author)
    assert r.status_code == 403 and "author" in r.json()["message"]
    assert not Validation.objects.exists() and recorded() == []


def test_the_models_developer_may_not_validate_even_as_superuser(governed, cast, client_for):
    client_for(governed.owner).patch(
        "/api/v1/models/scoring/inventory", {"developer": "admin"}, format="json"
    )
    r = validate(client_for, cast.admin)
    assert r.status_code == 403 and "developer" in r.json()["message"]
    assert not Validation.objects.exists()


def test_a_requester_of_an_open_request_may_not_validate_until_it_closes(governed, file_request, client_for):
    requester = may_validate(governed.second_approver, governed.model)
    request = file_request(2, stage="Production", by=requester)
    r = validate(client_for, requester)
    assert r.status_code == 403 and "requested" in r.json()["message"]
    assert not Validation.objects.exists()
    workflow_services.transition_request_cancel(actor=requester, request_id=request.pk, comment="withdrawn")
    assert validate(client_for, requester).status_code == 201


def test_without_the_permission_or_the_model_no_validation(governed, cast, client_for):
    reader = grant_levels(make_user("reader"), governed.model)
    assert validate(client_for, reader).status_code == 403
    stranger = make_user("stranger")
    stranger.user_permissions.add(
        Permission.objects.get(codename="add_validation", content_type__app_label="inventory")
    )
    assert validate(client_for, stranger).status_code == 404  # cannot see the model
    assert validate(client_for, None).status_code in (401, 403)
    assert not Validation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "x", "outcome": "great"}, "outcome"),
        ({"outcome": "pass"}, "scope"),
        ({"scope": "x", "outcome": "pass_with_conditions"}, "conditions"),
        (
            {"scope": "x", "outcome": "fail", "findings": [{"severity": "huge", "description": "d"}]},
            "findings",
        ),
        ({"scope": "x", "outcome": "fail", "findings": "many"}, "findings"),
        ({"scope": "x", "outcome": "pass", "validator": "someone-else"}, "validator"),
    ],
)
def test_bad_validation_input_is_a_400(governed, validator, client_for, body, field):
    r = validate(client_for, validator, body=body)
    assert r.status_code == 400, r.content
    assert r.json()["field"] == field


def test_missing_version_is_a_404(governed, validator, client_for):
    assert validate(client_for, validator, version=99).status_code == 404


def _approve_twice(governed, request_id: int):
    for approver in (governed.approver, governed.second_approver):
        workflow_services.transition_request_approve(
            actor=approver, request_id=request_id, comment="ok", signing=signing_of(approver)
        )


def test_policy_requiring_validation_holds_a_promotion_without_a_current_pass(
    governed, validator, file_request, client_for
):
    workflow_services.promotion_policy_set(
        actor=governed.owner,
        name="scoring",
        target_kind="stage",
        target="Production",
        require_current_validation=True,
        require_signature=True,  # the organisation's floor for Production asks for signatures
    )
    request = file_request(2, stage="Production")
    _approve_twice(governed, request.pk)
    request.refresh_from_db()
    assert request.state == "pending"
    verdict = client_for(governed.editor).get(f"/api/v1/requests/{request.pk}").json()
    assert "independent validation" in json.dumps(verdict)

    # A failed validation does not count either.
    assert (
        validate(client_for, validator, version=3, body={"scope": "s", "outcome": "fail"}).status_code == 201
    )
    other = file_request(3, stage="Production")
    _approve_twice(governed, other.pk)
    other.refresh_from_db()
    assert other.state == "pending"

    # With a current pass, the quorum applies it.
    workflow_services.transition_request_cancel(actor=governed.editor, request_id=request.pk, comment="again")
    assert validate(client_for, validator, version=2).status_code == 201
    again = file_request(2, stage="Production")
    _approve_twice(governed, again.pk)
    again.refresh_from_db()
    assert again.state == "applied", again.state_reason


def test_an_overdue_validation_no_longer_counts(governed, validator, file_request, client_for):
    workflow_services.promotion_policy_set(
        actor=governed.owner,
        name="scoring",
        target_kind="stage",
        target="Production",
        require_current_validation=True,
        require_signature=True,  # the organisation's floor for Production asks for signatures
    )
    client_for(governed.owner).patch("/api/v1/models/scoring/inventory", {"risk_tier": "high"}, format="json")
    assert validate(client_for, validator).status_code == 201
    # Time passes: the validation was done 200 days ago (its review was due after 180).
    long_ago = timezone.localdate() - timedelta(days=200)
    Validation.objects.update(validated_on=long_ago, next_review_on=long_ago + timedelta(days=180))
    request = file_request(2, stage="Production")
    _approve_twice(governed, request.pk)
    request.refresh_from_db()
    assert request.state == "pending"


def test_a_model_policy_may_not_drop_the_organisations_validation_requirement(governed, cast):
    workflow_services.promotion_policy_set(
        actor=cast.admin, name=None, target_kind="stage", target="Production", require_current_validation=True
    )
    from registry.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="current-validation"):
        workflow_services.promotion_policy_set(
            actor=governed.owner, name="scoring", target_kind="stage", target="Production"
        )


def test_without_an_evidence_provider_the_requirement_fails_closed():
    policy = workflow_rules.Policy("stage", "Production", 1, "production", require_current_validation=True)
    assert workflow_rules.independent_validation_refusal(policy, {}) is not None
    assert workflow_rules.independent_validation_refusal(policy, {"validation_current": "yes"}) is not None
    assert workflow_rules.independent_validation_refusal(policy, {"validation_current": True}) is None
    demotion = workflow_rules.transition_policy(None, policy)
    assert workflow_rules.independent_validation_refusal(demotion, {}) is None  # a bad model can be retired


def test_overdue_reviews_show_in_the_report_and_are_announced_once_by_webhook(
    governed, validator, client_for, loopback_allowed
):
    from webhooks import services as webhook_services

    webhook_services.webhook_create(
        actor=governed.owner,
        name="mrm",
        url="http://127.0.0.1:9/hook",
        events=["model_version.validation_review_overdue"],
        model_name="scoring",
    )
    client_for(governed.owner).patch("/api/v1/models/scoring/inventory", {"risk_tier": "high"}, format="json")
    assert validate(client_for, validator, version=1).status_code == 201
    assert validate(client_for, validator, version=2).status_code == 201
    long_ago = timezone.localdate() - timedelta(days=200)
    Validation.objects.filter(version__version=2).update(
        validated_on=long_ago, next_review_on=long_ago + timedelta(days=180)
    )
    r = client_for(governed.outsider).get("/api/v1/inventory/overdue-reviews")
    assert r.status_code == 200
    assert [(v["model"], v["version"]) for v in r.json()["results"]] == [("scoring", 2)]
    assert client_for(make_user("nobody")).get("/api/v1/inventory/overdue-reviews").json()["results"] == []

    out = io.StringIO()
    call_command("validation_reviews_overdue", stdout=out)
    assert "scoring v2" in out.getvalue() and "1 overdue review(s) announced." in out.getvalue()
    (record,) = WebhookEventRecord.objects.filter(event="model_version.validation_review_overdue")
    data = json.loads(record.payload)["data"]
    assert (data["name"], data["version"]) == ("scoring", "2")
    assert AuditEvent.objects.filter(action=Action.VALIDATION_REVIEW_OVERDUE, version=2).count() == 1

    out = io.StringIO()
    call_command("validation_reviews_overdue", stdout=out)
    assert "0 overdue review(s) announced." in out.getvalue()
    assert WebhookEventRecord.objects.filter(event="model_version.validation_review_overdue").count() == 1


def test_inventory_report_shows_the_production_versions_validation_status(
    governed, validator, file_request, client_for
):
    assert validate(client_for, validator, version=2).status_code == 201
    request = file_request(2, stage="Production")
    _approve_twice(governed, request.pk)
    (row,) = client_for(governed.owner).get("/api/v1/inventory/report").json()["models"]
    assert (row["production_version"], row["validation_status"]) == (2, "current")
    Validation.objects.update(outcome="fail")
    (row,) = client_for(governed.owner).get("/api/v1/inventory/report").json()["models"]
    assert row["validation_status"] == "failed"
