"""Approvals as electronic signatures (issue 23, 21 CFR Part 11), attacked first.

A careless approver clicks Approve with only their session or token; someone with a stolen token
tries to sign; a guesser tries passwords through the signing route; someone with database access
edits a signature's meaning or copies it onto another request. Each must fail, and be audited.
"""

import pytest
from django.test import Client

from audit.models import Action, AuditEvent
from audit.verify import chain_verify
from tests.fixtures_workflow import password_of, signature_of, signing_of
from workflows import rules
from workflows import services as workflow_services
from workflows.models import RequestState, Signature, TransitionRequest

pytestmark = pytest.mark.django_db


def approve(client, request_id: int, comment: str = "reviewed", **body):
    return client.post(f"/api/v1/requests/{request_id}/approve", {"comment": comment, **body}, format="json")


def test_production_approval_without_a_signature_is_refused_and_audited(governed, file_request, client_for):
    request = file_request(2)
    answer = approve(client_for(governed.approver), request.pk)
    assert answer.status_code == 403, answer.content
    assert "electronic signature" in answer.json()["message"]
    request.refresh_from_db()
    assert request.state == RequestState.PENDING and not request.approvals.exists()
    refused = AuditEvent.objects.filter(action=Action.APPROVAL_REFUSED, actor_username="approver").get()
    assert "without a signature" in refused.after["attempted"]


def test_signed_approval_shows_name_time_and_meaning_in_answer_audit_and_chain(
    governed, file_request, client_for
):
    request = file_request(2)
    answer = approve(client_for(governed.approver), request.pk, signature=signature_of(governed.approver))
    assert answer.status_code == 200, answer.content
    body = answer.json()
    signed = body["approvals"][0]["signature"]
    assert signed["line"].startswith("Signed by Approver Tester (approver) on ")
    assert signed["line"].endswith(" UTC: Approved for production")
    assert signed["meaning"] == "Approved for production" and signed["intact"] is True
    assert signed["authentication"] == "password"
    assert signed["artifact_digest"] == body["evidence"]["artifact_digest"] != ""
    assert body["signatures"][0]["record_hash"] == signed["record_hash"]
    assert "password" not in signed  # the credential is never echoed

    event = AuditEvent.objects.filter(action=Action.REQUEST_APPROVED, actor_username="approver").get()
    assert event.after["signature"]["record_hash"] == signed["record_hash"]
    assert event.after["signature"]["line"] == signed["line"]
    assert chain_verify().ok

    row = Signature.objects.get()
    assert rules.signature_content_hash(row.content()) == row.record_hash
    assert row.request_id == request.pk and row.version_number == 2 and row.target == "Production"


def test_two_signed_approvals_apply_the_promotion(governed, file_request, client_for):
    request = file_request(2)
    for user in (governed.approver, governed.second_approver):
        assert approve(client_for(user), request.pk, signature=signature_of(user)).status_code == 200
    request.refresh_from_db()
    assert request.state == RequestState.APPLIED
    assert request.signatures.count() == 2


def test_a_wrong_password_does_not_sign_is_audited_and_counts_towards_lockout(
    governed, file_request, client_for, settings
):
    settings.QUORUM_LOGIN_MAX_FAILURES = 3
    request = file_request(2)
    client = client_for(governed.approver)
    for _ in range(3):
        answer = approve(
            client, request.pk, signature=signature_of(governed.approver) | {"password": "guess"}
        )
        assert answer.status_code == 403
        assert "password is not correct" in answer.json()["message"]
    failures = AuditEvent.objects.filter(action=Action.SIGNATURE_FAILED, actor_username="approver")
    assert failures.count() == 3
    # Locked now: even the right password does not sign, and the admin sign-in is locked as well.
    answer = approve(client, request.pk, signature=signature_of(governed.approver))
    assert answer.status_code == 403 and "Too many" in answer.json()["message"]
    assert not Signature.objects.exists()
    browser = Client()
    login = browser.post(
        "/admin/login/",
        {"username": "approver", "password": password_of(governed.approver), "next": "/admin/"},
    )
    assert login.status_code == 200 and "_auth_user_id" not in browser.session


def test_a_meaning_the_policy_does_not_accept_is_a_400_that_costs_no_password_try(
    governed, file_request, client_for
):
    request = file_request(2)
    answer = approve(
        client_for(governed.approver), request.pk, signature=signature_of(governed.approver, "Looks fine")
    )
    assert answer.status_code == 400
    assert "not a signature meaning" in str(answer.json())
    assert not AuditEvent.objects.filter(action=Action.SIGNATURE_FAILED).exists()


