"""Governed copies on an S3 bucket with Object Lock carry retention from the version's class and the
S3 legal hold while a Quorum hold covers them; a bucket without Object Lock is recorded, not fatal."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from retention.models import CopyLockRecord
from tests.artifacts.helpers import model_files, upload_tree

# Transactional: validation runs after the registering transaction commits, and the store's legal
# hold follows a hold's commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner_api(cast, client_for):
    api = client_for(cast.owner)
    assert api.post("/api/v1/models", {"name": "fraud"}, format="json").status_code == 201
    return api


def legal_hold(client, bucket: str, key: str) -> str:
    """The object's S3 legal hold status; one never set is off."""
    try:
        return client.get_object_legal_hold(Bucket=bucket, Key=key)["LegalHold"].get("Status", "OFF")
    except client.exceptions.ClientError:
        return "OFF"


def governed_copy_of_v1(moto_env, owner_api) -> dict[str, bytes]:
    files = model_files()
    source = upload_tree(moto_env.client(), moto_env.bucket("runs"), "exp/1/model", files)
    allowed = owner_api.post("/api/v1/models/fraud/source-prefixes", {"prefix": source}, format="json")
    assert allowed.status_code == 201, allowed.content
    registered = owner_api.post("/api/v1/models/fraud/versions", {"source": source}, format="json")
    assert registered.json()["status"] == "READY", registered.content
    call_command("artifacts_governed_copy", "fraud", "1", "--as-user", "owner")
    return files


def test_governed_copy_is_written_with_object_lock_and_follows_the_legal_hold(
    moto_env, owner_api, settings, client_for, compliance
):
    client = moto_env.client()
    bucket = f"locked-{timezone.now().timestamp():.0f}".replace(".", "")
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    settings.QUORUM_GOVERNED_STORE = f"s3://{bucket}/"
    settings.QUORUM_OBJECT_LOCK_MODE = "GOVERNANCE"
    files = governed_copy_of_v1(moto_env, owner_api)

    for path in files:
        head = client.head_object(Bucket=bucket, Key=f"fraud/1/{path}")
        assert head["ObjectLockMode"] == "GOVERNANCE", path
        # Version 1 reached nothing yet: the default's last class, one year from the copy.
        until = head["ObjectLockRetainUntilDate"]
        assert timezone.now() + timedelta(days=364) < until < timezone.now() + timedelta(days=367)
        assert legal_hold(client, bucket, f"fraud/1/{path}") == "OFF"
    shown = owner_api.get("/api/v1/models/fraud/versions/1/retention").json()
    assert shown["object_lock"]["applied"] is True and shown["object_lock"]["mode"] == "GOVERNANCE"
    assert (shown["retention_class"], shown["retain_until"]) == (
        "standard",
        None,
    )  # in use: not before it ends

    placed = client_for(compliance).post(
        "/api/v1/legal-holds", {"model": "fraud", "version": 1, "reason": "subpoena"}, format="json"
    )
    assert placed.status_code == 201, placed.content
    for path in files:
        assert legal_hold(client, bucket, f"fraud/1/{path}") == "ON"
    assert CopyLockRecord.objects.get(version__version=1).legal_hold is True
    # The store itself now refuses removing an object, whatever Quorum's code does.
    key = f"fraud/1/{next(iter(files))}"
    version_id = client.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(client.exceptions.ClientError):
        client.delete_object(Bucket=bucket, Key=key, VersionId=version_id, BypassGovernanceRetention=True)

    release = f"/api/v1/legal-holds/{placed.json()['id']}/release"
    assert client_for(compliance).post(release, {"reason": "withdrawn"}, format="json").status_code == 200
    for path in files:
        assert legal_hold(client, bucket, f"fraud/1/{path}") == "OFF"

    # Reaching what a longer class names lengthens the objects' retention (it never shortens).
    settings.QUORUM_RETENTION_CLASSES = ["shadowed:7:alias=shadow", "standard:1"]
    assert owner_api.put(
        "/api/v1/models/fraud/aliases/shadow", {"version": 1}, format="json"
    ).status_code in (200, 201)
    for path in files:
        until = client.head_object(Bucket=bucket, Key=f"fraud/1/{path}")["ObjectLockRetainUntilDate"]
        assert until > timezone.now() + timedelta(days=6 * 365), path
    assert CopyLockRecord.objects.get(version__version=1).retain_until > timezone.now() + timedelta(
        days=6 * 365
    )


def test_a_bucket_without_object_lock_gets_an_unlocked_copy_and_a_record_of_it(moto_env, owner_api, settings):
    client = moto_env.client()
    bucket = moto_env.bucket("plain", versioned=True)
    settings.QUORUM_GOVERNED_STORE = f"s3://{bucket}/"
    files = governed_copy_of_v1(moto_env, owner_api)
    for path in files:
        assert "ObjectLockMode" not in client.head_object(Bucket=bucket, Key=f"fraud/1/{path}")
    record = CopyLockRecord.objects.get(version__version=1)
    assert record.applied is False and "has no Object Lock" in record.detail
    assert owner_api.get("/api/v1/models/fraud/versions/1/artifacts").json()["evidence"]["validated"] is True


def test_purge_removes_every_stored_version_of_an_expired_copy_but_not_of_a_held_one(
    moto_env, owner_api, settings, client_for, compliance
):
    client = moto_env.client()
    bucket = f"purged-{timezone.now().timestamp():.0f}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    settings.QUORUM_GOVERNED_STORE = f"s3://{bucket}/"
    settings.QUORUM_RETENTION_CLASSES = ["standard:0"]  # kept no time at all: no retention lock
    governed_copy_of_v1(moto_env, owner_api)
    archived = owner_api.post("/api/v1/models/fraud/versions/1/stage", {"stage": "Archived"}, format="json")
    assert archived.status_code == 200, archived.content
    placed = client_for(compliance).post(
        "/api/v1/legal-holds", {"model": "fraud", "reason": "pending review"}, format="json"
    )

    def stored() -> list[str]:
        listing = client.list_object_versions(Bucket=bucket, Prefix="fraud/1/")
        return [item["Key"] for item in listing.get("Versions", []) + listing.get("DeleteMarkers", [])]

    assert stored()
    call_command("retention_purge")
    assert stored(), "held: the governed copy stays"

    release = f"/api/v1/legal-holds/{placed.json()['id']}/release"
    assert client_for(compliance).post(release, {"reason": "reviewed"}, format="json").status_code == 200
    call_command("retention_purge")
    assert stored() == []
    assert owner_api.get("/api/v1/models/fraud/versions/1").status_code == 404
