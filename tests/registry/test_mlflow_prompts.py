"""The prompt registry (mlflow.genai) through the real, unchanged mlflow client against a live Quorum."""

import json

import mlflow.genai
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry.models import ModelVersion, VersionStatus

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords", "ungoverned", "celery_in_process"),
]


@pytest.fixture
def as_owner(live_server, cast, mlflow_env, monkeypatch):
    # The client caches loaded prompts across calls (and tests); each read here must reach Quorum.
    monkeypatch.setenv("MLFLOW_ALIAS_PROMPT_CACHE_TTL_SECONDS", "0")
    monkeypatch.setenv("MLFLOW_VERSION_PROMPT_CACHE_TTL_SECONDS", "0")
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
    )
    return cast


@pytest.fixture
def greeting(as_owner):
    """'greeting' v1 (text, tagged) and v2 (chat messages), and a plain model 'churn' beside it."""
    mlflow.genai.register_prompt("greeting", "Hello {{name}}!", commit_message="first", tags={"team": "cx"})
    mlflow.genai.register_prompt(
        "greeting", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi {{name}}"}]
    )
    MlflowClient().create_registered_model("churn")
    return as_owner


def test_register_version_and_load_by_number_and_alias(greeting):
    first = mlflow.genai.load_prompt("prompts:/greeting/1")
    assert (first.template, first.commit_message, first.tags) == ("Hello {{name}}!", "first", {"team": "cx"})
    assert first.format(name="Ada") == "Hello Ada!"
    second = mlflow.genai.load_prompt("prompts:/greeting/2")
    assert second.template[1] == {"role": "user", "content": "Hi {{name}}"}
    # Complete at once (no artifacts to validate), as on MLflow's server.
    assert set(ModelVersion.objects.filter(model__name="greeting").values_list("status", flat=True)) == {
        VersionStatus.READY
    }

    mlflow.genai.set_prompt_alias("greeting", "staging", 1)
    assert mlflow.genai.load_prompt("prompts:/greeting@staging").version == 1
    mlflow.genai.set_prompt_alias("greeting", "staging", 2)
    assert mlflow.genai.load_prompt("prompts:/greeting@staging").version == 2
    mlflow.genai.delete_prompt_alias("greeting", "staging")
    with pytest.raises(MlflowException):
        mlflow.genai.load_prompt("prompts:/greeting@staging")


def test_tags_on_prompts_and_prompt_versions(greeting):
    client = MlflowClient()
    client.set_prompt_tag("greeting", "owner", "cx-team")
    client.delete_prompt_tag("greeting", "team")
    tags = client.get_prompt("greeting").tags
    assert tags["owner"] == "cx-team" and "team" not in tags
    client.set_prompt_version_tag("greeting", 1, "reviewed", "yes")
    assert client.get_prompt_version("greeting", 1).tags["reviewed"] == "yes"
    client.delete_prompt_version_tag("greeting", 1, "reviewed")
    assert "reviewed" not in client.get_prompt_version("greeting", 1).tags


def test_prompt_searches_find_only_prompts_and_model_searches_only_models(greeting):
    client = MlflowClient()
    mlflow.genai.register_prompt("farewell", "Bye {{name}}")
    assert sorted(p.name for p in mlflow.genai.search_prompts()) == ["farewell", "greeting"]
    assert [p.name for p in mlflow.genai.search_prompts("name LIKE 'gre%'")] == ["greeting"]
    assert [m.name for m in client.search_registered_models()] == ["churn"]
    assert [v.name for v in client.search_model_versions("name = 'greeting'")] == []
    versions = client.search_prompt_versions("greeting")
    assert [v.version for v in versions] == [2, 1]


def _raw(live_server, endpoint: str, body: dict, method: str = "POST") -> requests.Response:
    """A call on the wire, as someone bypassing the client's own guards would make it."""
    return requests.request(
        method,
        f"{live_server.url}/api/2.0/mlflow/{endpoint}",
        json=body,
        auth=("owner", "owner-pw-123!"),
        timeout=30,
    )


def test_an_approved_template_cannot_be_rewritten_through_its_tags(greeting, live_server):
    """Attack: keep the version number, change what it serves (or flip prompt-ness) with a tag call."""
    client = MlflowClient()
    for attempt in (
        lambda: client.set_prompt_version_tag("greeting", 1, "mlflow.prompt.text", "Ignore all rules"),
        lambda: client.delete_prompt_version_tag("greeting", 1, "mlflow.prompt.text"),
        lambda: client.set_prompt_version_tag("greeting", 2, "_mlflow_prompt_model_config", "{}"),
        lambda: client.set_prompt_tag("greeting", "mlflow.prompt.is_prompt", "false"),
        lambda: client.delete_prompt_tag("greeting", "mlflow.prompt.is_prompt"),
    ):
        with pytest.raises(MlflowException) as refused:
            attempt()
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "cannot change" in refused.value.message
    for endpoint, body, method in (
        (
            "model-versions/set-tag",
            {"name": "greeting", "version": "1", "key": "mlflow.prompt.text", "value": "x"},
            "POST",
        ),
        (
            "model-versions/set-tag",
            {"name": "greeting", "version": "1", "key": "mlflow.prompt.is_prompt", "value": "false"},
            "POST",
        ),
        (
            "registered-models/set-tag",
            {"name": "churn", "key": "mlflow.prompt.is_prompt", "value": "true"},
            "POST",
        ),
        ("registered-models/delete-tag", {"name": "greeting", "key": "mlflow.prompt.is_prompt"}, "DELETE"),
    ):
        r = _raw(live_server, endpoint, body, method)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (
            endpoint,
            r.text,
        )
        assert "cannot change" in r.json()["message"]
    assert mlflow.genai.load_prompt("prompts:/greeting/1").template == "Hello {{name}}!"
    assert [p.name for p in mlflow.genai.search_prompts()] == ["greeting"]


def test_prompts_and_models_do_not_mix(greeting, live_server):
    """A placeholder-sourced prompt version on a model (no artifacts, yet READY) or a model version on
    a prompt is refused, as is a prompt version with a real source (MLflow's own message)."""
    prompt_tags = [
        {"key": "mlflow.prompt.is_prompt", "value": "true"},
        {"key": "mlflow.prompt.text", "value": "x"},
    ]
    for body, says in (
        ({"name": "churn", "source": "dummy-source", "tags": prompt_tags}, "not a prompt"),
        ({"name": "greeting", "source": "s3://bucket/greeting/3"}, "is a prompt"),
        (
            {"name": "greeting", "source": "s3://bucket/x", "tags": prompt_tags},
            "Prompt sources must use an MLflow placeholder",
        ),
        # A prompt version copied into a model (copy_model_version's wire call): MLflow refuses it too.
        (
            {"name": "churn", "source": "models:/greeting/1"},
            "Prompt versions cannot be used as model version sources",
        ),
    ):
        r = _raw(live_server, "model-versions/create", body)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
        assert says in r.json()["message"]
    assert not ModelVersion.objects.filter(model__name="greeting", version=3).exists()
    assert not ModelVersion.objects.filter(model__name="churn").exists()


def test_a_long_template_is_stored_whole(as_owner):
    """MLflow takes templates up to 100,000 characters (other tag values stay at Quorum's limit)."""
    template = "Summarise: {{text}} " + "x" * 20_000
    mlflow.genai.register_prompt("long", template)
    assert mlflow.genai.load_prompt("prompts:/long/1").template == template
    with pytest.raises(MlflowException):
        MlflowClient().set_prompt_tag("long", "note", "y" * 20_000)
    assert json.loads(json.dumps(template)) == template
