"""End to end with real components: a Celery worker process, Redis, PostgreSQL and moto's S3 server.

Each test is transactional so the worker (another process) sees what the test commits.
"""

import time
import uuid

import pytest
import redis

from artifacts.models import ArtifactJob, OutboxMessage
from artifacts.tasks import artifacts_copy
from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, sha256, upload_tree
from tests.fixtures_pipeline import celery_use_broker, wait_until, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def owner_api(cast, client_for):
    """The owner's client; the model has a fresh name because the governed bucket outlives the test."""
    api = client_for(cast.owner)
    api.model_name = f"fraud-{uuid.uuid4().hex[:8]}"
    assert api.post("/api/v1/models", {"name": api.model_name}, format="json").status_code == 201
    return api


def register_and_wait_ready(api, source: str) -> ModelVersion:
    # The run bucket is this team's: its MANAGE holder allow-lists it (sources are scoped).
    bucket_root = source.split("/", 3)
    allowed = api.post(
        f"/api/v1/models/{api.model_name}/source-prefixes",
        {"prefix": "/".join(bucket_root[:3]) + "/", "reason": "the team's run bucket"},
        format="json",
    )
    assert allowed.status_code == 201, allowed.content
    response = api.post(f"/api/v1/models/{api.model_name}/versions", {"source": source}, format="json")
    assert response.status_code == 201, response.content
    number = response.json()["version"]

    def ready():
        row = ModelVersion.objects.get(model__name=api.model_name, version=number)
        return row if row.status != "PENDING_REGISTRATION" else None

    row = wait_until(ready, timeout=30, what="validation by the worker")
    assert row.status == "READY", row.status_message
    return row


def job_finished(job_id: int) -> ArtifactJob | None:
    job = ArtifactJob.objects.get(pk=job_id)
    return job if job.is_finished else None


def governed_objects(client, bucket: str) -> dict[str, list[str]]:
    """key -> sha256 of each stored version of it (the bucket is versioned: overwrites show)."""
    found: dict[str, list[str]] = {}
    for version in client.list_object_versions(Bucket=bucket).get("Versions", []):
        if version["Key"].startswith(("audit/", "attestations/")):
            continue  # audit checkpoints and attestations
        body = client.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"]
        found.setdefault(version["Key"], []).append(sha256(body.read()))
    return found


def test_worker_validates_and_copies_with_verified_digests(celery_via_broker, owner_api, moto_s3, settings):
    client = moto_s3.client()
    files = model_files()
    row = register_and_wait_ready(owner_api, upload_tree(client, moto_s3.bucket("runs"), "m", files))
    response = owner_api.post(f"/api/v1/models/{owner_api.model_name}/versions/{row.version}/governed-copy")
    assert response.status_code == 202, response.content
    job = wait_until(lambda: job_finished(response.json()["id"]), timeout=30, what="the copy")
    assert job.status == "succeeded", job.error
    bucket = settings.QUORUM_GOVERNED_STORE.removeprefix("s3://").strip("/")
    stored = governed_objects(client, bucket)
    assert {k: v for k, v in stored.items() if k.startswith(f"{owner_api.model_name}/{row.version}/")} == {
        f"{owner_api.model_name}/{row.version}/{path}": [sha256(data)] for path, data in files.items()
    }
    row.refresh_from_db()
    assert row.storage_location == f"s3://{bucket}/{owner_api.model_name}/{row.version}"


def test_same_task_delivered_twice_copies_each_object_once(celery_via_broker, owner_api, moto_s3, settings):
    client = moto_s3.client()
    files = {**model_files(), **{f"shard-{i}.bin": bytes([i]) * 200_000 for i in range(12)}}
    row = register_and_wait_ready(owner_api, upload_tree(client, moto_s3.bucket("runs"), "m", files))
    job_id = owner_api.post(
        f"/api/v1/models/{owner_api.model_name}/versions/{row.version}/governed-copy"
    ).json()["id"]
    artifacts_copy.apply_async(args=[job_id])  # the duplicate: same task, same job id, another thread
    job = wait_until(lambda: job_finished(job_id), timeout=30, what="the copy")
    artifacts_copy.apply_async(args=[job_id])  # and a late duplicate after success
    time.sleep(1)
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 1), job.error
    bucket = settings.QUORUM_GOVERNED_STORE.removeprefix("s3://").strip("/")
    mine = {
        k: v
        for k, v in governed_objects(client, bucket).items()
        if k.startswith(f"{owner_api.model_name}/{row.version}/")
    }
    assert mine == {
        f"{owner_api.model_name}/{row.version}/{path}": [sha256(data)] for path, data in files.items()
    }