def test_required_meanings_need_different_signers(governed, file_request, client_for):
    put = client_for(governed.owner).put(
        "/api/v1/models/scoring/policies/stage/Production",
        {
            "required_approvals": 2,
            "require_signature": True,
            "required_meanings": ["Independent validation", "Approved for production"],
        },
        format="json",
    )
    assert put.status_code == 200, put.content
    request = file_request(2)
    for user in (governed.approver, governed.second_approver):
        assert approve(client_for(user), request.pk, signature=signature_of(user)).status_code == 200
    answer = client_for(governed.owner).get(f"/api/v1/requests/{request.pk}")
    assert answer.json()["state"] == "pending"
    assert "a signature meaning 'Independent validation'" in answer.json()["still_needed"]


def test_required_meanings_met_apply(governed, file_request, client_for):
    client_for(governed.owner).put(
        "/api/v1/models/scoring/policies/stage/Production",
        {"require_signature": True, "required_meanings": ["Independent validation"]},
        format="json",
    )
    request = file_request(2)
    approve(client_for(governed.approver), request.pk, signature=signature_of(governed.approver))
    last = approve(
        client_for(governed.second_approver),
        request.pk,
        signature=signature_of(governed.second_approver, "Independent validation"),
    )
    assert last.status_code == 200 and last.json()["state"] == "applied"


def test_an_owner_cannot_switch_signatures_off_for_their_model(governed, client_for):
    answer = client_for(governed.owner).put(
        "/api/v1/models/scoring/policies/stage/Production", {"require_signature": False}, format="json"
    )
    assert answer.status_code == 403
    assert "electronic-signature" in answer.json()["message"]


def test_an_edited_signature_row_no_longer_counts(governed, file_request):
    """Someone with database access changes a signature's meaning: its hash no longer recomputes."""
    request = file_request(2)
    workflow_services.transition_request_approve(
        actor=governed.approver, request_id=request.pk, comment="ok", signing=signing_of(governed.approver)
    )
    Signature.objects.filter(request=request).update(meaning="Reviewed")
    from workflows.selectors import request_verdict

    verdict = request_verdict(TransitionRequest.objects.get(pk=request.pk))
    assert "2 more approvals" in verdict.reason
    assert "valid electronic signatures (not counted: approver)" in verdict.reason
    workflow_services.transition_request_approve(
        actor=governed.second_approver,
        request_id=request.pk,
        comment="ok",
        signing=signing_of(governed.second_approver),
    )
    assert TransitionRequest.objects.get(pk=request.pk).state == RequestState.PENDING


def test_a_signature_over_other_artifacts_does_not_count():
    policy = rules.Policy(
        "stage", "Production", required_approvals=1, rank="production", require_signature=True
    )
    signed = rules.SignatureFacts(meaning="Approved for production", artifact_digest="aaa", intact=True)
    assert rules.signature_refusal(policy, signed, "aaa") is None
    assert "other artifacts" in rules.signature_refusal(policy, signed, "bbb")
    assert rules.signature_refusal(policy, None, "aaa") == "it is not an electronic signature"


def test_service_accounts_and_people_without_a_printed_name_cannot_sign(governed, file_request, client_for):
    request = file_request(2)
    nameless = governed.approver
    nameless.first_name = nameless.last_name = ""
    nameless.save(update_fields=["first_name", "last_name"])
    answer = approve(client_for(nameless), request.pk, signature=signature_of(nameless))
    assert answer.status_code == 403 and "no full name" in answer.json()["message"]
    assert AuditEvent.objects.filter(action=Action.SIGNATURE_FAILED, actor_username="approver").exists()


def test_a_bare_api_token_cannot_sign(governed, file_request, client):
    from accounts import services as account_services

    secret = account_services.token_create(actor=governed.approver, user=governed.approver, name="ci").secret
    request = file_request(2)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    answer = client.post(
        f"/api/v1/requests/{request.pk}/approve",
        {"comment": "ok"},
        content_type="application/json",
        **headers,
    )
    assert answer.status_code == 403
    signed = client.post(
        f"/api/v1/requests/{request.pk}/approve",
        {"comment": "ok", "signature": signature_of(governed.approver)},
        content_type="application/json",
        **headers,
    )
    assert signed.status_code == 200  # the token authenticates; the password signs


