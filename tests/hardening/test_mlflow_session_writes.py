"""A browser session (with its CSRF token) can write through the MLflow routes (issue 20, item 7).

Before: every session-authenticated POST failed with "Unsupported media type" (the CSRF check
read the form body through a DRF request that had no parsers). Without the token it stays refused.
"""

import json

import pytest
from django.test import Client

from registry.models import RegisteredModel

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

CREATE = "/api/2.0/mlflow/registered-models/create"


@pytest.fixture
def browser(cast) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.owner)
    client.get("/admin/login/")  # any page with a form sets the CSRF cookie
    return client, client.cookies["csrftoken"].value


def test_a_session_write_with_the_csrf_token_works(browser):
    client, token = browser
    response = client.post(
        CREATE, json.dumps({"name": "from-browser"}), content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200, response.content
    assert response.json()["registered_model"]["name"] == "from-browser"
    created = RegisteredModel.objects.get(name="from-browser")
    tagged = client.post(
        "/api/2.0/mlflow/registered-models/set-tag",
        json.dumps({"name": "from-browser", "key": "team", "value": "risk"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert tagged.status_code == 200, tagged.content
    assert created.tags.get(key="team").value == "risk"


def test_a_session_write_without_the_csrf_token_is_refused_in_mlflow_format(browser):
    client, _ = browser
    response = client.post(CREATE, json.dumps({"name": "forged"}), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    assert "CSRF" in response.json()["message"]
    assert not RegisteredModel.objects.filter(name="forged").exists()


def test_a_session_read_needs_no_token(browser):
    client, _ = browser
    assert client.get("/api/2.0/mlflow/registered-models/search").status_code == 200
