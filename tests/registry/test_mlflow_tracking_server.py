"""End to end with a real MLflow tracking server: log and register a model there, load it through Quorum."""

import numpy as np
import pytest
import requests

from registry.models import ModelVersion
from tests.fixtures_mlflow import sklearn_logged_and_registered

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords", "ungoverned", "celery_in_process"),
]


@pytest.fixture(scope="module")
def tracking_server(mlflow_tracking_server: str) -> str:
    """The session's `mlflow server` (tests/fixtures_mlflow.py), under the name other modules import."""
    return mlflow_tracking_server


def test_register_on_tracking_server_then_load_through_quorum_by_alias(
    tracking_server, live_server, cast, mlflow_env, settings, tmp_path
):
    import mlflow
    from mlflow import MlflowClient

    run, info = sklearn_logged_and_registered(
        tracking_server, live_server.url, mlflow_env, settings, experiment="quorum-e2e", name="fraud-e2e"
    )
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.log_text("extra notes", "notes/readme.txt")

    version = ModelVersion.objects.get(model__name="fraud-e2e", version=1)
    # The client registers MLflow 3 logged models as models:/<model_id>; Quorum resolved it.
    assert version.source == f"models:/{info.model_id}"
    assert version.logged_model_id == info.model_id
    assert version.storage_location.startswith("mlflow-artifacts:/")
    assert version.storage_location.endswith(f"/models/{info.model_id}/artifacts")

    client = MlflowClient()
    client.set_registered_model_alias("fraud-e2e", "champion", "1")
    download_uri = client.get_model_version_download_uri("fraud-e2e", "1")
    assert download_uri.startswith(f"{tracking_server}/api/2.0/mlflow-artifacts/artifacts/")

    model = mlflow.pyfunc.load_model("models:/fraud-e2e@champion")
    assert np.allclose(model.predict(np.array([[2.0], [5.0]])), [6.0, 15.0])

    # Registering again through the fluent API reuses the model (RESOURCE_ALREADY_EXISTS is swallowed).
    again = mlflow.register_model(f"models:/{info.model_id}", "fraud-e2e")
    assert again.version == "2"

    # runs:/<run>/model names the run's logged model (MLflow 3 stores log_model output there).
    by_run = client.create_model_version(
        "fraud-e2e", source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    assert by_run.status == "READY"
    stored = ModelVersion.objects.get(model__name="fraud-e2e", version=int(by_run.version))
    assert stored.storage_location.endswith(f"/models/{info.model_id}/artifacts")
    loaded = mlflow.pyfunc.load_model(f"models:/fraud-e2e/{by_run.version}")
    assert np.allclose(loaded.predict(np.array([[1.0]])), [3.0])

    # Other runs:/ paths resolve through runs/get to the run's artifact location.
    response = requests.post(
        f"{live_server.url}/api/2.0/mlflow/model-versions/create",
        json={"name": "fraud-e2e", "source": f"runs:/{run.info.run_id}/notes", "run_id": run.info.run_id},
        auth=("owner", "owner-pw-123!"),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    notes = ModelVersion.objects.get(model__name="fraud-e2e", version=4)
    assert notes.source == f"runs:/{run.info.run_id}/notes"
    assert notes.storage_location.endswith(f"/{run.info.run_id}/artifacts/notes")

    # A run the tracking server does not know is a clear 400, not a 500.
    response = requests.post(
        f"{live_server.url}/api/2.0/mlflow/model-versions/create",
        json={"name": "fraud-e2e", "source": "runs:/0123456789abcdef0123456789abcdef/model"},
        auth=("owner", "owner-pw-123!"),
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "not found on the tracking server" in response.json()["message"]
