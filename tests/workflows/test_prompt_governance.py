"""Prompts governed like models: a policy on a prompt alias needs four-eyes approval, is audited, and
the evidence is the template's digest; attacked first through the real mlflow client."""

import hashlib

import mlflow.genai
import pytest
from mlflow.exceptions import MlflowException

from access.grants import Level
from audit.models import Action, AuditEvent
from registry.models import ModelAlias, RegisteredModel
from tests.fixtures_workflow import grant_levels, password_of, signature_of

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CAREFUL = "You are a support agent. Answer {{question}} and cite the knowledge base."
CARELESS = "You are a support agent. Answer {{question}}."


@pytest.fixture
def governed_prompt(live_server, cast, mlflow_env, monkeypatch, client_for):
    """'support-bot' v1 (careless), v2 (careful); @production governed (2 approvals, production rank)."""
    # The client caches loaded prompts across calls (and tests); each read here must reach Quorum.
    monkeypatch.setenv("MLFLOW_ALIAS_PROMPT_CACHE_TTL_SECONDS", "0")
    monkeypatch.setenv("MLFLOW_VERSION_PROMPT_CACHE_TTL_SECONDS", "0")
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
    )
    mlflow.genai.register_prompt("support-bot", CARELESS)
    mlflow.genai.register_prompt("support-bot", CAREFUL, commit_message="cite sources")
    prompt = RegisteredModel.objects.get(name="support-bot")
    for user in (cast.approver, cast.second_approver):
        grant_levels(user, prompt, Level.APPROVE_PRODUCTION)
    r = client_for(cast.owner).put("/api/v1/models/support-bot/policies/alias/production", {}, format="json")
    assert r.status_code == 200, r.content
    return prompt


def test_a_careless_owner_cannot_set_or_drop_the_governed_prompt_alias(governed_prompt, cast, client_for):
    with pytest.raises(MlflowException) as refused:
        mlflow.genai.set_prompt_alias("support-bot", "production", 1)
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert "POST /api/v1/models/support-bot/requests" in refused.value.message
    assert '"alias": "production"' in refused.value.message
    with pytest.raises(MlflowException):
        mlflow.genai.load_prompt("prompts:/support-bot@production")
    assert not ModelAlias.objects.filter(model=governed_prompt).exists()
    refusal = AuditEvent.objects.get(action=Action.TRANSITION_REFUSED)
    assert (refusal.actor_username, refusal.model_name, refusal.version) == ("owner", "support-bot", 1)
    # Look-alikes of the governed alias are refused too (they would serve an unapproved template).
    with pytest.raises(MlflowException) as lookalike:
        mlflow.genai.set_prompt_alias("support-bot", "Production", 1)
    assert lookalike.value.error_code in ("INVALID_PARAMETER_VALUE", "PERMISSION_DENIED")

    # Once approved in, the alias leaves only by an approved removal request.
    request = _file(client_for, cast.owner, 2)
    _approve(client_for, cast.approver, request["id"])
    _approve(client_for, cast.second_approver, request["id"])
    with pytest.raises(MlflowException) as refused:
        mlflow.genai.delete_prompt_alias("support-bot", "production")
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert mlflow.genai.load_prompt("prompts:/support-bot@production").version == 2


def _file(client_for, user, version: int) -> dict:
    r = client_for(user).post(
        "/api/v1/models/support-bot/requests",
        {"version": version, "alias": "production", "reason": "cites the knowledge base"},
        format="json",
    )
    assert r.status_code == 201, r.content
    return r.json()


def _approve(client_for, user, request_id: int):
    r = client_for(user).post(
        f"/api/v1/requests/{request_id}/approve",
        {"comment": "reviewed", "signature": signature_of(user)},
        format="json",
    )
    assert r.status_code == 200, r.content
    return r.json()


def test_two_approvals_move_the_prompt_alias_and_load_prompt_returns_the_approved_template(
    governed_prompt, cast, client_for, client
):
    request = _file(client_for, cast.owner, 2)
    digest = "sha256:" + hashlib.sha256(CAREFUL.encode()).hexdigest()
    assert request["evidence"]["template_digest"] == digest
    assert request["evidence"]["artifact_digest"] == digest

    # Four-eyes: the requester (also the version's author) may not approve their own prompt.
    r = client_for(cast.owner).post(
        f"/api/v1/requests/{request['id']}/approve",
        {"comment": "mine", "signature": signature_of(cast.owner)},
        format="json",
    )
    assert r.status_code == 403
    assert _approve(client_for, cast.approver, request["id"])["state"] == "pending"
    with pytest.raises(MlflowException):
        mlflow.genai.load_prompt("prompts:/support-bot@production")

    # The second approval through the approval page, which shows the template digest.
    cast.second_approver.is_staff = True
    cast.second_approver.save(update_fields=["is_staff"])
    client.force_login(cast.second_approver)
    page = client.get(f"/admin/approvals/{request['id']}/").content.decode()
    assert f'<code id="template-digest">{digest}</code>' in page
    r = client.post(
        f"/admin/approvals/{request['id']}/decide",
        {
            "decision": "approve",
            "comment": "ok",
            "meaning": "Approved for production",
            "password": password_of(cast.second_approver),
        },
    )
    assert r.status_code in (200, 302)

    served = mlflow.genai.load_prompt("prompts:/support-bot@production")
    assert (served.version, served.template) == (2, CAREFUL)
    assert served.format(question="refunds?") == CAREFUL.replace("{{question}}", "refunds?")
    moved = AuditEvent.objects.get(action=Action.ALIAS_SET, model_name="support-bot")
    assert moved.version == 2
    assert AuditEvent.objects.filter(action=Action.REQUEST_APPLIED, model_name="support-bot").count() == 1
    assert AuditEvent.objects.filter(action=Action.REQUEST_APPROVED, model_name="support-bot").count() >= 2
