"""Issue 19, attack 5 (approved bytes not pinned): what the proxy serves is what was validated.

A version approved to Staging has no governed copy by default; its source is overwritten after the
approval. Fetched with the real mlflow client through Quorum, the transfer fails, the version is
marked and the mismatch audited. Failed and unvalidated versions serve nothing, files outside the
manifest are 404, a governed copy is what a promoted version serves, and downloads are recorded.
"""

import os

import pytest
import requests
from mlflow.exceptions import MlflowException

from access.grants import Level
from artifacts.models import ArtifactDownload, ArtifactManifest, DownloadOutcome, ServedBytesMismatch
from artifacts.services import governed_copy_start, source_prefix_add
from audit.models import Action, AuditEvent
from registry import services
from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, write_tree
from tests.fixtures_workflow import grant_levels, signing_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords", "celery_in_process"),
]

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def staged(cast, tmp_path, settings, live_server, mlflow_env):
    """'fraud' v1 from a local folder, validated, approved to Staging (no governed copy); the client is set up."""
    from workflows import services as workflows

    root = tmp_path / "artifacts"
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [root]
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    folder = write_tree(root / "risk" / "fraud" / "1", model_files(big_bytes=3 * 1024 * 1024))
    model = services.registered_model_create(actor=cast.owner, name="fraud")
    source_prefix_add(actor=cast.owner, name="fraud", prefix=str(root / "risk"))
    editor = grant_levels(cast.editor, model, Level.EDIT)
    approver = grant_levels(cast.approver, model, Level.APPROVE_STAGING)
    services.model_version_create(actor=editor, name="fraud", source=str(folder))
    assert ModelVersion.objects.get(model=model, version=1).status == "READY"
    request = workflows.transition_request_create(
        actor=editor, name="fraud", version=1, target_kind="stage", target="Staging", reason="holdout AUC"
    )
    applied = workflows.transition_request_approve(
        actor=approver, request_id=request.pk, comment="ok", signing=signing_of(approver)
    )
    assert applied.state == "applied"
    version = ModelVersion.objects.get(model=model, version=1)
    assert version.stage == "Staging" and not version.artifact_manifest.governed_location
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
    )
    return folder


def _download(tmp_path, uri: str = "models:/fraud/Staging"):
    import mlflow.artifacts

    destination = tmp_path / f"download-{len(os.listdir(tmp_path))}"
    destination.mkdir()
    return mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination))


def test_overwritten_bytes_after_approval_abort_the_transfer_and_mark_the_version(staged, tmp_path):
    original = (staged / "model.pkl").read_bytes()
    assert (tmp_path / "ok").mkdir() is None
    fetched = _download(tmp_path / "ok")
    assert (tmp_path / "ok").exists() and open(os.path.join(fetched, "model.pkl"), "rb").read() == original

    # The careless (or malicious) owner swaps the weights after the approval, keeping the size.
    (staged / "model.pkl").write_bytes(os.urandom(len(original)))
    with pytest.raises((MlflowException, requests.exceptions.RequestException, OSError)):
        _download(tmp_path)

    manifest = ArtifactManifest.objects.get(version__model__name="fraud", version__version=1)
    assert manifest.tampered_at is not None
    mismatch = ServedBytesMismatch.objects.get(manifest=manifest)
    assert mismatch.path == "model.pkl" and mismatch.expected_sha256 != mismatch.actual_sha256
    event = AuditEvent.objects.get(action=Action.ARTIFACTS_FAILED, model_name="fraud", version=1)
    assert event.after["stage"] == "served bytes" and event.after["path"] == "model.pkl"
    assert ArtifactDownload.objects.filter(path="model.pkl", outcome=DownloadOutcome.ABORTED).exists()
    # Marked: nothing of it is served any more, and its evidence no longer says validated.
    from django.test import Client

    client = Client()
    client.login(username="owner", password="owner-pw-123!")
    answer = client.get(f"{PROXY}/quorum-models/fraud/1/MLmodel")
    assert answer.status_code == 409 and "served no more" in answer.json()["message"]
    evidence = client.get("/api/v1/models/fraud/versions/1/artifacts").json()["evidence"]
    assert evidence["validated"] is False and evidence["tampered_at"]


