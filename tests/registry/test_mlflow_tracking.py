"""Source resolution at registration: tracking-server lookups and copies of registered versions.

The happy path against a real `mlflow server` is in test_mlflow_tracking_server.py (slow); here a
small HTTP server plays the tracking server's REST API so failures can be provoked quickly.
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry import services, tracking
from registry.errors import InvalidParameter, PermissionDenied
from registry.models import ModelVersion

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords", "ungoverned")]

RUN_ID = "0123456789abcdef0123456789abcdef"
MODEL_ID = "m-" + "a" * 32


class FakeTracking:
    """Answers runs/get and logged-models/<id> like MLflow; `status` forces an HTTP status."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.status = 200
        self.logged_models: list[tuple[str, str, str]] = []  # (name, source_run_id, artifact_uri)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                outer.requests.append(self.path)
                if outer.status != 200:
                    body, status = {"error_code": "INTERNAL_ERROR", "message": "x"}, outer.status
                elif self.path.startswith("/api/2.0/mlflow/runs/get") and RUN_ID in self.path:
                    body = {
                        "run": {
                            "info": {
                                "artifact_uri": f"mlflow-artifacts:/1/{RUN_ID}/artifacts",
                                "experiment_id": "1",
                            }
                        }
                    }
                    status = 200
                elif self.path == f"/api/2.0/mlflow/logged-models/{MODEL_ID}":
                    body = {
                        "model": {"info": {"artifact_uri": f"s3://tracked/1/models/{MODEL_ID}/artifacts"}}
                    }
                    status = 200
                else:
                    body, status = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "nope"}, 404
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                outer.requests.append(self.path)
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path != "/api/2.0/mlflow/logged-models/search" or not outer.logged_models:
                    self.send_response(404)
                    self.end_headers()
                    return
                wanted = request.get("filter", "")
                models = [
                    {"info": {"name": name, "source_run_id": run, "artifact_uri": uri}}
                    for name, run, uri in outer.logged_models
                    if wanted == f"name = '{name}'" and request.get("experiment_ids") == ["1"]
                ]
                data = json.dumps({"models": models}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake_tracking(settings) -> Iterator[FakeTracking]:
    server = FakeTracking()
    settings.QUORUM_MLFLOW_TRACKING_URI = server.url
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def cast_with_empty_fraud(cast):
    """The cast, with an empty model 'fraud' of the owner's (unlike the shared `fraud`, no versions)."""
    services.registered_model_create(actor=cast.owner, name="fraud")
    return cast


def test_runs_and_logged_model_sources_resolve_and_keep_the_source(cast_with_empty_fraud, fake_tracking):
    run_version = services.model_version_create(
        actor=cast_with_empty_fraud.owner, name="fraud", source=f"runs:/{RUN_ID}/model", run_id=RUN_ID
    )
    assert run_version.source == f"runs:/{RUN_ID}/model"
    assert run_version.storage_location == f"mlflow-artifacts:/1/{RUN_ID}/artifacts/model"
    logged = services.model_version_create(
        actor=cast_with_empty_fraud.owner, name="fraud", source=f"models:/{MODEL_ID}", model_id=MODEL_ID
    )
    assert logged.storage_location == f"s3://tracked/1/models/{MODEL_ID}/artifacts"
    assert ModelVersion.objects.get(pk=logged.pk).download_uri == logged.storage_location


def test_runs_source_naming_a_logged_model_of_the_run_resolves_to_that_model(
    cast_with_empty_fraud, fake_tracking
):
    """MLflow 3 writes log_model output under the logged model; runs:/<run>/model means it."""
    fake_tracking.logged_models = [
        ("model", "another-run", "s3://tracked/1/models/m-other/artifacts"),
        ("model", RUN_ID, f"s3://tracked/1/models/{MODEL_ID}/artifacts"),
    ]
    version = services.model_version_create(
        actor=cast_with_empty_fraud.owner, name="fraud", source=f"runs:/{RUN_ID}/model"
    )
    assert version.storage_location == f"s3://tracked/1/models/{MODEL_ID}/artifacts"
    nested = services.model_version_create(
        actor=cast_with_empty_fraud.owner, name="fraud", source=f"runs:/{RUN_ID}/model/data"
    )
    assert nested.storage_location == f"s3://tracked/1/models/{MODEL_ID}/artifacts/data"
    plain = services.model_version_create(
        actor=cast_with_empty_fraud.owner, name="fraud", source=f"runs:/{RUN_ID}/notes"
    )
    assert plain.storage_location == f"mlflow-artifacts:/1/{RUN_ID}/artifacts/notes"


def test_download_uri_makes_tracking_relative_locations_absolute(
    cast_with_empty_fraud, fake_tracking, mlflow_as
):
    services.model_version_create(
        actor=cast_with_empty_fraud.owner, name="fraud", source=f"runs:/{RUN_ID}/model"
    )
    body = mlflow_as(cast_with_empty_fraud.owner).get(
        "model-versions/get-download-uri", {"name": "fraud", "version": "1"}
    )
    assert body.json() == {
        "artifact_uri": f"{fake_tracking.url}/api/2.0/mlflow-artifacts/artifacts/1/{RUN_ID}/artifacts/model"
    }


def test_unknown_run_is_a_400_naming_it(cast_with_empty_fraud, fake_tracking, mlflow_as):
    response = mlflow_as(cast_with_empty_fraud.owner).post(
        "model-versions/create", {"name": "fraud", "source": "runs:/ffffffffffffffffffffffffffffffff/model"}
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "run 'ffffffffffffffffffffffffffffffff' was not found" in response.json()["message"]
    assert not ModelVersion.objects.exists()


def test_tracking_server_failures_are_503_and_nothing_is_created(
    cast_with_empty_fraud, fake_tracking, mlflow_as, settings
):
    fake_tracking.status = 500
    response = mlflow_as(cast_with_empty_fraud.owner).post(
        "model-versions/create", {"name": "fraud", "source": f"runs:/{RUN_ID}/model"}
    )
    assert (response.status_code, response.json()["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")
    settings.QUORUM_MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens on the discard port
    response = mlflow_as(cast_with_empty_fraud.owner).post(
        "model-versions/create", {"name": "fraud", "source": f"models:/{MODEL_ID}"}
    )
    assert (response.status_code, response.json()["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")
    assert "did not answer" in response.json()["message"]
    assert not ModelVersion.objects.exists()


def test_callers_without_edit_never_make_quorum_call_the_tracking_server(
    cast_with_empty_fraud, fake_tracking, grant
):
    from access.grants import Level
    from registry.errors import NotFound
    from registry.models import RegisteredModel

    with pytest.raises(NotFound):
        services.model_version_create(
            actor=cast_with_empty_fraud.outsider, name="fraud", source=f"runs:/{RUN_ID}/model"
        )
    reader = grant(cast_with_empty_fraud.editor, Level.READ, RegisteredModel.objects.get(name="fraud"))
    with pytest.raises(PermissionDenied):
        services.model_version_create(actor=reader, name="fraud", source=f"runs:/{RUN_ID}/model")
    assert fake_tracking.requests == []


def test_without_a_tracking_server_sources_are_stored_as_sent(cast_with_empty_fraud, settings):
    settings.QUORUM_MLFLOW_TRACKING_URI = ""
    version = services.model_version_create(
        actor=cast_with_empty_fraud.owner, name="fraud", source=f"runs:/{RUN_ID}/model"
    )
    assert (version.source, version.storage_location) == (f"runs:/{RUN_ID}/model", "")


def test_copy_of_a_registered_version_points_at_its_location(cast_with_empty_fraud, mlflow_as, grant):
    from access.grants import Level
    from registry.models import RegisteredModel

    services.model_version_create(
        actor=cast_with_empty_fraud.owner, name="fraud", source="s3://bucket/fraud/1"
    )
    services.registered_model_create(actor=cast_with_empty_fraud.owner, name="fraud-copy")
    copied = mlflow_as(cast_with_empty_fraud.owner).post(
        "model-versions/create", {"name": "fraud-copy", "source": "models:/fraud/1"}
    )
    assert copied.status_code == 200, copied.content
    row = ModelVersion.objects.get(model__name="fraud-copy", version=1)
    assert (row.source, row.storage_location) == ("models:/fraud/1", "s3://bucket/fraud/1")
    # Copying from a model the caller cannot read looks like copying from a missing one.
    services.registered_model_create(actor=cast_with_empty_fraud.outsider, name="outsider-model")
    editor = grant(
        cast_with_empty_fraud.outsider, Level.EDIT, RegisteredModel.objects.get(name="outsider-model")
    )
    response = mlflow_as(editor).post(
        "model-versions/create", {"name": "outsider-model", "source": "models:/fraud/1"}
    )
    assert (response.status_code, response.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    ("location", "base", "expected"),
    [
        (
            "mlflow-artifacts:/1/abc/artifacts",
            "http://t:5000",
            "http://t:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts",
        ),
        ("mlflow-artifacts:/x", "https://t/prefix", "https://t/prefix/api/2.0/mlflow-artifacts/artifacts/x"),
        (
            "mlflow-artifacts://other:1/x",
            "http://t:5000",
            "http://other:1/api/2.0/mlflow-artifacts/artifacts/x",
        ),
        ("s3://b/k", "http://t:5000", "s3://b/k"),
    ],
)
def test_absolute_location(location, base, expected):
    assert tracking.absolute_location(location, base) == expected


def test_malformed_logged_model_sources_are_refused(cast_with_empty_fraud):
    with pytest.raises(InvalidParameter) as refused:
        services.model_version_create(
            actor=cast_with_empty_fraud.owner, name="fraud", source="models:/not-an-id"
        )
    assert "Expected models:/<logged model id>" in refused.value.message
