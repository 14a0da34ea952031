"""Validation on registration and governed copies, with in-process tasks, through the public surface."""

import pytest
from django.core.management import CommandError, call_command

from artifacts import rules
from artifacts.models import ArtifactJob, ArtifactManifest
from artifacts.services import VALIDATE_TASK, version_evidence
from audit.models import AuditEvent
from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, sha256, upload_tree, write_tree

# Transactional: validation runs after the registering transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def artifact_root(tmp_path, settings):
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(tmp_path)]  # not a scope test
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    return tmp_path


@pytest.fixture
def owner_api(cast, client_for):
    api = client_for(cast.owner)
    assert api.post("/api/v1/models", {"name": "fraud"}, format="json").status_code == 201
    return api


def register(api, source: str) -> dict:
    response = api.post("/api/v1/models/fraud/versions", {"source": source}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_registration_returns_ready_with_a_manifest_of_every_object(artifact_root, owner_api):
    files = model_files()
    body = register(owner_api, str(write_tree(artifact_root / "runs/1/model", files)))
    assert body["status"] == "READY", body
    manifest = ArtifactManifest.objects.get(version__version=1)
    assert {(e.path, e.size, e.sha256) for e in manifest.entries.all()} == {
        (path, len(data), sha256(data)) for path, data in files.items()
    }
    expected_digest = rules.version_digest((p, len(d), sha256(d)) for p, d in files.items())
    artifacts = owner_api.get("/api/v1/models/fraud/versions/1/artifacts").json()
    assert artifacts["evidence"]["artifact_digest"] == expected_digest
    assert artifacts["evidence"]["validated"] is True
    assert artifacts["evidence"]["flavors"] == ["python_function", "sklearn"]
    assert artifacts["evidence"]["has_signature"] is True
    assert [job["status"] for job in artifacts["jobs"]] == ["succeeded"]
    event = AuditEvent.objects.get(action="artifacts.validated")
    assert (event.actor_kind, event.actor_detail) == ("system", VALIDATE_TASK)
    assert event.after["digest"] == expected_digest and event.version == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"model.pkl": b"x"}, "no MLmodel file at its top level"),
        ({"MLmodel": b"flavors: [oops"}, "MLmodel is not valid YAML"),
        ({"MLmodel": b"artifact_path: model\n"}, "declares no flavors"),
    ],
)
def test_bad_artifacts_fail_registration_with_a_message_to_act_on(artifact_root, owner_api, files, message):
    body = register(owner_api, str(write_tree(artifact_root / "m", files)))
    assert body["status"] == "FAILED_REGISTRATION"
    assert message in body["status_message"]
    event = AuditEvent.objects.get(action="artifacts.failed")
    assert message in event.after["reason"]


def test_size_limit_fails_registration(artifact_root, owner_api, settings):
    settings.QUORUM_MAX_VERSION_BYTES = 1000
    body = register(owner_api, str(write_tree(artifact_root / "m", model_files(big_bytes=5000))))
    assert body["status"] == "FAILED_REGISTRATION"
    assert "above the limit of 1,000 bytes (QUORUM_MAX_VERSION_BYTES)" in body["status_message"]


def test_missing_source_folder_fails_registration(artifact_root, owner_api):
    body = register(owner_api, str(artifact_root / "never-uploaded"))
    assert body["status"] == "FAILED_REGISTRATION"
    assert "does not exist" in body["status_message"]


def test_source_quorum_cannot_read_is_ready_but_unvalidated_and_never_governed(
    artifact_root, owner_api, settings
):
    settings.QUORUM_MLFLOW_TRACKING_URI = ""
    body = register(owner_api, "runs:/0123456789abcdef/model")
    assert body["status"] == "READY"
    assert "Artifacts not validated" in body["status_message"]
    evidence = owner_api.get("/api/v1/models/fraud/versions/1/artifacts").json()["evidence"]
    assert (evidence["validated"], evidence["validation_state"]) == (False, "unvalidated")
    response = owner_api.post("/api/v1/models/fraud/versions/1/governed-copy")
    assert response.status_code == 409
    assert "no validated artifacts" in response.json()["message"]


