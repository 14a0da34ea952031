"""Issue 22: `file:` and local sources follow MLflow's rules, side by side with a real `mlflow server`.

Every request goes, unchanged, to MLflow's own server and to Quorum's MLflow front; the answers
must carry the same error_code and message. The deliberate differences (README, "MLflow
compatibility") are asserted separately: Quorum refuses `..` in any source, reads local sources only
under QUORUM_ALLOWED_LOCAL_ROOTS, never answers a 500, and never resolves a relative path against
its own working directory or names where a symlink leads.
"""

import pytest
import requests

from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, write_tree
from tests.registry.test_mlflow_tracking_server import tracking_server  # noqa: F401 - the fixture

CREATE = "model-versions/create"
LOCAL_RULE = (
    "To use a local path as a model version source, the run_id request parameter has to be specified "
    "and the local path has to be contained within the artifact directory of the run specified by the "
    "run_id."
)
RELATIVE_RULE = (
    "If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts "
    "uri, an absolute path must be provided without relative path references present. Please provide "
    "an absolute path."
)


@pytest.fixture
def both(tracking_server, cast, mlflow_as, tmp_path, settings, mlflow_env):  # noqa: F811
    """Runs A and B (local artifact folders) and C (proxied artifacts) on the tracking server Quorum
    asks; one registered model of the same name on MLflow's server and on Quorum."""
    from mlflow import MlflowClient

    settings.QUORUM_MLFLOW_TRACKING_URI = tracking_server
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    mlflow_env(MLFLOW_TRACKING_URI=tracking_server)
    client = MlflowClient(tracking_server)
    local = client.create_experiment(f"side-{tmp_path.name}", artifact_location=f"file://{tmp_path}/mlruns")
    run_a, run_b = (client.create_run(local).info for _ in range(2))
    run_c = client.create_run("0").info
    folder = write_tree(tmp_path / "mlruns" / run_a.run_id / "artifacts" / "model", model_files())
    name = f"side-{tmp_path.name}"[:60]
    mlflow_server = f"{tracking_server}/api/2.0/mlflow/"
    assert requests.post(f"{mlflow_server}registered-models/create", json={"name": name}, timeout=30).ok
    quorum = mlflow_as(cast.owner)
    assert quorum.post("registered-models/create", {"name": name}).status_code == 200

    def ask(body: dict) -> tuple[tuple, tuple]:
        """(MLflow's answer, Quorum's answer), each (HTTP status, error_code, message)."""
        theirs = requests.post(f"{mlflow_server}{CREATE}", json={"name": name, **body}, timeout=30)
        ours = quorum.post(CREATE, {"name": name, **body})
        return (
            (theirs.status_code, theirs.json().get("error_code"), theirs.json().get("message")),
            (ours.status_code, ours.json().get("error_code"), ours.json().get("message")),
        )

    return {"a": run_a, "b": run_b, "c": run_c, "folder": folder, "name": name, "ask": ask}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_in_process")