@pytest.fixture
def private_queue():
    queue = f"quorum-test-{uuid.uuid4().hex[:8]}"
    yield queue
    celery_use_broker(None, "celery")


def test_worker_killed_mid_copy_leaves_a_job_the_next_worker_finishes(
    celery_worker_factory, redis_url, worker_database_url, moto_env, owner_api, private_queue, settings
):
    client = moto_env.client()
    governed_bucket = moto_env.bucket("governed", versioned=True)
    env = worker_env(worker_database_url, moto_env, governed_bucket, QUORUM_ARTIFACT_COPY_CONCURRENCY="1")
    first = celery_worker_factory.start(broker_url=redis_url, env=env, queue=private_queue)
    celery_use_broker(redis_url, private_queue)
    files = {
        "MLmodel": model_files()["MLmodel"],
        **{f"w/{i:03}.bin": bytes([i]) * 1_000_000 for i in range(80)},
    }
    row = register_and_wait_ready(owner_api, upload_tree(client, moto_env.bucket("runs"), "m", files))
    job_id = owner_api.post(
        f"/api/v1/models/{owner_api.model_name}/versions/{row.version}/governed-copy"
    ).json()["id"]

    def partly_copied():
        job = ArtifactJob.objects.get(pk=job_id)
        return job if 0 < job.objects_done < job.objects_total and job.status == "running" else None

    wait_until(partly_copied, timeout=30, interval=0.02, what="the copy to be under way")
    first.kill()
    killed_at = ArtifactJob.objects.get(pk=job_id)
    assert killed_at.status == "running" and killed_at.objects_done < len(files)
    assert ModelVersion.objects.get(pk=row.pk).storage_location == ""  # never governed with a partial copy

    # The new worker's beat finds the job's lease expired and publishes it again.
    celery_worker_factory.start(broker_url=redis_url, env=env, queue=private_queue, beat=True)
    job = wait_until(lambda: job_finished(job_id), timeout=60, what="the next worker to finish the copy")
    assert job.status == "succeeded", job.error
    assert job.attempts >= 2
    stored = governed_objects(client, governed_bucket)
    assert stored == {
        f"{owner_api.model_name}/{row.version}/{path}": [sha256(data)] for path, data in files.items()
    }
    row.refresh_from_db()
    assert row.storage_location == f"s3://{governed_bucket}/{owner_api.model_name}/{row.version}"


def test_broker_outage_during_promotion_is_recovered_by_the_outbox(
    celery_worker_factory, redis_server_factory, worker_database_url, moto_env, owner_api, private_queue
):
    broker = redis_server_factory()
    client = moto_env.client()
    governed_bucket = moto_env.bucket("governed", versioned=True)
    env = worker_env(worker_database_url, moto_env, governed_bucket)
    worker = celery_worker_factory.start(broker_url=broker.url, env=env, queue=private_queue, beat=True)
    celery_use_broker(broker.url, private_queue)
    files = model_files()
    row = register_and_wait_ready(owner_api, upload_tree(client, moto_env.bucket("runs"), "m", files))
    # The outage starts once the worker has acknowledged the validation (the version turns READY
    # just before): this test is about the promotion's publish, not a lost acknowledgement.
    unacked = redis.Redis.from_url(broker.url)
    wait_until(lambda: unacked.hlen("unacked") == 0, timeout=10, what="the validation to be acknowledged")

    broker.stop()
    started = time.monotonic()
    response = owner_api.post(f"/api/v1/models/{owner_api.model_name}/versions/{row.version}/governed-copy")
    assert response.status_code == 202, response.content
    assert time.monotonic() - started < 3  # a dead broker never holds up the request
    job_id = response.json()["id"]
    message = OutboxMessage.objects.get(job_id=job_id)
    assert message.dispatched_at is None and message.last_error  # kept, not lost
    assert ArtifactJob.objects.get(pk=job_id).status == "queued"

    broker.start()
    try:
        job = wait_until(lambda: job_finished(job_id), timeout=90, interval=0.2, what="the outbox to recover")
    except BaseException:
        print(worker.log()[-20000:])  # the worker's side of the outage, for whoever reads the failure
        raise
    assert job.status == "succeeded", job.error
    stored = governed_objects(client, governed_bucket)
    assert stored == {
        f"{owner_api.model_name}/{row.version}/{path}": [sha256(data)] for path, data in files.items()
    }