def test_s3_source_validates_and_copies_server_side_to_governed_s3(moto_env, owner_api, settings, cast):
    settings.QUORUM_ARTIFACT_MULTIPART_COPY_THRESHOLD = 5 * 1024**2  # exercise multipart copy too
    settings.QUORUM_ARTIFACT_COPY_CHUNK_BYTES = 5 * 1024**2
    client = moto_env.client()
    governed_bucket = moto_env.bucket("governed", versioned=True)
    settings.QUORUM_GOVERNED_STORE = f"s3://{governed_bucket}/"
    files = model_files(big_bytes=6 * 1024**2)
    source = upload_tree(client, moto_env.bucket("runs"), "exp/1/model", files)
    # Sources are scoped (issue 19): an object-store folder is allow-listed for the model first.
    allowed = owner_api.post("/api/v1/models/fraud/source-prefixes", {"prefix": source}, format="json")
    assert allowed.status_code == 201, allowed.content
    assert register(owner_api, source)["status"] == "READY"

    call_command("artifacts_governed_copy", "fraud", "1", "--as-user", "owner")

    for path, data in files.items():
        key = f"fraud/1/{path}"
        assert sha256(client.get_object(Bucket=governed_bucket, Key=key)["Body"].read()) == sha256(data)
        assert client.head_object(Bucket=governed_bucket, Key=key)["Metadata"]["sha256"] == sha256(data)
    governed = f"s3://{governed_bucket}/fraud/1"
    assert (
        owner_api.get("/api/v1/resolve", {"uri": "models:/fraud/1"}).json()["artifact_location"] == governed
    )
    job = ArtifactJob.objects.get(kind="copy")
    assert (job.status, job.objects_done, job.objects_total) == ("succeeded", len(files), len(files))
    assert job.bytes_done == job.bytes_total == sum(len(d) for d in files.values())
    copied = AuditEvent.objects.get(action="artifacts.copied")
    assert copied.after["storage_location"] == governed and copied.before == {"storage_location": ""}

    # A second copy finds every object verified: nothing is written again.
    call_command("artifacts_governed_copy", "fraud", "1", "--as-user", "owner")
    versions = client.list_object_versions(Bucket=governed_bucket)["Versions"]
    stored = sorted(
        v["Key"] for v in versions if not v["Key"].startswith(("audit/", "attestations/"))
    )  # not the checkpoints and attestations
    assert stored == sorted(f"fraud/1/{p}" for p in files)


def test_changed_source_fails_the_copy_and_a_manager_retries_after_the_fix(
    artifact_root, owner_api, cast, client_for
):
    files = model_files()
    folder = write_tree(artifact_root / "m", files)
    assert register(owner_api, str(folder))["status"] == "READY"
    (folder / "model.pkl").write_bytes(b"tampered after validation")

    with pytest.raises(CommandError, match="does not match the manifest"):
        call_command("artifacts_governed_copy", "fraud", "1", "--as-user", "owner")
    version = ModelVersion.objects.get(version=1)
    assert version.storage_location == "" or "governed" not in version.storage_location
    job = ArtifactJob.objects.get(kind="copy")
    assert job.status == "failed" and "source changed after validation" in job.error
    assert AuditEvent.objects.filter(action="artifacts.failed", after__job=job.pk).exists()

    from access.grants import Level
    from registry.models import RegisteredModel
    from tests.fixtures_foundation import grant_level

    fraud = RegisteredModel.objects.get(name="fraud")
    editor = grant_level(grant_level(cast.editor, Level.READ, fraud), Level.EDIT, fraud)
    refused = client_for(editor).post(f"/api/v1/artifact-jobs/{job.pk}/retry")
    assert refused.status_code == 403

    (folder / "model.pkl").write_bytes(files["model.pkl"])
    retried = owner_api.post(f"/api/v1/artifact-jobs/{job.pk}/retry")
    assert retried.status_code == 202, retried.content
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2
    governed = artifact_root / "governed/fraud/1"
    assert {p: sha256((governed / p).read_bytes()) for p in files} == {p: sha256(d) for p, d in files.items()}
    assert version_evidence(ModelVersion.objects.get(version=1))["governed_location"] == f"file://{governed}"


