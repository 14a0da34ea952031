"""MLflow's prompt webhook events through the real mlflow client: accepted, raised by prompt operations
(never the model events MLflow's server does not raise for prompts), and in MLflow's payload shapes."""

import mlflow.genai
import pytest
from django.contrib.auth.models import Permission
from mlflow import MlflowClient
from mlflow.webhooks import types as mlflow_types

from tests.fixtures_mlflow import api_token_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures(
        "fast_passwords", "ungoverned", "loopback_allowed", "webhooks_in_process", "celery_in_process"
    ),
]

PROMPT_EVENTS = (
    "prompt.created",
    "prompt_version.created",
    "prompt_tag.set",
    "prompt_tag.deleted",
    "prompt_version_tag.set",
    "prompt_version_tag.deleted",
    "prompt_alias.created",
    "prompt_alias.deleted",
)
# MLflow's TypedDict of each event's `data` (mlflow/webhooks/types.py): the keys a receiver reads.
MLFLOW_SHAPES = {
    "prompt.created": mlflow_types.PromptCreatedPayload,
    "prompt_version.created": mlflow_types.PromptVersionCreatedPayload,
    "prompt_tag.set": mlflow_types.PromptTagSetPayload,
    "prompt_tag.deleted": mlflow_types.PromptTagDeletedPayload,
    "prompt_version_tag.set": mlflow_types.PromptVersionTagSetPayload,
    "prompt_version_tag.deleted": mlflow_types.PromptVersionTagDeletedPayload,
    "prompt_alias.created": mlflow_types.PromptAliasCreatedPayload,
    "prompt_alias.deleted": mlflow_types.PromptAliasDeletedPayload,
}


@pytest.fixture
def platform_client(live_server, cast, mlflow_env) -> MlflowClient:
    cast.owner.user_permissions.add(Permission.objects.get(codename="manage_registry_webhooks"))
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_TOKEN=api_token_for(cast.owner),
    )
    return MlflowClient()


def _received(receiver) -> list[tuple[str, dict]]:
    return [(f"{r.json['entity']}.{r.json['action']}", r.json["data"]) for r in receiver.received]


def test_prompt_operations_raise_mlflows_prompt_events(platform_client, receiver):
    client = platform_client
    model_events = [
        "registered_model.created",
        "model_version.created",
        "model_version_tag.set",
        "model_version_tag.deleted",
        "model_version_alias.created",
        "model_version_alias.deleted",
    ]
    webhook = client.create_webhook(
        name="prompts", url=receiver.url, events=[*PROMPT_EVENTS, *model_events], secret=receiver.secret
    )
    assert sorted(str(e) for e in webhook.events) == sorted([*PROMPT_EVENTS, *model_events])

    mlflow.genai.register_prompt("greeting", "Hello {{name}}!", commit_message="first", tags={"team": "cx"})
    client.set_prompt_tag("greeting", "owner", "cx-team")
    client.delete_prompt_tag("greeting", "owner")
    client.set_prompt_version_tag("greeting", 1, "reviewed", "yes")
    client.delete_prompt_version_tag("greeting", 1, "reviewed")
    mlflow.genai.set_prompt_alias("greeting", "staging", 1)
    mlflow.genai.delete_prompt_alias("greeting", "staging")

    received = _received(receiver)
    assert all(r.signature_valid is True for r in receiver.received)
    assert not [name for name, _ in received if not name.startswith("prompt")]  # no model events
    by_name = {}
    for name, data in received:
        by_name.setdefault(name, data)  # the client may set more prompt tags; the first of each counts
        assert set(data) == set(MLFLOW_SHAPES[name].__annotations__), name
    assert set(by_name) == set(PROMPT_EVENTS)
    assert by_name["prompt.created"]["name"] == "greeting"
    assert by_name["prompt.created"]["tags"] == {"team": "cx"}
    version = by_name["prompt_version.created"]
    assert (version["name"], version["version"], version["template"], version["description"]) == (
        "greeting",
        "1",
        "Hello {{name}}!",
        "first",
    )
    assert not {"mlflow.prompt.is_prompt", "mlflow.prompt.text", "_mlflow_prompt_type"} & set(version["tags"])
    assert ("prompt_tag.set", {"name": "greeting", "key": "owner", "value": "cx-team"}) in received
    assert ("prompt_tag.deleted", {"name": "greeting", "key": "owner"}) in received
    assert by_name["prompt_version_tag.set"] == {
        "name": "greeting",
        "version": "1",
        "key": "reviewed",
        "value": "yes",
    }
    assert by_name["prompt_version_tag.deleted"] == {"name": "greeting", "version": "1", "key": "reviewed"}
    assert by_name["prompt_alias.created"] == {"name": "greeting", "alias": "staging", "version": "1"}
    assert by_name["prompt_alias.deleted"] == {"name": "greeting", "alias": "staging"}

    # A model beside it still raises the model events, not the prompt ones.
    client.create_registered_model("churn")
    assert _received(receiver)[-1][0] == "registered_model.created"


def test_test_webhook_sends_mlflows_prompt_examples(platform_client, receiver):
    client = platform_client
    webhook = client.create_webhook(name="p", url=receiver.url, events=["prompt_version.created"])
    result = client.test_webhook(webhook.webhook_id, event="prompt_version.created")
    assert result.success is True
    body = receiver.received[-1].json
    assert (body["entity"], body["action"]) == ("prompt_version", "created")
    assert body["data"] == dict(mlflow_types.PromptVersionCreatedPayload.example())
