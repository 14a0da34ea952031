"""The read-only MLflow artifact proxy: what it lists and serves, to whom, and what it refuses."""

import os

import pytest

from access.grants import Level
from fronts.mlflow.artifacts import safe_relpath
from registry import services
from registry.errors import InvalidParameter
from registry.models import ModelVersion, RegisteredModel

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords", "ungoverned")]

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


# A valid MLmodel: the proxy serves only validated versions (issue 19). Until then this fixture's
# MLmodel declared no flavors, failed validation, and was served all the same: that was the hole.
MLMODEL = "flavors:\n  python_function: {}\n"


@pytest.fixture
def local_version(cast, artifact_root, celery_in_process, django_capture_on_commit_callbacks):
    """'fraud' v1 stored on Quorum's disk and validated: MLmodel, model.pkl and a nested folder."""
    folder = artifact_root / "fraud" / "1"
    (folder / "nested").mkdir(parents=True)
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "model.pkl").write_bytes(b"\x80\x04binary")
    (folder / "nested" / "notes.txt").write_text("hello")
    services.registered_model_create(actor=cast.owner, name="fraud")
    with django_capture_on_commit_callbacks(execute=True):  # validation runs after commit
        services.model_version_create(actor=cast.owner, name="fraud", source=str(folder))
    assert ModelVersion.objects.get(model__name="fraud").status == "READY"
    return folder


def _files(response) -> list[tuple]:
    assert response.status_code == 200, response.content
    return [(f["path"], f["is_dir"], f.get("file_size")) for f in response.json().get("files", [])]


def test_lists_the_namespace_down_to_files(cast, mlflow_as, local_version):
    api = mlflow_as(cast.owner)
    assert _files(api.get(PROXY)) == [("quorum-models", True, None)]
    assert _files(api.get(PROXY, {"path": "quorum-models"})) == [("fraud", True, None)]
    assert _files(api.get(PROXY, {"path": "quorum-models/fraud"})) == [("1", True, None)]
    assert _files(api.get(PROXY, {"path": "quorum-models/fraud/1"})) == [
        ("MLmodel", False, len(MLMODEL)),
        ("model.pkl", False, 8),
        ("nested", True, None),
    ]
    assert _files(api.get(PROXY, {"path": "quorum-models/fraud/1/nested"})) == [("notes.txt", False, 5)]
    assert api.get(PROXY, {"path": "quorum-models/fraud/1/model.pkl"}).json() == {}  # a file lists empty


def test_downloads_file_bytes(cast, mlflow_as, local_version):
    response = mlflow_as(cast.owner).get(f"{PROXY}/quorum-models/fraud/1/model.pkl")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x80\x04binary"
    nested = mlflow_as(cast.owner).get(
        "/ajax-api/2.0/mlflow-artifacts/artifacts/quorum-models/fraud/1/nested/notes.txt"
    )
    assert b"".join(nested.streaming_content) == b"hello"


def test_download_uri_of_a_local_version_points_at_the_proxy(cast, mlflow_as, local_version, settings):
    body = (
        mlflow_as(cast.owner).get("model-versions/get-download-uri", {"name": "fraud", "version": "1"}).json()
    )
    assert body == {"artifact_uri": f"{settings.QUORUM_PUBLIC_URL}{PROXY}/quorum-models/fraud/1"}


