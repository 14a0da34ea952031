"""The real mlflow client's webhook calls against a live Quorum, delivering to a loopback receiver."""

import pytest
from django.contrib.auth.models import Permission
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.exceptions import MlflowException

from audit.models import Action, AuditEvent
from tests.fixtures_mlflow import api_token_for
from webhooks.models import Webhook

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords", "ungoverned", "loopback_allowed", "webhooks_in_process"),
]


@pytest.fixture
def platform_client(live_server, cast, mlflow_env) -> MlflowClient:
    """The client as a user holding the global webhook permission, with a Bearer token."""
    cast.owner.user_permissions.add(Permission.objects.get(codename="manage_registry_webhooks"))
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_TOKEN=api_token_for(cast.owner),
    )
    return MlflowClient()


def test_webhook_lifecycle_through_the_mlflow_client(platform_client, receiver):
    client = platform_client
    created = client.create_webhook(
        name="ci",
        url=receiver.url,
        events=["model_version.created", WebhookEvent("model_version_alias", "created")],
        description="deploys",
        secret=receiver.secret,
    )
    assert (created.name, created.url, created.description) == ("ci", receiver.url, "deploys")
    assert [str(e) for e in created.events] == ["model_version.created", "model_version_alias.created"]
    assert created.status == WebhookStatus.ACTIVE and created.secret is None
    assert created.creation_timestamp > 0

    assert client.get_webhook(created.webhook_id).name == "ci"
    assert [w.webhook_id for w in client.list_webhooks()] == [created.webhook_id]

    updated = client.update_webhook(
        created.webhook_id, name="ci-2", events=["model_version_tag.set"], status="DISABLED"
    )
    assert (updated.name, [str(e) for e in updated.events], updated.status) == (
        "ci-2",
        ["model_version_tag.set"],
        WebhookStatus.DISABLED,
    )
    client.update_webhook(created.webhook_id, status="ACTIVE", events=["registered_model.created"])

    client.create_registered_model("churn")  # a real event, delivered signed
    [event] = receiver.received
    assert event.signature_valid is True
    assert (event.json["entity"], event.json["action"], event.json["data"]["name"]) == (
        "registered_model",
        "created",
        "churn",
    )

    result = client.test_webhook(created.webhook_id)
    assert (result.success, result.response_status) == (True, 200)
    assert receiver.received[-1].json["data"]["name"] == "example_model"
    receiver.default_status = 500
    failed = client.test_webhook(created.webhook_id, event="model_version.created")
    assert (failed.success, failed.response_status) == (False, 500)
    assert failed.response_body in (None, "")  # the receiver's answer is never echoed
    assert failed.error_message is None  # as MLflow answers an HTTP error: the status, no error_message
    receiver.stop()
    unreachable = client.test_webhook(created.webhook_id)
    assert (unreachable.success, unreachable.response_status) == (False, None)
    assert unreachable.error_message.startswith("Failed to test webhook: ")  # MLflow's words
    receiver.start()

    client.delete_webhook(created.webhook_id)
    with pytest.raises(MlflowException) as missing:
        client.get_webhook(created.webhook_id)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [
        e.after["change"] for e in AuditEvent.objects.filter(action=Action.WEBHOOK_CHANGED).order_by("seq")
    ][:2] == ["created", "updated"]


def test_list_pages_and_refusals_through_the_mlflow_client(platform_client, receiver, cast, settings):
    client = platform_client
    ids = [
        client.create_webhook(name=f"h{n}", url=receiver.url, events=["model_version.created"]).webhook_id
        for n in range(3)
    ]
    first = client.list_webhooks(max_results=2)
    assert [w.webhook_id for w in first] == ids[:2] and first.token
    assert [w.webhook_id for w in client.list_webhooks(max_results=2, page_token=first.token)] == ids[2:]

    with pytest.raises(MlflowException) as private:
        client.create_webhook(
            name="x", url="http://169.254.169.254/latest/", events=["model_version.created"]
        )
    assert private.value.error_code == "INVALID_PARAMETER_VALUE" and "not a public address" in str(
        private.value
    )
    settings.QUORUM_WEBHOOK_ALLOWLIST = []
    with pytest.raises(MlflowException) as loopback:
        client.create_webhook(name="x", url=receiver.url, events=["model_version.created"])
    assert "127.0.0.1" in str(loopback.value)
    assert Webhook.objects.filter(name="x").count() == 0


def test_the_mlflow_client_without_the_permission_sees_and_creates_nothing(
    live_server, cast, mlflow_env, receiver
):
    Webhook.objects.create(name="theirs", url=receiver.url, events=["model_version.created"])
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_TOKEN=api_token_for(cast.editor),
    )
    client = MlflowClient()
    assert list(client.list_webhooks()) == []
    with pytest.raises(MlflowException) as refused:
        client.create_webhook(name="x", url=receiver.url, events=["model_version.created"])
    assert refused.value.error_code == "PERMISSION_DENIED"
    theirs = Webhook.objects.get().public_id
    with pytest.raises(MlflowException) as hidden:
        client.get_webhook(theirs)
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
