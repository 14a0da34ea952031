"""Issue 19, attack 7 (false lineage): a version's run_id must name the run that holds its source.

Checked against a real `mlflow server` (the tracking server Quorum asks, QUORUM_MLFLOW_TRACKING_URI),
as MLflow's own server checks it: a local source needs the run whose artifact folder contains it, a
path inside run A's artifacts with run B's id is refused, mlflow-artifacts: URIs name no host and lie
in their run.
"""

import pytest

from registry.models import ModelVersion
from registry.sources import location_within
from tests.artifacts.helpers import model_files, write_tree
from tests.registry.test_mlflow_tracking_server import tracking_server  # noqa: F401 - the fixture

NATIVE = "/api/v1"


@pytest.fixture
def runs(tracking_server, cast, client_for, tmp_path, settings, mlflow_env):  # noqa: F811
    """Runs A and B in an experiment with a local artifact folder, run C with proxied artifacts."""
    from mlflow import MlflowClient

    settings.QUORUM_MLFLOW_TRACKING_URI = tracking_server
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    mlflow_env(MLFLOW_TRACKING_URI=tracking_server)
    client = MlflowClient(tracking_server)
    local = client.create_experiment(f"local-{tmp_path.name}", artifact_location=f"file://{tmp_path}/mlruns")
    run_a, run_b = (client.create_run(local).info for _ in range(2))
    run_c = client.create_run("0").info
    folder_a = tmp_path / "mlruns" / run_a.run_id / "artifacts" / "model"
    write_tree(folder_a, model_files())
    assert run_a.artifact_uri == f"file://{tmp_path}/mlruns/{run_a.run_id}/artifacts"
    assert run_c.artifact_uri.startswith("mlflow-artifacts:/")
    api = client_for(cast.owner)
    assert api.post(f"{NATIVE}/models", {"name": "fraud"}, format="json").status_code == 201
    return {"a": run_a, "b": run_b, "c": run_c, "folder_a": folder_a, "api": api}


def _native(api, **body):
    return api.post(f"{NATIVE}/models/fraud/versions", body, format="json")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_in_process")
def test_lineage_is_checked_against_the_tracking_server(runs, cast, mlflow_as):
    api, folder = runs["api"], runs["folder_a"]
    a, b, c = runs["a"].run_id, runs["b"].run_id, runs["c"].run_id
    caller = mlflow_as(cast.owner)
    refused = {
        "a local path with no run_id": {"source": str(folder)},
        "a file: URI with no run_id": {"source": f"file://{folder}"},
        "run A's folder with run B's id": {"source": str(folder), "run_id": b},
        "run A's folder as file: with run B's id": {"source": f"file://{folder}", "run_id": b},
        "an unknown run": {"source": str(folder), "run_id": "f" * 32},
        "mlflow-artifacts with a host": {
            "source": f"mlflow-artifacts://evil.example:5000/0/{c}/artifacts/model",
            "run_id": c,
        },
        "mlflow-artifacts of run C with run B's id": {
            "source": f"{runs['c'].artifact_uri}/model",
            "run_id": b,
        },
        "mlflow-artifacts with no run_id": {"source": f"{runs['c'].artifact_uri}/model"},
        "runs:/ of A with B's id": {"source": f"runs:/{a}/model", "run_id": b},
    }
    for what, body in refused.items():
        answer = _native(api, **body)
        assert answer.status_code == 400, (what, answer.content)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", (what, answer.json())
        answer = caller.post("model-versions/create", {"name": "fraud", **body})
        assert answer.status_code == 400, (what, answer.content)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", (what, answer.json())
        # A refusal never tells where the run's artifacts are.
        assert f"{runs['b'].artifact_uri}" not in answer.json()["message"], what
    assert not ModelVersion.objects.filter(model__name="fraud").exists()

    # The true lineage registers and validates, and is recorded as sent.
    answer = _native(api, source=str(folder), run_id=a)
    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "READY", answer.json()
    answer = caller.post(
        "model-versions/create", {"name": "fraud", "source": f"file://{folder}", "run_id": a}
    )
    assert answer.status_code == 200, answer.content
    assert list(ModelVersion.objects.filter(model__name="fraud").values_list("run_id", flat=True)) == [a, a]
    answer = _native(api, source=f"{runs['c'].artifact_uri}/model", run_id=c)
    assert answer.status_code == 201, answer.content


@pytest.mark.parametrize(
    ("location", "root", "within"),
    [
        ("s3://b/team/model", "s3://b/team", True),
        ("s3://b/team/model", "s3://b/team/", True),
        ("s3a://b/team/model", "s3://b/team", True),
        ("s3://b/team-evil/model", "s3://b/team", False),
        ("s3://other/team/model", "s3://b/team", False),
        ("s3://b/", "s3://b/team", False),
        ("mlflow-artifacts:/0/r1/artifacts/m", "mlflow-artifacts:/0/r1/artifacts", True),
        ("mlflow-artifacts:/0/r2/artifacts/m", "mlflow-artifacts:/0/r1/artifacts", False),
        ("/data/risk/m", "file:///data/risk", True),
        ("/data/risky/m", "/data/risk", False),
        ("/data/risk/%2e%2e/growth", "/data/risk", False),
    ],
)
def test_location_within_compares_folders_not_strings(location, root, within):
    assert location_within(location, root) is within
