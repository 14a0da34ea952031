"""Leases, the outbox and transient failures, without a worker process (SQLite or PostgreSQL)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from artifacts import services
from artifacts.models import ArtifactJob, JobKind, OutboxMessage
from registry import services as registry_services
from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, write_tree
from tests.fixtures_pipeline import celery_use_broker, free_port


@pytest.fixture
def model_with_version(cast, tmp_path, settings, django_capture_on_commit_callbacks):
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(tmp_path)]  # not a scope test
    registry_services.registered_model_create(actor=cast.owner, name="fraud")
    with django_capture_on_commit_callbacks(execute=False):  # leave the validation job queued
        return registry_services.model_version_create(
            actor=cast.owner, name="fraud", source=str(write_tree(tmp_path / "m", model_files()))
        )


@pytest.mark.django_db
def test_a_job_is_claimed_once_until_its_lease_expires(model_with_version, settings):
    job = ArtifactJob.objects.get(version=model_with_version, kind=JobKind.VALIDATE)
    claimed = services.job_claim(job.pk)
    assert claimed is not None
    assert services.job_claim(job.pk) is None  # a duplicate delivery while the first runs
    settings.QUORUM_ARTIFACT_JOB_LEASE_SECONDS = 30
    ArtifactJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=31))
    taken_over = services.job_claim(job.pk)
    assert taken_over is not None and taken_over[1] != claimed[1]
    # The first worker notices at its next progress write and stops without recording an outcome.
    with pytest.raises(services.LeaseLost):
        services.Progress(job=claimed[0], token=claimed[1]).save(force=True)


@pytest.mark.django_db
def test_finished_jobs_are_never_run_again(model_with_version):
    job = ArtifactJob.objects.get(version=model_with_version, kind=JobKind.VALIDATE)
    assert services.job_run(job.pk) == "ran"
    assert services.job_run(job.pk) == "skipped"
    assert ArtifactJob.objects.get(pk=job.pk).attempts == 1


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_keeps_the_work_in_the_outbox_until_the_sweep(cast, tmp_path, settings):
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(tmp_path)]  # not a scope test
    registry_services.registered_model_create(actor=cast.owner, name="fraud")
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    celery_use_broker(dead_broker, "quorum-test-dead")
    try:
        version = registry_services.model_version_create(
            actor=cast.owner, name="fraud", source=str(write_tree(tmp_path / "m", model_files()))
        )
    finally:
        celery_use_broker(None, "celery")
    assert ModelVersion.objects.get(pk=version.pk).status == "PENDING_REGISTRATION"
    message = OutboxMessage.objects.get(job__version=version)
    assert (message.dispatched_at, message.dispatch_attempts) == (None, 1) and message.last_error

    call_command("artifacts_outbox_sweep")  # too early: the message is younger than one period
    assert ModelVersion.objects.get(pk=version.pk).status == "PENDING_REGISTRATION"
    settings.QUORUM_OUTBOX_REDISPATCH_SECONDS = 0
    call_command("artifacts_outbox_sweep")  # the broker is back (in-process tasks here)
    assert ModelVersion.objects.get(pk=version.pk).status == "READY"
    message.refresh_from_db()
    assert message.done_at is not None and message.dispatch_attempts == 2


@pytest.mark.django_db(transaction=True)
def test_unreachable_storage_ends_in_a_failure_a_person_can_retry(cast, client_for, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # connection refused
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    api = client_for(cast.owner)
    api.post("/api/v1/models", {"name": "fraud"}, format="json")
    body = api.post("/api/v1/models/fraud/versions", {"source": "s3://models/fraud/1"}, format="json").json()
    assert body["status"] == "FAILED_REGISTRATION"
    assert "S3 endpoint unreachable" in body["status_message"] and "Gave up" in body["status_message"]
    job = ArtifactJob.objects.get(kind=JobKind.VALIDATE)
    assert job.status == "failed"
    assert api.post(f"/api/v1/artifact-jobs/{job.pk}/retry").status_code == 202
