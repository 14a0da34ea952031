"""End to end with a real MLflow tracking server: log and register a model there, load it through Quorum."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest
import requests

from registry.models import ModelVersion

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords", "ungoverned", "celery_in_process"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory) -> Iterator[str]:
    """`mlflow server` on a free loopback port with its own SQLite store and proxied artifact folder."""
    home = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
        "--artifacts-destination", str(home / "mlartifacts"),
    ]  # fmt: skip
    log = (home / "server.log").open("wb")
    # Its own process group: `mlflow server` starts uvicorn and a job runner that must go with it.
    process = subprocess.Popen(
        command, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a loaded 2-core box took over 240 s
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited early:\n{(home / 'server.log').read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_register_on_tracking_server_then_load_through_quorum_by_alias(
    tracking_server, live_server, cast, mlflow_env, settings, tmp_path
):
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.linear_model import LinearRegression

    settings.QUORUM_MLFLOW_TRACKING_URI = tracking_server
    mlflow_env(
        MLFLOW_TRACKING_URI=tracking_server,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
    )
    mlflow.set_experiment("quorum-e2e")
    x = np.arange(8, dtype=float).reshape(-1, 1)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            LinearRegression().fit(x, 3 * x.ravel()),
            name="model",
            registered_model_name="fraud-e2e",
            pip_requirements=["scikit-learn"],
        )
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
