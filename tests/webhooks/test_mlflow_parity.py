"""The same webhook calls against MLflow's own `mlflow server` and against Quorum, answers compared.

What differs on purpose is asserted as such (and listed in the README's compatibility section):
the receiver's body is never echoed by `test_webhook`, Quorum refuses credentials in URLs and
malformed ports, and a non-public address names Quorum's allowlist.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.contrib.auth.models import Permission
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import _validate_webhook_url
from mlflow.webhooks.delivery import _generate_hmac_signature

from tests.fixtures_mlflow import api_token_for, mlflow_server_running

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),  # the first test waits for `mlflow server` to start
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords", "loopback_allowed", "webhooks_in_process"),
]

EVENTS = [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    # Plain http and loopback allowed, as Quorum's loopback_allowed does, so both reach the receiver.
    env = {"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}
    with mlflow_server_running(tmp_path_factory.mktemp("mlflow-webhooks"), env=env) as url:
        yield url


class Api:
    """Raw HTTP on MLflow's webhook routes of one server."""

    def __init__(self, base: str, headers: dict[str, str] | None = None):
        self.base, self.headers = base + "/api/2.0/mlflow/webhooks", headers or {}

    def call(self, method: str, path: str = "", body: dict[str, Any] | None = None) -> requests.Response:
        return requests.request(method, self.base + path, json=body or {}, headers=self.headers, timeout=30)

    def create(self, url: object, **extra: Any) -> requests.Response:
        return self.call("POST", body={"name": "h", "url": url, "events": EVENTS, **extra})


@pytest.fixture
def both(mlflow_server, live_server, cast) -> tuple[Api, Api]:
    cast.owner.user_permissions.add(Permission.objects.get(codename="manage_registry_webhooks"))
    quorum = Api(live_server.url, {"Authorization": f"Bearer {api_token_for(cast.owner)}"})
    return Api(mlflow_server), quorum


def _error(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body.get("error_code"), body.get("message")


@pytest.mark.parametrize("url", ["   ", "ftp://hooks.example/x", "http://", "file:///etc/passwd"])
def test_url_refusals_answer_mlflows_code_and_words(both, url):
    mlflow, quorum = both
    expected = _error(mlflow.create(url))
    assert expected[0] == 400  # MLflow refuses it
    assert _error(quorum.create(url)) == expected


def test_url_refusals_on_update_answer_mlflows_words(both, receiver):
    mlflow, quorum = both
    ids = [api.create(receiver.url).json()["webhook"]["webhook_id"] for api in (mlflow, quorum)]
    for url in ("  ", "gopher://hooks.example/"):
        expected = _error(mlflow.call("PATCH", f"/{ids[0]}", {"url": url}))
        assert expected[0] == 400
        assert _error(quorum.call("PATCH", f"/{ids[1]}", {"url": url})) == expected


def test_a_missing_url_answers_as_mlflow_does(both):
    mlflow, quorum = both
    assert _error(quorum.create("")) == _error(mlflow.create(""))


@pytest.mark.parametrize(
    ("url", "quorum_says"),
    [
        ("https://user:pw@hooks.example/", "cannot contain credentials"),
        ("http://hooks.example:99999/", "Invalid webhook URL 'http://hooks.example:99999/'"),
    ],
)
def test_quorums_extra_refusals_are_its_own_on_purpose(both, url, quorum_says):
    mlflow, quorum = both
    assert mlflow.create(url).status_code == 200  # MLflow stores it
    status, code, message = _error(quorum.create(url))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and quorum_says in message


def test_a_non_public_address_starts_with_mlflows_sentence_and_names_the_allowlist(both, settings):
    _mlflow, quorum = both
    url = "https://169.254.169.254/latest/"
    with pytest.raises(MlflowException) as mlflows:
        _validate_webhook_url(url)  # MLflow's own check, with its default (private addresses refused)
    settings.QUORUM_WEBHOOK_ALLOWLIST = []
    status, code, message = _error(quorum.create(url))
    assert (status, code) == (400, mlflows.value.error_code)
    assert message.startswith(mlflows.value.message.rstrip("."))
    assert "QUORUM_WEBHOOK_ALLOWLIST" in message


def _tested(api: Api, url: str, secret: str) -> dict[str, Any]:
    webhook_id = api.create(url, secret=secret).json()["webhook"]["webhook_id"]
    response = api.call("POST", f"/{webhook_id}/test")
    assert response.status_code == 200, response.text
    return response.json()["result"]


@pytest.mark.parametrize("status", [200, 500, 404])
def test_test_webhook_answers_mlflows_shape_without_the_receivers_body(both, receiver, status):
    mlflow, quorum = both
    receiver.default_status = status
    expected = _tested(mlflow, receiver.url, receiver.secret)
    answered = _tested(quorum, receiver.url, receiver.secret)
    assert set(answered) == set(expected) == {"success", "response_status", "response_body"}
    assert (answered["success"], answered["response_status"]) == (expected["success"], status)
    assert expected["response_body"] == "internal receiver detail that must never be echoed"
    assert answered["response_body"] == ""  # on purpose: the receiver's answer is never echoed


def test_test_webhook_without_an_answer_answers_mlflows_shape(both, receiver):
    mlflow, quorum = both
    url = receiver.url
    receiver.stop()  # the port is closed: connection refused
    expected = _tested(mlflow, url, "s")
    answered = _tested(quorum, url, "s")
    assert set(answered) == set(expected) == {"success", "error_message"}
    assert answered["success"] is expected["success"] is False
    assert expected["error_message"].startswith("Failed to test webhook: ")
    assert answered["error_message"].startswith("Failed to test webhook: ")


def test_deliveries_carry_the_headers_mlflow_sends_signed_as_mlflows_code_signs(both, receiver):
    mlflow, quorum = both
    _tested(mlflow, receiver.url, receiver.secret)
    _tested(quorum, receiver.url, receiver.secret)
    from_mlflow, from_quorum = receiver.received
    names = ("Content-Type", "X-MLflow-Delivery-Id", "X-MLflow-Timestamp", "X-MLflow-Signature")
    for received in (from_mlflow, from_quorum):
        assert all(received.headers.get(name) for name in names), received.headers
        # MLflow ships no verification helper; its signing function is the reference.
        assert received.headers["X-MLflow-Signature"] == _generate_hmac_signature(
            receiver.secret,
            received.headers["X-MLflow-Delivery-Id"],
            received.headers["X-MLflow-Timestamp"],
            received.body.decode(),
        )
        assert received.signature_valid is True  # and a receiver verifying as MLflow's docs say agrees
    assert from_quorum.headers["Content-Type"] == from_mlflow.headers["Content-Type"]
    assert set(from_quorum.json) >= set(from_mlflow.json)  # MLflow's envelope (Quorum adds actor, audit_seq)
