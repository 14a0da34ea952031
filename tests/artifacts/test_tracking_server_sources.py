"""Sources behind a real MLflow tracking server (mlflow-artifacts:/): validated and copied by streaming."""

import numpy as np
import pytest

from artifacts.models import ArtifactJob, ArtifactManifest
from tests.registry.test_mlflow_tracking_server import tracking_server  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_logged_model_on_tracking_server_is_validated_and_copied(
    tracking_server,  # noqa: F811
    cast,
    client_for,
    mlflow_env,
    settings,
    tmp_path,
):
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LinearRegression

    settings.QUORUM_MLFLOW_TRACKING_URI = tracking_server
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    mlflow_env(MLFLOW_TRACKING_URI=tracking_server)
    mlflow.set_experiment("pipeline")
    x = np.arange(6, dtype=float).reshape(-1, 1)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            LinearRegression().fit(x, x.ravel()), name="model", pip_requirements=["scikit-learn"]
        )

    api = client_for(cast.owner)
    assert api.post("/api/v1/models", {"name": "tracked"}, format="json").status_code == 201
    response = api.post(
        "/api/v1/models/tracked/versions", {"source": f"models:/{info.model_id}"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "READY", response.json()["status_message"]
    manifest = ArtifactManifest.objects.get(version__model__name="tracked")
    assert manifest.state == "validated" and "sklearn" in manifest.flavors
    paths = set(manifest.entries.values_list("path", flat=True))
    assert "MLmodel" in paths and "requirements.txt" in paths and len(paths) >= 4  # + serialized model, env

    assert api.post("/api/v1/models/tracked/versions/1/governed-copy").status_code == 202
    job = ArtifactJob.objects.get(kind="copy")
    assert job.status == "succeeded", job.error
    governed = tmp_path / "governed/tracked/1"
    assert {p.relative_to(governed).as_posix() for p in governed.rglob("*") if p.is_file()} == paths