def test_job_progress_is_listed_only_for_visible_models(artifact_root, owner_api, cast, client_for):
    register(owner_api, str(write_tree(artifact_root / "m", model_files())))
    mine = owner_api.get("/api/v1/artifact-jobs", {"name": "fraud"}).json()
    assert [(j["kind"], j["status"], j["percent_done"]) for j in mine["results"]] == [
        ("validate", "succeeded", 100)
    ]
    job_id = mine["results"][0]["id"]
    outsider = client_for(cast.outsider)
    assert outsider.get("/api/v1/artifact-jobs").json()["results"] == []
    assert outsider.get(f"/api/v1/artifact-jobs/{job_id}").status_code == 404
    assert owner_api.get("/api/v1/artifact-jobs", {"status": "bogus"}).status_code == 400
    refused = owner_api.post(f"/api/v1/artifact-jobs/{job_id}/retry")
    assert refused.status_code == 409 and "only failed jobs" in refused.json()["message"]
    assert outsider.post(f"/api/v1/artifact-jobs/{job_id}/retry").status_code == 404


def test_admin_shows_progress_and_retries_a_failed_job(artifact_root, owner_api, cast, client):
    from django.contrib.auth import get_user_model

    folder = write_tree(artifact_root / "m", model_files())
    register(owner_api, str(folder))
    (folder / "model.pkl").write_bytes(b"tampered")
    with pytest.raises(CommandError):
        call_command("artifacts_governed_copy", "fraud", "1", "--as-user", "owner")
    job = ArtifactJob.objects.get(kind="copy")
    owner = get_user_model().objects.get(pk=cast.owner.pk)
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    page = client.get("/admin/artifacts/artifactjob/")
    assert page.status_code == 200
    assert "does not match the manifest" in page.content.decode()
    assert "objects," in page.content.decode()  # the progress bar's caption
    outsider = get_user_model().objects.get(pk=cast.outsider.pk)
    outsider.is_staff = True
    outsider.save()
    client.force_login(outsider)
    assert "does not match" not in client.get("/admin/artifacts/artifactjob/").content.decode()

    client.force_login(owner)
    response = client.post(
        "/admin/artifacts/artifactjob/", {"action": "retry_failed", "_selected_action": [job.pk]}, follow=True
    )
    assert f"Job {job.pk} queued again." in response.content.decode()
    job.refresh_from_db()
    assert job.status == "failed" and job.attempts == 2  # the source is still tampered: fails again, visibly


def test_admin_does_not_show_a_version_never_validated_as_succeeded_100_percent(
    artifact_root, owner_api, settings, cast
):
    """Issue 21: the job list read 'Succeeded 100 %, 0/0 objects' for a source Quorum never read."""
    from django.test import Client

    settings.QUORUM_MLFLOW_TRACKING_URI = ""
    register(owner_api, "runs:/0123456789abcdef/model")
    browser = Client()
    browser.force_login(cast.admin)
    page = browser.get("/admin/artifacts/artifactjob/").content.decode()
    listing = page.split('id="result_list"')[1].split("</table>")[0]  # the rows, not the filter sidebar
    assert "Not validated (source unreadable by Quorum)" in listing
    assert "not validated: nothing was read" in listing
    assert "100%" not in listing and "0/0 objects" not in listing and "Succeeded" not in listing
