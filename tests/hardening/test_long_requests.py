"""Long filters and refused hosts get the API's JSON, from Django and through gunicorn (issue 20, item 7).

A 5,000-item IN and 2,000 ANDs used to meet gunicorn's 4 KB request-line limit (an HTML 400/414);
a Host outside DJANGO_ALLOWED_HOSTS met Django's HTML 400. Filters up to the grammar's own length
limit (registry/search.py) now arrive whole, by GET or in a POST body; longer ones get its JSON 400.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.test import Client

from registry import services
from tests.fixtures_mlflow import api_token_for

ROOT = Path(__file__).resolve().parents[2]
SEARCH = "/api/2.0/mlflow/registered-models/search"
VERSIONS_SEARCH = "/api/2.0/mlflow/model-versions/search"


def in_filter(count: int) -> str:
    return "name IN (" + ", ".join(f"'model-{n:05d}'" for n in range(count)) + ")"


def and_filter(count: int) -> str:
    return " AND ".join(["name LIKE 'model-%'"] * count)


def _models(owner) -> None:
    for name in ("model-00001", "model-00002", "other"):
        services.registered_model_create(actor=owner, name=name)


def longest_in_filter() -> str:
    """The longest IN filter of model names the grammar accepts (about 900 names, 20 KB URL-encoded)."""
    count = 1
    while len(in_filter(count + 1)) <= 10_000:
        count += 1
    return in_filter(count)


def assert_json_error(response, status: int = 400) -> None:
    assert response.status_code == status, response.content[:300]
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.django_db
@pytest.mark.usefixtures("fast_passwords")
def test_long_filters_work_by_get_and_by_post_body(cast):
    _models(cast.owner)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_for(cast.owner)}"}
    client = Client()
    by_get = client.get(SEARCH, {"filter": longest_in_filter(), "max_results": 100}, **auth)
    assert by_get.status_code == 200, by_get.content[:300]
    assert [m["name"] for m in by_get.json()["registered_models"]] == ["model-00001", "model-00002"]
    body = json.dumps({"filter": longest_in_filter(), "max_results": 100})
    assert client.post(SEARCH, body, content_type="application/json", **auth).json() == by_get.json()
    for too_long in (in_filter(5000), and_filter(2000)):
        assert_json_error(client.get(SEARCH, {"filter": too_long}, **auth))
        assert_json_error(
            client.post(SEARCH, json.dumps({"filter": too_long}), content_type="application/json", **auth)
        )
    versions = client.post(
        VERSIONS_SEARCH,
        json.dumps({"filter": "name IN ('model-00001')"}),
        content_type="application/json",
        **auth,
    )
    assert versions.status_code == 200 and versions.json() == {}


@pytest.mark.django_db
def test_an_over_long_query_string_is_a_json_414_in_each_api_format(cast, settings):
    settings.QUORUM_MAX_QUERY_STRING_BYTES = 10_000
    mlflow = Client().get(SEARCH, {"filter": in_filter(2000)})
    assert mlflow.status_code == 414
    assert (
        mlflow.json()["error_code"] == "INVALID_PARAMETER_VALUE" and "POST body" in mlflow.json()["message"]
    )
    native = Client().get("/api/v1/models", {"filter": in_filter(2000)})
    assert native.status_code == 414 and native.json()["error_code"] == "REQUEST_URI_TOO_LONG"


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["evil.example.com", "127.0.0.1.evil.example", "bad host!"])
@pytest.mark.parametrize("path", [SEARCH, "/ajax-api/2.0/mlflow/registered-models/search", "/api/v1/models"])
def test_a_refused_host_answers_json_on_api_routes(cast, host, path):
    response = Client(HTTP_HOST=host).get(path)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Refused host" in response.json()["message"]


# --- Through gunicorn, configured as in production (config/gunicorn.py) ---


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_url(transactional_db, settings, tmp_path):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs the PostgreSQL test database, which gunicorn's process can reach")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "QUORUM_", "DATABASE_URL"))},
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "QUORUM_VAR_DIR": str(tmp_path),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "QUORUM_SERVING_CACHE": "false",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:config.gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(f"{url}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)  # quick shutdown: no waiting for keep-alive connections
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.usefixtures("fast_passwords")
def test_long_filters_through_gunicorn_get_json_answers(cast, gunicorn_url):
    _models(cast.owner)
    auth = {"Authorization": f"Bearer {api_token_for(cast.owner)}"}
    longest = requests.get(
        f"{gunicorn_url}{SEARCH}", params={"filter": longest_in_filter()}, headers=auth, timeout=60
    )
    assert longest.status_code == 200, longest.text[:300]
    assert len(longest.request.url) > 8190  # past the most gunicorn allows without config/gunicorn.py
    assert [m["name"] for m in longest.json()["registered_models"]] == ["model-00001", "model-00002"]
    for too_long in (in_filter(5000), and_filter(2000)):
        assert_json_error(
            requests.get(f"{gunicorn_url}{SEARCH}", params={"filter": too_long}, headers=auth, timeout=60)
        )
    past_limit = requests.get(
        f"{gunicorn_url}{SEARCH}", params={"filter": in_filter(25_000)}, headers=auth, timeout=60
    )
    assert_json_error(past_limit, status=414)
    host = requests.get(
        f"{gunicorn_url}/api/v1/models", headers={**auth, "Host": "evil.example.com"}, timeout=10
    )
    assert_json_error(host)
