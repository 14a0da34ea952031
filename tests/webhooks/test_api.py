"""The native webhook API: who may manage which webhooks, secrets shown once, audit, clear 400s."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.grants import Level
from audit.models import Action, AuditEvent
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed")]


@pytest.fixture
def hook_body(receiver):
    return {"name": "ci", "url": receiver.url, "events": ["model_version.created"]}


def registry_webhook_manager():
    user = make_user("platform")
    user.user_permissions.add(Permission.objects.get(codename="manage_registry_webhooks"))
    return type(user).objects.get(pk=user.pk)


def test_per_model_webhooks_need_manage_and_unseen_models_look_missing(
    cast, fraud, client_for, grant, hook_body
):
    body = {**hook_body, "model": "fraud"}
    editor = grant(grant(cast.editor, Level.READ, fraud), Level.EDIT, fraud)
    refused = client_for(editor).post("/api/v1/webhooks", body, format="json")
    assert refused.status_code == 403 and "needs MANAGE" in refused.json()["message"]
    hidden = client_for(cast.outsider).post("/api/v1/webhooks", body, format="json")
    assert hidden.status_code == 404 and hidden.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert client_for(None).post("/api/v1/webhooks", body, format="json").status_code == 401
    created = client_for(cast.owner).post("/api/v1/webhooks", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["model"] == "fraud"

    webhook_id = created.json()["id"]
    for user in (editor, cast.outsider):
        assert client_for(user).get(f"/api/v1/webhooks/{webhook_id}").status_code == 404
        assert client_for(user).get("/api/v1/webhooks").json()["results"] == []
        assert client_for(user).delete(f"/api/v1/webhooks/{webhook_id}").status_code == 404
    assert client_for(cast.admin).get(f"/api/v1/webhooks/{webhook_id}").status_code == 200


def test_registry_wide_webhooks_need_the_global_permission(cast, fraud, client_for, hook_body):
    refused = client_for(cast.owner).post("/api/v1/webhooks", hook_body, format="json")
    assert refused.status_code == 403 and "registry.manage_registry_webhooks" in refused.json()["message"]
    platform = registry_webhook_manager()
    created = client_for(platform).post("/api/v1/webhooks", hook_body, format="json")
    assert created.status_code == 201 and created.json()["model"] is None
    assert client_for(cast.admin).post("/api/v1/webhooks", hook_body, format="json").status_code == 201
    listed = client_for(cast.owner).get("/api/v1/webhooks").json()["results"]
    assert listed == []  # the model's manager does not see registry-wide webhooks
    assert len(client_for(platform).get("/api/v1/webhooks").json()["results"]) == 2
    assert client_for(platform).get("/api/v1/webhooks", {"model": ""}).json()["count"] == 2


def test_the_secret_is_shown_once_and_never_again_nor_audited(cast, fraud, client_for, hook_body):
    owner = client_for(cast.owner)
    created = owner.post("/api/v1/webhooks", {**hook_body, "model": "fraud"}, format="json").json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30 and created["signed"] is True
    webhook_id = created["id"]

    chosen = owner.post(
        "/api/v1/webhooks", {**hook_body, "model": "fraud", "secret": "my-own-secret-value"}, format="json"
    ).json()
    assert chosen["secret"] == "my-own-secret-value"

    rotated = owner.patch(f"/api/v1/webhooks/{webhook_id}", {"secret": "rotated-secret-value"}, format="json")
    assert rotated.status_code == 200 and "secret" not in rotated.json()
    shown = [
        owner.get(f"/api/v1/webhooks/{webhook_id}").content,
        owner.get("/api/v1/webhooks").content,
        owner.get("/api/v1/audit/events").content,
    ]
    trail = json.dumps(list(AuditEvent.objects.values("before", "after", "target_name", "reason")))
    for text in (*[s.decode() for s in shown], trail):
        for value in (secret, "my-own-secret-value", "rotated-secret-value"):
            assert value not in text
    changes = AuditEvent.objects.filter(action=Action.WEBHOOK_CHANGED).order_by("seq")
    assert [e.after["change"] for e in changes] == ["created", "created", "updated"]
    assert changes.last().after["fields"] == {"secret_rotated": True}
    assert changes.first().model_name == "fraud" and changes.first().actor_username == "owner"


def test_update_and_delete_are_audited(cast, fraud, client_for, hook_body):
    owner = client_for(cast.owner)
    webhook_id = owner.post("/api/v1/webhooks", {**hook_body, "model": "fraud"}, format="json").json()["id"]
    updated = owner.patch(
        f"/api/v1/webhooks/{webhook_id}",
        {
            "events": ["transition_request.created", "comment.created"],
            "status": "TEST_MODE",
            "name": "review",
        },
        format="json",
    )
    assert updated.status_code == 200, updated.content
    assert (updated.json()["events"], updated.json()["status"], updated.json()["name"]) == (
        ["transition_request.created", "comment.created"],
        "TEST_MODE",
        "review",
    )
    assert owner.delete(f"/api/v1/webhooks/{webhook_id}").status_code == 204
    assert owner.get(f"/api/v1/webhooks/{webhook_id}").status_code == 404
    changes = list(AuditEvent.objects.filter(action=Action.WEBHOOK_CHANGED).order_by("seq"))
    assert [e.after["change"] for e in changes] == ["created", "updated", "deleted"]
    assert set(changes[1].after["fields"]) == {"events", "status", "name"}


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        ({"events": ["model_version.exploded"]}, "events", "Unknown event 'model_version.exploded'"),
        ({"events": []}, "events", "non-empty list"),
        ({"events": "model_version.created"}, "events", "non-empty list"),
        ({"name": ""}, "name", "is required"),
        ({"name": 7}, "name", "must be a string"),
        ({"status": "PAUSED"}, "status", "ACTIVE, DISABLED, TEST_MODE"),
        ({"url": "http://10.1.2.3/"}, "url", "not a public address"),
        ({"description": "x\x00y"}, "description", "NUL"),
        ({"model": "other"}, "model", "cannot change"),
        ({"colour": "blue"}, "colour", "Unknown field"),
    ],
)
def test_bad_updates_get_a_clear_400(cast, fraud, client_for, hook_body, patch, field, message):
    owner = client_for(cast.owner)
    webhook_id = owner.post("/api/v1/webhooks", {**hook_body, "model": "fraud"}, format="json").json()["id"]
    response = owner.patch(f"/api/v1/webhooks/{webhook_id}", patch, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert response.json().get("field") == field and message in response.json()["message"]


def test_bad_creates_and_lookups(cast, fraud, client_for, hook_body):
    owner = client_for(cast.owner)
    missing = owner.post("/api/v1/webhooks", {"name": "x", "url": hook_body["url"]}, format="json")
    assert missing.status_code == 400 and missing.json()["field"] == "events"
    not_json = owner.post("/api/v1/webhooks", "{nope", content_type="application/json")
    assert not_json.status_code == 400
    listed = owner.post("/api/v1/webhooks", [hook_body], format="json")
    assert listed.status_code == 400
    assert owner.get("/api/v1/webhooks/0123456789abcdef").status_code == 404
    webhook_id = owner.post("/api/v1/webhooks", {**hook_body, "model": "fraud"}, format="json").json()["id"]
    assert owner.get(f"/api/v1/webhooks/{webhook_id}/deliveries", {"status": "LOST"}).status_code == 400
    unknown = "00000000-0000-0000-0000-000000000000"
    assert owner.get(f"/api/v1/webhooks/{webhook_id}/deliveries/{unknown}").status_code == 404
    assert owner.post(f"/api/v1/webhooks/{webhook_id}/deliveries/{unknown}/replay").status_code == 404
    assert (
        owner.post(f"/api/v1/webhooks/{webhook_id}/test", {"event": "nope"}, format="json").status_code == 400
    )


def test_listing_webhooks_and_deliveries_costs_a_fixed_number_of_queries(cast, fraud, client_for, hook_body):
    from registry import services as registry_services
    from webhooks.models import WebhookDelivery

    platform = registry_webhook_manager()
    api = client_for(platform)

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(url).status_code == 200
        return len(captured)

    first = api.post("/api/v1/webhooks", {**hook_body, "events": ["*"]}, format="json").json()["id"]
    registry_services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="1")
    one_hook, one_delivery = queries("/api/v1/webhooks"), queries(f"/api/v1/webhooks/{first}/deliveries")
    for n in range(4):
        api.post("/api/v1/webhooks", {**hook_body, "name": f"h{n}"}, format="json")
        registry_services.model_version_tag_set(
            actor=cast.owner, name="fraud", version=1, key="k", value=str(n)
        )
    assert WebhookDelivery.objects.filter(webhook__public_id=first).count() == 5
    assert queries("/api/v1/webhooks") == one_hook
    assert queries(f"/api/v1/webhooks/{first}/deliveries") == one_delivery


def test_a_superuser_without_grants_is_audited_once_per_write(cast, fraud, client_for, hook_body):
    admin = client_for(cast.admin)
    created = admin.post("/api/v1/webhooks", hook_body, format="json").json()
    admin.get(f"/api/v1/webhooks/{created['id']}")
    admin.patch(f"/api/v1/webhooks/{created['id']}", {"name": "renamed"}, format="json")
    per_model = admin.post("/api/v1/webhooks", {**hook_body, "model": "fraud"}, format="json")
    assert per_model.status_code == 201
    doings = [
        (e.after["doing"], e.after["permission_not_granted"])
        for e in AuditEvent.objects.filter(action=Action.SUPERUSER_ACTION).order_by("seq")
    ]
    assert doings == [
        ("Creating a registry-wide webhook", "registry.manage_registry_webhooks"),
        ("Changing a registry-wide webhook", "registry.manage_registry_webhooks"),
        ("Creating a webhook", "manage_registeredmodel"),
    ]
