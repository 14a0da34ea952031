"""MLflow's webhook routes over HTTP: shapes, error codes, and how Quorum-only parts show there."""

import pytest
from django.contrib.auth.models import Permission

from webhooks.models import Webhook

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed")]


@pytest.fixture
def platform(cast):
    cast.owner.user_permissions.add(Permission.objects.get(codename="manage_registry_webhooks"))
    return type(cast.owner).objects.get(pk=cast.owner.pk)


def test_create_get_and_list_answer_in_mlflows_shape(platform, mlflow_as, receiver):
    api = mlflow_as(platform)
    created = api.post(
        "webhooks",
        {
            "name": "ci",
            "url": receiver.url,
            "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
            "secret": "s",
            "description": "d",
        },
    )
    assert created.status_code == 200, created.content
    webhook = created.json()["webhook"]
    assert set(webhook) == {
        "webhook_id",
        "name",
        "url",
        "events",
        "status",
        "description",
        "creation_timestamp",
        "last_updated_timestamp",
    }
    assert webhook["events"] == [{"entity": "MODEL_VERSION", "action": "CREATED"}]
    assert webhook["status"] == "ACTIVE" and "secret" not in created.content.decode()
    assert api.get(f"webhooks/{webhook['webhook_id']}").json() == {"webhook": webhook}
    assert api.get("webhooks").json() == {"webhooks": [webhook]}
    assert api.call("GET", "/ajax-api/2.0/mlflow/webhooks").json() == {"webhooks": [webhook]}
    stored = Webhook.objects.get()
    assert (stored.secret, stored.model) == ("s", None)


def test_quorum_events_and_test_mode_show_as_mlflow_can_express_them(
    cast, fraud, mlflow_as, receiver, platform
):
    webhook = Webhook.objects.create(
        name="mixed",
        url=receiver.url,
        events=["model_version_alias.moved", "model_version_tag.set", "transition_request.created"],
        status="TEST_MODE",
    )
    api = mlflow_as(platform)
    shown = api.get(f"webhooks/{webhook.public_id}").json()["webhook"]
    assert shown["events"] == [{"entity": "MODEL_VERSION_TAG", "action": "SET"}]
    assert shown["status"] == "DISABLED"
    updated = api.patch(
        f"webhooks/{webhook.public_id}", {"events": [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]}
    )
    assert updated.status_code == 200, updated.content
    webhook.refresh_from_db()
    assert webhook.events == [
        "registered_model.created",
        "model_version_alias.moved",
        "transition_request.created",
    ]
    assert webhook.status == "TEST_MODE"  # untouched: the update did not name a status

    per_model = api.post(
        "webhooks",
        {
            "name": "fraud-only",
            "url": receiver.url,
            "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
            "model_name": "fraud",
        },
    )
    assert per_model.status_code == 200, per_model.content
    assert Webhook.objects.get(name="fraud-only").model == fraud


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"url": "http://127.0.0.1/", "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]},
            400,
            "'name'",
        ),
        ({"name": "x", "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}, 400, "'url'"),
        ({"name": "x", "url": "http://127.0.0.1/"}, 400, "'events'"),
        (
            # MLflow's prompt events are accepted (tests/webhooks/test_prompt_events.py); a pair
            # MLflow does not have is not.
            {"name": "x", "url": "http://127.0.0.1/", "events": [{"entity": "PROMPT", "action": "MOVED"}]},
            400,
            "prompt.moved",
        ),
        (
            {"name": "x", "url": "http://127.0.0.1/", "events": ["model_version.created"]},
            400,
            "{entity, action}",
        ),
        (
            {
                "name": "x",
                "url": "http://10.0.0.1/",
                "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
            },
            400,
            "not a public address",
        ),
        (
            {
                "name": "x",
                "url": "http://127.0.0.1/",
                "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}],
                "status": "PAUSED",
            },
            400,
            "Status must be one of",
        ),
    ],
)
def test_bad_input_gets_mlflows_error_format(platform, mlflow_as, body, code, message):
    response = mlflow_as(platform).post("webhooks", body)
    assert response.status_code == code, response.content
    assert (
        response.json()["error_code"] == "INVALID_PARAMETER_VALUE" and message in response.json()["message"]
    )


def test_transport_and_permission_errors(cast, platform, mlflow_as, receiver):
    webhook = Webhook.objects.create(name="w", url=receiver.url, events=["model_version.created"])
    anonymous = mlflow_as(None).get("webhooks")
    assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "UNAUTHENTICATED"
    editor = mlflow_as(cast.editor)
    assert editor.get(f"webhooks/{webhook.public_id}").json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    refused = editor.post(
        "webhooks",
        {"name": "x", "url": receiver.url, "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]},
    )
    assert (refused.status_code, refused.json()["error_code"]) == (403, "PERMISSION_DENIED")
    api = mlflow_as(platform)
    wrong_method = api.call("PUT", f"webhooks/{webhook.public_id}", {})
    assert wrong_method.status_code == 405
    not_json = api.client.post(
        "/api/2.0/mlflow/webhooks", "name=x", content_type="text/plain", headers=api.headers
    )
    assert not_json.status_code == 400 and "Content-Type" in not_json.json()["message"]
    assert api.get("webhooks/not-a-webhook").status_code == 404
    assert api.delete(f"webhooks/{webhook.public_id}").json() == {}
    assert api.delete(f"webhooks/{webhook.public_id}").status_code == 404


@pytest.mark.parametrize(
    ("url", "message"),
    [  # what `mlflow server` answers for the same body (tests/webhooks/test_mlflow_parity.py compares live)
        ("   ", "Webhook URL cannot be empty or just whitespace: '   '"),
        ("ftp://hooks.example/x", "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https."),
        ("http://", "Webhook URL must include a hostname: 'http://'"),
        ("", "Missing value for required parameter 'url'."),
    ],
)
def test_url_refusals_use_mlflows_words_on_the_mlflow_routes(platform, mlflow_as, url, message):
    api = mlflow_as(platform)
    events = [{"entity": "MODEL_VERSION", "action": "CREATED"}]
    refused = api.post("webhooks", {"name": "x", "url": url, "events": events})
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert refused.json()["message"].startswith(message)
    assert not Webhook.objects.exists()


def test_production_refuses_http_in_mlflows_words_and_the_native_api_keeps_its_own(
    platform, mlflow_as, receiver, settings
):
    settings.QUORUM_WEBHOOK_HTTPS_ONLY = True
    api = mlflow_as(platform)
    events = [{"entity": "MODEL_VERSION", "action": "CREATED"}]
    refused = api.post("webhooks", {"name": "x", "url": receiver.url, "events": events})
    assert refused.json()["message"] == "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."
    native = mlflow_as(platform, prefix="/api/v1/").post(
        "webhooks", {"name": "x", "url": receiver.url, "events": ["model_version.created"]}
    )
    assert native.status_code == 400 and "https in production" in native.content.decode()