def test_local_sources_are_answered_as_mlflow_answers_them(both):
    ask, folder = both["ask"], both["folder"]
    a, b, c = both["a"], both["b"], both["c"]
    same = {
        "a local path with no run_id": {"source": str(folder)},
        "a file: URI with no run_id": {"source": f"file://{folder}"},
        "a file://localhost URI with no run_id": {"source": f"file://localhost{folder}"},
        "a relative path with no run_id": {"source": "model"},
        "run A's folder with run B's id": {"source": str(folder), "run_id": b.run_id},
        "run A's folder as file: with run B's id": {"source": f"file://{folder}", "run_id": b.run_id},
        "a local path with a run whose artifacts are proxied": {"source": str(folder), "run_id": c.run_id},
        "a local path with an unknown run": {"source": str(folder), "run_id": "f" * 32},
        "an object store source with '..'": {"source": "s3://bucket/a/../b"},
        "an object store source with an encoded '..'": {"source": "gs://b/a/..%2fb"},
        "an object store source with '.'": {"source": "s3://bucket/a/./b"},
        "mlflow-artifacts of run C with no run_id": {"source": f"{c.artifact_uri}/model"},
        "mlflow-artifacts of run C with run B's id": {
            "source": f"{c.artifact_uri}/model",
            "run_id": b.run_id,
        },
        "runs:/ of run A with run B's id": {"source": f"runs:/{a.run_id}/model", "run_id": b.run_id},
    }
    differing = {}
    for what, body in same.items():
        theirs, ours = ask(body)
        assert theirs[0] == 400, (what, theirs)
        if ours != theirs:
            differing[what] = {"mlflow": theirs, "quorum": ours}
    assert differing == {}
    assert not ModelVersion.objects.filter(model__name=both["name"]).exists()

    # The true lineage registers on both, as a local path and as a file: URI.
    for body in (
        {"source": str(folder), "run_id": a.run_id},
        {"source": f"file://{folder}", "run_id": a.run_id},
    ):
        theirs, ours = ask(body)
        assert theirs == ours == (200, None, None), (body, theirs, ours)
    assert ModelVersion.objects.filter(model__name=both["name"], run_id=a.run_id).count() == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_in_process")
def test_the_deliberate_differences_from_mlflow(both, tmp_path, settings):
    ask, folder, a = both["ask"], both["folder"], both["a"]

    # `..` inside the run's own folder: MLflow resolves it and registers; Quorum refuses it, with
    # MLflow's words for relative path references, before asking anything else.
    dotted = f"{folder}/../model"
    for body in ({"source": dotted, "run_id": a.run_id}, {"source": dotted}, {"source": f"file://{dotted}"}):
        theirs, ours = ask(body)
        assert theirs[0] in (200, 400), theirs
        assert ours == (
            400,
            "INVALID_PARAMETER_VALUE",
            f"Invalid model version source: '{body['source']}'. {RELATIVE_RULE}",
        )

    # A file: URI naming another host: MLflow's server fails with a 500; Quorum answers a 400.
    remote = f"file://evil.example{folder}"
    theirs, ours = ask({"source": remote, "run_id": a.run_id})
    assert theirs[:2] == (500, "INTERNAL_ERROR"), theirs
    assert ours[:2] == (400, "INVALID_PARAMETER_VALUE"), ours
    assert ours[2].startswith(f"Invalid model version source: '{remote}'."), ours

    # A relative path with a run: MLflow resolves it against its own working directory and names
    # that; Quorum names the source as sent.
    theirs, ours = ask({"source": "model", "run_id": a.run_id})
    assert theirs[:2] == ours[:2] == (400, "INVALID_PARAMETER_VALUE"), (theirs, ours)
    assert theirs[2].endswith(f"/model'. {LOCAL_RULE}"), theirs
    assert ours[2] == f"Invalid model version source: 'model'. {LOCAL_RULE}", ours

    # A link inside the run's folder: MLflow names where it leads; Quorum names the path sent.
    elsewhere = write_tree(tmp_path / "elsewhere" / "model", model_files(big_bytes=10))
    link = folder.parent / "linked"
    link.symlink_to(elsewhere, target_is_directory=True)
    theirs, ours = ask({"source": str(link), "run_id": a.run_id})
    assert theirs == (
        400,
        "INVALID_PARAMETER_VALUE",
        f"Invalid model version source: '{elsewhere}'. {LOCAL_RULE}",
    )
    assert ours == (400, "INVALID_PARAMETER_VALUE", f"Invalid model version source: '{link}'. {LOCAL_RULE}")

    # The run's folder outside QUORUM_ALLOWED_LOCAL_ROOTS: MLflow registers it; Quorum does not read
    # its own disk there.
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path / "elsewhere"]
    theirs, ours = ask({"source": str(folder), "run_id": a.run_id})
    assert theirs[0] == 200, theirs
    assert ours[:2] == (400, "INVALID_PARAMETER_VALUE"), ours
    assert "QUORUM_ALLOWED_LOCAL_ROOTS" in ours[2], ours