def test_a_longer_file_is_cut_before_its_end(staged, tmp_path, cast, mlflow_as):
    (staged / "MLmodel").write_bytes((staged / "MLmodel").read_bytes() + b"\nextra: attacker\n")
    answer = mlflow_as(cast.owner).get(f"{PROXY}/quorum-models/fraud/1/MLmodel")
    assert answer.status_code == 200
    with pytest.raises(Exception, match="does not match its validated manifest"):  # noqa: B017 - the abort
        b"".join(answer.streaming_content)
    assert ArtifactManifest.objects.get(version__version=1).tampered_at is not None


def test_failed_and_pending_versions_serve_nothing_and_files_outside_the_manifest_are_404(
    staged, cast, mlflow_as, tmp_path
):
    (staged / "added-later.bin").write_bytes(b"not validated")
    api = mlflow_as(cast.owner)
    assert api.get(f"{PROXY}/quorum-models/fraud/1/added-later.bin").status_code == 404
    listed = {f["path"] for f in api.get(PROXY, {"path": "quorum-models/fraud/1"}).json()["files"]}
    assert "added-later.bin" not in listed and "model.pkl" in listed

    broken = write_tree(staged.parent.parent / "2", {"MLmodel": b"flavors: {}\n", "weights.bin": b"w"})
    services.model_version_create(actor=cast.owner, name="fraud", source=str(broken))
    assert ModelVersion.objects.get(model__name="fraud", version=2).status == "FAILED_REGISTRATION"
    for path in ("MLmodel", "weights.bin"):
        answer = api.get(f"{PROXY}/quorum-models/fraud/2/{path}")
        assert answer.status_code == 409 and "no validated artifacts" in answer.json()["message"], path
    assert api.get(PROXY, {"path": "quorum-models/fraud/2"}).status_code == 409
    ArtifactManifest.objects.filter(version__version=2).update(state="pending")
    assert api.get(f"{PROXY}/quorum-models/fraud/2/MLmodel").status_code == 409
    assert not ArtifactDownload.objects.filter(version__version=2).exists()


def test_a_governed_copy_is_what_a_promoted_version_serves(staged, tmp_path, cast):
    governed_copy_start(actor=cast.owner, name="fraud", version=1)
    manifest = ArtifactManifest.objects.get(version__version=1)
    assert manifest.governed_location
    original = (staged / "model.pkl").read_bytes()
    (staged / "model.pkl").write_bytes(os.urandom(len(original)))  # the source no longer matters
    fetched = _download(tmp_path)
    assert open(os.path.join(fetched, "model.pkl"), "rb").read() == original
    assert ArtifactManifest.objects.get(pk=manifest.pk).tampered_at is None
    assert set(ArtifactDownload.objects.values_list("served_from", flat=True)) == {manifest.governed_location}


def test_downloads_are_recorded_per_file_and_audited_once_per_user_version_and_hour(
    staged, tmp_path, cast, client_for
):
    _download(tmp_path)
    _download(tmp_path)
    files = len(model_files())
    rows = ArtifactDownload.objects.filter(version__version=1)
    assert rows.count() == 2 * files
    assert set(rows.values_list("username", "outcome")) == {("owner", DownloadOutcome.COMPLETED)}
    events = AuditEvent.objects.filter(action=Action.ARTIFACTS_DOWNLOADED, model_name="fraud", version=1)
    assert events.count() == 1 and events.get().actor_username == "owner"
    listed = client_for(cast.owner).get("/api/v1/models/fraud/versions/1/downloads").json()
    assert listed["count"] == 2 * files
    assert {row["path"] for row in listed["results"]} == set(model_files())
    assert client_for(cast.editor).get("/api/v1/models/fraud/versions/1/downloads").status_code == 403
    assert client_for(cast.outsider).get("/api/v1/models/fraud/versions/1/downloads").status_code == 404
