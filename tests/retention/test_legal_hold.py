"""A legal hold blocks every way of removing what it covers: the native API, the MLflow REST routes,
the admin, an approved alias-removal request, the purge. Placing and lifting it is the compliance
role's, with a reason, audited."""

import pytest
from django.test import Client

from audit.models import Action, AuditEvent
from registry import ports
from registry import services as registry_services
from registry.errors import HoldRefused
from registry.models import ModelAlias, ModelVersion, RegisteredModel
from tests.fixtures_mlflow import basic_header
from tests.fixtures_workflow import signature_of

pytestmark = pytest.mark.django_db


def mlflow_delete(client_for, user, endpoint: str, params: dict):
    return client_for(user).delete(
        f"/api/2.0/mlflow/{endpoint}",
        params,
        format="json",
        HTTP_AUTHORIZATION=basic_header(user.username, f"{user.username}-pw-123!"),
    )


def test_only_the_compliance_role_places_a_hold_and_a_refusal_is_audited(fraud, cast, client_for, compliance):
    body = {"model": "fraud", "version": 1, "reason": "regulator inquiry"}
    refused = client_for(cast.owner).post("/api/v1/legal-holds", body, format="json")
    assert refused.status_code == 403, refused.content
    assert "retention.place_legal_hold" in refused.json()["message"]
    event = AuditEvent.objects.get(action=Action.LEGAL_HOLD_REFUSED)
    assert (event.actor_username, event.model_name) == ("owner", "fraud")
    # Someone who cannot see the model learns nothing: 404, like a missing model.
    assert client_for(cast.outsider).post("/api/v1/legal-holds", body, format="json").status_code == 404
    assert (
        client_for(compliance).post("/api/v1/legal-holds", {**body, "reason": " "}, format="json").status_code
        == 400
    )

    placed = client_for(compliance).post("/api/v1/legal-holds", body, format="json")
    assert placed.status_code == 201, placed.content
    assert (placed.json()["model"], placed.json()["version"], placed.json()["active"]) == ("fraud", 1, True)
    event = AuditEvent.objects.get(action=Action.LEGAL_HOLD_PLACED)
    assert (event.actor_username, event.version, event.reason) == ("compliance", 1, "regulator inquiry")
    # A superuser may too; the owner sees the holds on the model, an outsider none.
    assert (
        client_for(cast.admin)
        .post("/api/v1/legal-holds", {"model": "fraud", "reason": "x"}, format="json")
        .status_code
        == 201
    )
    seen = client_for(cast.owner).get("/api/v1/legal-holds").json()
    assert seen["count"] == 2
    assert {hold["reason"] for hold in seen["results"]} == {None}  # the matter is the compliance role's
    assert {
        hold["reason"] for hold in client_for(compliance).get("/api/v1/legal-holds").json()["results"]
    } == {
        "regulator inquiry",
        "x",
    }
    assert client_for(cast.outsider).get("/api/v1/legal-holds").json()["count"] == 0


def test_a_held_version_cannot_be_deleted_by_any_route(fraud, cast, client_for, hold):
    hold("fraud", 1)
    attempts = {
        "native version": lambda: client_for(cast.owner).delete("/api/v1/models/fraud/versions/1"),
        "native model": lambda: client_for(cast.owner).delete("/api/v1/models/fraud"),
        "superuser native": lambda: client_for(cast.admin).delete("/api/v1/models/fraud/versions/1"),
        "mlflow version": lambda: mlflow_delete(
            client_for, cast.owner, "model-versions/delete", {"name": "fraud", "version": "1"}
        ),
        "mlflow model": lambda: mlflow_delete(
            client_for, cast.owner, "registered-models/delete", {"name": "fraud"}
        ),
    }
    for route, attempt in attempts.items():
        response = attempt()
        assert response.status_code == 403, (route, response.content)
        assert response.json()["error_code"] == "PERMISSION_DENIED", route
        assert "legal hold" in response.json()["message"], route
    assert ModelVersion.objects.filter(model=fraud, version=1).exists()
    assert RegisteredModel.objects.filter(name="fraud").exists()
    assert AuditEvent.objects.filter(action=Action.RETENTION_REFUSED).count() == len(attempts)
    assert not AuditEvent.objects.filter(action__in=[Action.VERSION_DELETED, Action.MODEL_DELETED]).exists()
    # Version 2 is not held: it goes.
    assert client_for(cast.owner).delete("/api/v1/models/fraud/versions/2").status_code == 204


