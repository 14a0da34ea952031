"""Issue 20, item 5: refused governance attempts are audited with who, what and why.

Self-approval, approval by a service account, and direct moves of governed targets (into or out of
Production, @champion) are refused; each refusal is recorded (an action ending `.refused`) in a
transaction of its own, so it is not rolled back with the refused attempt. Anonymous callers never
reach the rule, so they cannot grow the chain.
"""

import json

import pytest
from django.test import Client

from audit.models import Action, AuditEvent
from tests.fixtures_mlflow import basic_header
from tests.fixtures_workflow import signature_of

APPROVAL_REFUSED, TRANSITION_REFUSED = "approval.refused", "transition.refused"
REFUSED = (APPROVAL_REFUSED, TRANSITION_REFUSED)


def refused() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__in=REFUSED).order_by("seq"))


@pytest.mark.django_db
def test_self_approval_is_refused_and_audited(governed, file_request, client_for):
    request = file_request(2)
    r = client_for(governed.editor).post(
        f"/api/v1/requests/{request.pk}/approve",
        {"comment": "mine", "signature": signature_of(governed.editor)},
        format="json",
    )
    assert r.status_code == 403
    [event] = refused()
    assert event.action.endswith(".refused")
    assert (event.action, event.actor_username, event.model_name, event.version) == (
        APPROVAL_REFUSED,
        "editor",
        "scoring",
        2,
    )
    assert "Four-eyes" in event.reason
    assert event.after["attempted"] == f"approve request #{request.pk} (Production)"
    assert not request.approvals.exists()
    assert not AuditEvent.objects.filter(action=Action.REQUEST_APPROVED).exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("fast_passwords")
def test_direct_production_and_champion_moves_are_refused_and_audited(governed, client_for):
    mlflow = Client()
    r = mlflow.post(
        "/api/2.0/mlflow/model-versions/transition-stage",
        json.dumps({"name": "scoring", "version": "2", "stage": "Production"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_header("owner", "owner-pw-123!"),
    )
    assert r.status_code == 403
    r = client_for(governed.editor).put(
        "/api/v1/models/scoring/aliases/champion", {"version": 3}, format="json"
    )
    assert r.status_code == 403
    stage, alias = refused()
    assert (stage.action, stage.actor_username, stage.version, stage.after["attempted"]) == (
        TRANSITION_REFUSED,
        "owner",
        2,
        "set Production directly",
    )
    assert "governed by a promotion policy" in stage.reason
    assert (alias.actor_username, alias.version, alias.after["attempted"]) == (
        "editor",
        3,
        "set @champion directly",
    )
    assert not AuditEvent.objects.filter(action__in=[Action.VERSION_STAGE_CHANGED, Action.ALIAS_SET]).exists()


@pytest.mark.django_db
def test_unauthenticated_and_unseen_attempts_do_not_grow_the_chain(governed, client_for, cast):
    before = AuditEvent.objects.count()
    assert (
        client_for().put("/api/v1/models/scoring/aliases/champion", {"version": 3}, format="json").status_code
        == 401
    )
    # cast.admin is not the outsider: an outsider with no grant on another model sees nothing to refuse.
    from tests.conftest import make_user

    stranger = make_user("stranger")
    r = client_for(stranger).put("/api/v1/models/scoring/aliases/champion", {"version": 3}, format="json")
    assert r.status_code == 404
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_the_refusal_is_committed_although_the_attempt_rolls_back(governed, file_request, client_for):
    request = file_request(2)
    client_for(governed.editor).post(
        f"/api/v1/requests/{request.pk}/approve",
        {"comment": "mine", "signature": signature_of(governed.editor)},
        format="json",
    )
    client_for(governed.editor).post(
        "/api/v1/models/scoring/versions/2/stage", {"stage": "Production"}, format="json"
    )
    assert [e.action for e in refused()] == [APPROVAL_REFUSED, TRANSITION_REFUSED]
    from django.core.management import call_command

    call_command("audit_verify")  # the chain still verifies with the refusals in it