def test_a_rejection_of_a_governed_target_is_signed_too(governed, file_request, client_for):
    request = file_request(2)
    client = client_for(governed.approver)
    unsigned = client.post(f"/api/v1/requests/{request.pk}/reject", {"comment": "no"}, format="json")
    assert unsigned.status_code == 403
    signed = client.post(
        f"/api/v1/requests/{request.pk}/reject",
        {"comment": "calibration drifted", "signature": {"password": password_of(governed.approver)}},
        format="json",
    )
    assert signed.status_code == 200, signed.content
    assert signed.json()["state"] == "rejected"
    assert signed.json()["signatures"][0]["line"].endswith(": Rejected")
    event = AuditEvent.objects.get(action=Action.REQUEST_REJECTED)
    assert event.after["signature"]["meaning"] == "Rejected"


def test_staging_stays_unsigned_by_default(governed, file_request, client_for):
    request = file_request(2, stage="Staging")
    assert approve(client_for(governed.approver), request.pk).status_code == 200


def test_databricks_routes_carry_the_signature(governed, file_request, client_for):
    file_request(2)
    client = client_for(governed.approver)
    body = {"name": "scoring", "version": "2", "stage": "Production", "comment": "ok"}
    unsigned = client.post("/api/2.0/mlflow/transition-requests/approve", body, format="json")
    assert unsigned.status_code == 403 and unsigned.json()["error_code"] == "PERMISSION_DENIED"
    malformed = client.post(
        "/api/2.0/mlflow/transition-requests/approve", body | {"signature": "hunter2"}, format="json"
    )
    assert malformed.status_code == 400 and malformed.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    signed = client.post(
        "/api/2.0/mlflow/transition-requests/approve",
        body | {"signature": signature_of(governed.approver)},
        format="json",
    )
    assert signed.status_code == 200, signed.content
    assert signed.json()["signature"]["line"].startswith("Signed by Approver Tester (approver) on ")
    assert signed.json()["activity"]["activity_type"] == "APPROVED_REQUEST"


def test_promotions_report_and_csv_show_signatures(governed, file_request, client_for, tmp_path):
    from django.core.management import call_command

    request = file_request(2)
    for user in (governed.approver, governed.second_approver):
        approve(client_for(user), request.pk, signature=signature_of(user))
    rows = client_for(governed.owner).get("/api/v1/audit/reports/promotions").json()["rows"]
    row = next(r for r in rows if r["request"] == str(request.pk))
    assert [a["signature"].split(": ")[-1] for a in row["approvers"]] == ["Approved for production"] * 2
    assert row["approvers"][0]["signature"].startswith("Signed by Approver Tester (approver) on ")
    out = tmp_path / "promotions.csv"
    call_command("audit_report", "promotions", "--format", "csv", "--output", str(out))
    text = out.read_text()
    assert "approver_1_signature" in text.splitlines()[0]
    assert "Signed by Second Approver Tester (second_approver) on " in text


def test_signature_meanings_floors_tighten_never_loosen():
    floor = rules.Policy(
        "stage",
        "Production",
        required_approvals=2,
        rank="production",
        require_signature=True,
        signature_meanings=("Reviewed", "Approved for production"),
        required_meanings=("Approved for production",),
    )
    loose = rules.replace(floor, require_signature=False, signature_meanings=(), required_meanings=())
    found = rules.policy_loosenings(loose, floor)
    assert "drops the electronic-signature condition" in found
    assert "does not require the signature meaning(s) 'Approved for production'" in found
    assert "accepts signature meanings the organisation does not" in found
    raised = rules.policy_floored(loose, floor)
    assert raised.require_signature and raised.required_meanings == ("Approved for production",)
    assert raised.signature_meanings == floor.signature_meanings
    tighter = rules.replace(floor, signature_meanings=("Approved for production",))
    assert rules.policy_loosenings(tighter, floor) == ()
    assert rules.policy_from_values(rules.policy_values(tighter)) == tighter


def test_a_changed_digest_voids_the_earlier_signature(governed, file_request, client_for):
    """Someone with database access rewrites the validated digest after the first signature."""
    from artifacts.models import ArtifactManifest
    from registry.models import ModelVersion

    request = file_request(2)
    approve(client_for(governed.approver), request.pk, signature=signature_of(governed.approver))
    version = ModelVersion.objects.get(model=governed.model, version=2)
    ArtifactManifest.objects.filter(version=version).update(digest="b" * 64)
    needed = client_for(governed.owner).get(f"/api/v1/requests/{request.pk}").json()["still_needed"]
    assert "approvals that are valid electronic signatures (not counted: approver)" in needed
    assert "2 more approvals (production rank)" in needed