def test_the_admin_cannot_delete_a_held_version_or_model(fraud, cast, hold):
    hold("fraud", 1)
    browser = Client()
    browser.force_login(cast.admin)
    version = ModelVersion.objects.get(model=fraud, version=1)
    for url in (
        f"/admin/registry/modelversion/{version.pk}/delete/",
        f"/admin/registry/registeredmodel/{fraud.pk}/delete/",
    ):
        assert browser.post(url, {"post": "yes"}).status_code == 403, url
    assert ModelVersion.objects.filter(pk=version.pk).exists()


def test_a_hold_on_the_model_covers_every_version(fraud, cast, client_for, hold):
    hold("fraud")
    for number in (1, 2, 3):
        assert client_for(cast.owner).delete(f"/api/v1/models/fraud/versions/{number}").status_code == 403
    assert fraud.versions.count() == 3


def test_the_alias_of_a_held_version_cannot_be_removed(fraud, cast, client_for, hold):
    registry_services.alias_set(actor=cast.owner, name="fraud", alias="shadow", version=1)
    hold("fraud", 1)
    assert client_for(cast.owner).delete("/api/v1/models/fraud/aliases/shadow").status_code == 403
    response = mlflow_delete(
        client_for, cast.owner, "registered-models/alias", {"name": "fraud", "alias": "shadow"}
    )
    assert response.status_code == 403 and response.json()["error_code"] == "PERMISSION_DENIED"
    assert ModelAlias.objects.filter(model=fraud, alias="shadow").exists()


def test_releasing_the_hold_lets_the_version_go(fraud, cast, client_for, compliance, hold):
    placed = hold("fraud", 1)
    release = f"/api/v1/legal-holds/{placed['id']}/release"
    assert client_for(cast.owner).post(release, {"reason": "done"}, format="json").status_code == 403
    assert client_for(compliance).post(release, {}, format="json").status_code == 400
    released = client_for(compliance).post(release, {"reason": "case closed"}, format="json")
    assert released.status_code == 200, released.content
    assert released.json()["active"] is False and released.json()["released_by"] == "compliance"
    assert client_for(compliance).post(release, {"reason": "again"}, format="json").status_code == 409
    event = AuditEvent.objects.get(action=Action.LEGAL_HOLD_RELEASED)
    assert (event.actor_username, event.reason) == ("compliance", "case closed")
    assert client_for(cast.owner).delete("/api/v1/models/fraud/versions/1").status_code == 204


def test_an_approved_removal_request_cannot_take_the_alias_from_a_held_version(
    governed, client_for, compliance, hold
):
    model = governed.model
    registry_services.alias_apply(
        actor=governed.owner,
        model=model,
        alias="champion",
        row=ModelVersion.objects.get(model=model, version=2),
    )
    placed = hold("scoring", 2)
    filed = client_for(governed.owner).post(
        "/api/v1/models/scoring/requests",
        {"version": 2, "alias": "champion", "remove": True, "reason": "retire"},
        format="json",
    )
    assert filed.status_code == 201, filed.content
    answers = [
        client_for(approver).post(
            f"/api/v1/requests/{filed.json()['id']}/approve",
            {"comment": "ok", "signature": signature_of(approver)},
            format="json",
        )
        for approver in (governed.approver, governed.second_approver)
    ]
    assert answers[-1].status_code == 403, answers[-1].content
    assert "legal hold" in answers[-1].json()["message"]
    assert ModelAlias.objects.filter(model=model, alias="champion").exists()
    # Lifted, the same request applies on the next approval.
    assert (
        client_for(governed.owner).get(f"/api/v1/requests/{filed.json()['id']}").json()["state"] == "pending"
    )
    release = f"/api/v1/legal-holds/{placed['id']}/release"
    assert client_for(compliance).post(release, {"reason": "closed"}, format="json").status_code == 200
    again = client_for(governed.second_approver).post(
        f"/api/v1/requests/{filed.json()['id']}/approve",
        {"comment": "ok", "signature": signature_of(governed.second_approver)},
        format="json",
    )
    assert again.status_code == 200, again.content
    assert not ModelAlias.objects.filter(model=model, alias="champion").exists()


def test_without_a_retention_app_nothing_is_deleted(fraud, cast, monkeypatch):
    monkeypatch.setattr(ports, "_ports", ports._Ports(governance=ports._ports.governance))
    with pytest.raises(HoldRefused, match="no retention is installed"):
        registry_services.model_version_delete(actor=cast.owner, name="fraud", version=1)
    assert fraud.versions.count() == 3


def test_the_retention_app_fills_the_port_at_start_up():
    from retention.services import HoldRetention

    assert isinstance(ports.retention(), HoldRetention)
