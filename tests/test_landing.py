"""The site root says what this server is; unknown pages never list the URL patterns (issue 21)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_root_is_a_landing_page_with_the_uris_to_use(settings):
    settings.QUORUM_PUBLIC_URL = "https://quorum.example"
    settings.QUORUM_MLFLOW_TRACKING_URI = "http://tracking.example:5000"
    response = Client().get("/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "model registry" in text
    assert 'href="https://quorum.example/admin/"' in text
    assert 'href="https://quorum.example/api/docs/"' in text
    assert "export MLFLOW_REGISTRY_URI=https://quorum.example" in text
    assert "export MLFLOW_TRACKING_URI=http://tracking.example:5000" in text


def test_the_root_says_when_no_tracking_server_is_configured(settings):
    settings.QUORUM_MLFLOW_TRACKING_URI = ""
    text = Client().get("/").content.decode()
    assert 'id="tracking-missing"' in text and "QUORUM_MLFLOW_TRACKING_URI" in text


@pytest.mark.parametrize("path", ["/nothing-here", "/admin-ish/x/", "/static-ish"])
def test_unknown_pages_with_debug_on_do_not_list_the_url_patterns(settings, path):
    settings.DEBUG = True
    response = Client().get(path)
    assert response.status_code == 404
    text = response.content.decode()
    assert "URLconf" not in text and "api/v1/" not in text and "healthz" not in text
    assert "Not found" in text


def test_append_slash_still_redirects():
    response = Client().get("/admin")
    assert response.status_code == 301 and response["Location"] == "/admin/"
    assert Client().get("/api/docs").status_code == 301


def test_unknown_api_paths_keep_their_json_404():
    assert Client().get("/api/v1/nope").json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert Client().get("/api/2.0/mlflow/nope").json()["error_code"] == "ENDPOINT_NOT_FOUND"
