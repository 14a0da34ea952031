import io
import os

import pytest

from artifacts import stores
from artifacts.stores import LocalStore, ObjectExists, S3Store, SourceUnsupported, StoreError
from tests.artifacts.helpers import model_files, sha256, upload_tree, write_tree


def test_local_store_lists_streams_and_writes_create_only(tmp_path):
    files = model_files()
    store = LocalStore(write_tree(tmp_path / "src", files))
    assert dict(store.list()) == {path: len(data) for path, data in files.items()}
    with store.open("model.pkl") as stream:
        assert stores.sha256_stream(stream) == (sha256(files["model.pkl"]), len(files["model.pkl"]))
    governed = LocalStore(tmp_path / "governed")
    governed.put("a/b.bin", io.BytesIO(b"data"), size=4, sha256=sha256(b"data"))
    with pytest.raises(ObjectExists):
        governed.put("a/b.bin", io.BytesIO(b"other"), size=5, sha256=sha256(b"other"))
    assert (tmp_path / "governed/a/b.bin").read_bytes() == b"data"
    assert [p for p in os.listdir(tmp_path / "governed/a")] == ["b.bin"]  # no temporary left behind


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/../../b", "a\\b"])
def test_store_paths_cannot_escape_the_root(tmp_path, bad):
    with pytest.raises(StoreError):
        LocalStore(tmp_path).open(bad)


def test_local_sources_only_under_allowed_roots(tmp_path, settings):
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path / "allowed"]
    assert isinstance(stores.store_for_uri(f"file://{tmp_path}/allowed/m"), LocalStore)
    with pytest.raises(SourceUnsupported, match="QUORUM_ALLOWED_LOCAL_ROOTS"):
        stores.store_for_uri(f"file://{tmp_path}/elsewhere")


@pytest.mark.parametrize(
    "uri", ["gs://bucket/model", "runs:/abc123/model", "mlflow-artifacts:/0/abc/artifacts"]
)
def test_sources_without_a_reader_are_unsupported(uri, settings):
    settings.QUORUM_MLFLOW_TRACKING_URI = ""
    with pytest.raises(SourceUnsupported):
        stores.store_for_uri(uri)


def test_s3_without_credentials_is_unsupported_not_a_hang(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SourceUnsupported, match="no S3 credentials"):
        list(stores.store_for_uri("s3://bucket/model").list())


def test_s3_store_over_http_lists_reads_and_copies_server_side_with_digest_tags(moto_env):
    client = moto_env.client()
    source_bucket, governed_bucket = moto_env.bucket("src"), moto_env.bucket("gov")
    files = model_files()
    source = stores.store_for_uri(upload_tree(client, source_bucket, "fraud/1", files))
    assert dict(source.list()) == {path: len(data) for path, data in files.items()}
    governed = stores.store_for_uri(f"s3://{governed_bucket}/fraud/1")
    digest = sha256(files["model.pkl"])
    governed.copy_from(source, "model.pkl", "model.pkl", size=len(files["model.pkl"]), sha256=digest)
    assert governed.stat("model.pkl") == stores.StoredObject("model.pkl", len(files["model.pkl"]), digest)
    tags = client.get_object_tagging(Bucket=governed_bucket, Key="fraud/1/model.pkl")["TagSet"]
    assert {"Key": "sha256", "Value": digest} in tags
    # If-None-Match: * — a governed object is never overwritten. (moto ignores the header on
    # CopyObject, so the refusal is shown on PutObject; the copy path checks existence first.)
    with pytest.raises(ObjectExists):
        governed.put("model.pkl", io.BytesIO(b"other"), size=5, sha256=sha256(b"other"))
    with governed.open("model.pkl") as stream:
        assert stores.sha256_stream(stream)[0] == digest


def test_s3_store_writes_into_a_bucket_with_a_default_object_lock_retention(moto_env):
    # The governed bucket docker-compose.yml makes: object lock with a default GOVERNANCE retention.
    # S3 refuses a PutObject there without Content-MD5 or a checksum algorithm header (the compose
    # stack's audit checkpoints and small copies failed so, with botocore's own CRCs turned off).
    client = moto_env.client()
    bucket = f"locked-{os.urandom(6).hex()}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    governed = stores.store_for_uri(f"s3://{bucket}/audit")
    governed.put("checkpoint.json", io.BytesIO(b"{}"), size=2, sha256=sha256(b"{}"))
    assert governed.stat("checkpoint.json") == stores.StoredObject("checkpoint.json", 2, sha256(b"{}"))
    assert client.head_object(Bucket=bucket, Key="audit/checkpoint.json")["ObjectLockMode"] == "GOVERNANCE"


def test_s3_multipart_copy_and_streamed_upload_above_the_threshold(moto_env, settings, tmp_path):
    settings.QUORUM_ARTIFACT_MULTIPART_COPY_THRESHOLD = 5 * 1024**2
    settings.QUORUM_ARTIFACT_COPY_CHUNK_BYTES = 5 * 1024**2
    client = moto_env.client()
    bucket = moto_env.bucket("mp")
    data = os.urandom(11 * 1024**2 + 123)
    client.put_object(Bucket=bucket, Key="src/big.bin", Body=data)
    source, governed = S3Store(bucket, "src"), S3Store(bucket, "gov")
    governed.copy_from(source, "big.bin", "big.bin", size=len(data), sha256=sha256(data))
    local = LocalStore(write_tree(tmp_path, {"big.bin": data}))
    governed.copy_from(local, "big.bin", "streamed.bin", size=len(data), sha256=sha256(data))
    for key in ("big.bin", "streamed.bin"):
        with governed.open(key) as stream:
            assert stores.sha256_stream(stream) == (sha256(data), len(data))
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_abort_incomplete_uploads_removes_parts_a_dead_worker_left(moto_env):
    client = moto_env.client()
    bucket = moto_env.bucket("abort")
    upload = client.create_multipart_upload(Bucket=bucket, Key="gov/big.bin")
    client.upload_part(
        Bucket=bucket, Key="gov/big.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 10
    )
    assert S3Store(bucket, "gov").abort_incomplete_uploads() == 1
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