@pytest.mark.parametrize(
    "path",
    [
        "quorum-models/fraud/1/../../other/1/MLmodel",
        "quorum-models/fraud/1/%2e%2e/%2e%2e/x",
        "quorum-models/fraud/1/%252e%252e/x",
        "quorum-models/fraud/1/..%5c..%5cx",
        "quorum-models/fraud/1/nested/..",
    ],
)
def test_traversal_in_any_spelling_is_a_400(cast, mlflow_as, local_version, path):
    api = mlflow_as(cast.owner)
    for response in (api.get(f"{PROXY}/{path}"), api.get(PROXY, {"path": path})):
        assert response.status_code == 400, response.content
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_symlinks_cannot_lead_out_of_the_version(cast, mlflow_as, local_version, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, local_version / "escape.txt")
    response = mlflow_as(cast.owner).get(f"{PROXY}/quorum-models/fraud/1/escape.txt")
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_readers_only_see_models_they_may_read(cast, mlflow_as, local_version, grant):
    outsider = mlflow_as(cast.outsider)
    hidden = outsider.get(f"{PROXY}/quorum-models/fraud/1/MLmodel")
    assert (hidden.status_code, hidden.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert _files(outsider.get(PROXY, {"path": "quorum-models"})) == []
    assert outsider.get(PROXY, {"path": "quorum-models/fraud/1"}).status_code == 404
    reader = grant(cast.outsider, Level.READ, RegisteredModel.objects.get(name="fraud"))
    assert mlflow_as(reader).get(f"{PROXY}/quorum-models/fraud/1/MLmodel").status_code == 200
    assert mlflow_as(None).get(f"{PROXY}/quorum-models/fraud/1/MLmodel").status_code == 401


def test_unknown_versions_files_and_unserved_locations_are_404(cast, mlflow_as, local_version, settings):
    api = mlflow_as(cast.owner)
    for path in (
        "quorum-models/fraud/9/MLmodel",
        "quorum-models/fraud/one/MLmodel",
        "quorum-models/fraud/1/missing.txt",
        "quorum-models/fraud/1/nested",
        "elsewhere/fraud/1/MLmodel",
    ):
        response = api.get(f"{PROXY}/{path}")
        assert (response.status_code, response.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST"), path
    services.model_version_create(actor=cast.owner, name="fraud", source="gs://bucket/fraud/2")
    unserved = api.get(f"{PROXY}/quorum-models/fraud/2/MLmodel")
    assert unserved.status_code == 404 and "not served by Quorum" in unserved.json()["message"]
    # A location that is no longer under an allowed root is not served either.
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [local_version.parent.parent / "elsewhere"]
    assert api.get(f"{PROXY}/quorum-models/fraud/1/MLmodel").status_code == 404


def test_the_proxy_is_read_only(cast, mlflow_as, local_version):
    api = mlflow_as(cast.owner)
    for method in ("PUT", "DELETE"):
        response = api.call(method, f"{PROXY}/quorum-models/fraud/1/MLmodel", {})
        assert response.status_code == 405
    assert (local_version / "MLmodel").read_text() == MLMODEL


def test_serves_s3_locations(
    cast, mlflow_as, monkeypatch, settings, celery_in_process, django_capture_on_commit_callbacks
):
    import boto3
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings.QUORUM_S3_ENDPOINT_URL = ""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        s3.put_object(Bucket="models", Key="churn/3/MLmodel", Body=MLMODEL.encode())
        s3.put_object(Bucket="models", Key="churn/3/data/model.pkl", Body=b"pickle")
        s3.put_object(Bucket="models", Key="churn/30/other", Body=b"not this version")
        services.registered_model_create(actor=cast.owner, name="churn")
        with django_capture_on_commit_callbacks(execute=True):
            services.model_version_create(actor=cast.owner, name="churn", source="s3://models/churn/3")
        api = mlflow_as(cast.owner)
        assert _files(api.get(PROXY, {"path": "quorum-models/churn/1"})) == [
            ("MLmodel", False, len(MLMODEL)),
            ("data", True, None),
        ]
        assert _files(api.get(PROXY, {"path": "quorum-models/churn/1/data"})) == [("model.pkl", False, 6)]
        response = api.get(f"{PROXY}/quorum-models/churn/1/data/model.pkl")
        assert b"".join(response.streaming_content) == b"pickle"
        assert api.get(f"{PROXY}/quorum-models/churn/1/nope").status_code == 404
        # A validated S3 version is answered with the proxy, where its bytes are checked (issue 19:
        # the bucket's URI handed out whatever the bucket held now; this assertion encoded that).
        uri = api.get("model-versions/get-download-uri", {"name": "churn", "version": "1"}).json()
        assert uri == {"artifact_uri": f"{settings.QUORUM_PUBLIC_URL}{PROXY}/quorum-models/churn/1"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", ""), ("a/b", "a/b"), ("/a//b/./c/", "a/b/c"), ("a%20b", "a b")],
)
def test_safe_relpath_normalizes(raw, expected):
    assert safe_relpath(raw) == expected


@pytest.mark.parametrize(
    "raw", ["..", "a/../b", "a/%2e%2e", "a%2f..%2fb", "a\\b", "a\x00b", "%25%32%65%25%32%65"]
)
def test_safe_relpath_refuses_traversal(raw):
    with pytest.raises(InvalidParameter):
        safe_relpath(raw)


def test_version_without_validated_artifacts_serves_nothing(
    cast, mlflow_as, artifact_root, celery_in_process, django_capture_on_commit_callbacks
):
    services.registered_model_create(actor=cast.owner, name="empty")
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_create(actor=cast.owner, name="empty", source=str(artifact_root / "not-yet"))
    assert ModelVersion.objects.get(model__name="empty").status == "FAILED_REGISTRATION"
    answer = mlflow_as(cast.owner).get(PROXY, {"path": "quorum-models/empty/1"})
    assert (answer.status_code, answer.json()["error_code"]) == (409, "RESOURCE_CONFLICT")
    assert "no validated artifacts" in answer.json()["message"]


def test_unreachable_object_store_is_a_503(
    cast, mlflow_as, monkeypatch, settings, celery_in_process, django_capture_on_commit_callbacks
):
    import boto3
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings.QUORUM_S3_ENDPOINT_URL = ""
    with mock_aws():  # validated while the store answered
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        s3.put_object(Bucket="models", Key="offline/1/MLmodel", Body=MLMODEL.encode())
        services.registered_model_create(actor=cast.owner, name="offline")
        with django_capture_on_commit_callbacks(execute=True):
            services.model_version_create(actor=cast.owner, name="offline", source="s3://models/offline/1")
    settings.QUORUM_S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    api = mlflow_as(cast.owner)
    for response in (api.get(f"{PROXY}/quorum-models/offline/1/MLmodel"),):
        assert (response.status_code, response.json()["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")
