"""Lineage on MLflow 3's normal path: a version registered from a logged model (`models:/m-…`) gets
the logged model's source run, and the logged model is tagged `mlflow.modelVersions` as MLflow's own
server tags it (issue 21)."""

import json

import pytest

from registry.models import ModelVersion
from tests.fixtures_mlflow import sklearn_logged_and_registered
from tests.registry.test_mlflow_tracking_server import tracking_server  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),  # starts `mlflow server`: minutes on a loaded 2-core machine
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords", "ungoverned", "celery_in_process"),
]


def test_logged_model_version_gets_its_run_and_tags_the_logged_model(
    tracking_server,  # noqa: F811
    live_server,
    cast,
    mlflow_env,
    settings,
):
    from mlflow import MlflowClient

    run, info = sklearn_logged_and_registered(
        tracking_server, live_server.url, mlflow_env, settings, experiment="lineage", name="lineage-model"
    )
    run_id = run.info.run_id

    stored = ModelVersion.objects.get(model__name="lineage-model", version=1)
    assert stored.source == f"models:/{info.model_id}"
    assert stored.run_id == run_id  # the client sent none: filled from the logged model's source run

    client = MlflowClient()
    assert client.get_model_version("lineage-model", "1").run_id == run_id
    found = client.search_model_versions(f"run_id = '{run_id}'")
    assert [(v.name, v.version) for v in found] == [("lineage-model", "1")]

    # A second registration through Quorum's own API (no mlflow client to tag it afterwards): the
    # server itself writes the tag, keeping what was there, as MLflow's server does.
    api = requests_session("owner", "owner-pw-123!")
    response = api.post(
        f"{live_server.url}/api/2.0/mlflow/model-versions/create",
        json={"name": "lineage-model", "source": f"models:/{info.model_id}", "model_id": info.model_id},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["model_version"]["run_id"] == run_id
    tag = json.loads(client.get_logged_model(info.model_id).tags["mlflow.modelVersions"])
    assert {"name": "lineage-model", "version": 2} in tag
    assert any(entry["name"] == "lineage-model" and str(entry["version"]) == "1" for entry in tag)


def test_explicit_run_id_is_kept_and_unknown_logged_model_is_a_clear_400(
    tracking_server,  # noqa: F811
    live_server,
    cast,
    settings,
):
    settings.QUORUM_MLFLOW_TRACKING_URI = tracking_server
    api = requests_session("owner", "owner-pw-123!")
    assert (
        api.post(
            f"{live_server.url}/api/2.0/mlflow/registered-models/create", json={"name": "lm2"}, timeout=30
        ).status_code
        == 200
    )
    response = api.post(
        f"{live_server.url}/api/2.0/mlflow/model-versions/create",
        json={"name": "lm2", "source": "models:/m-0123456789abcdef0123456789abcdef"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def requests_session(username: str, password: str):
    import requests

    session = requests.Session()
    session.auth = (username, password)
    return session
