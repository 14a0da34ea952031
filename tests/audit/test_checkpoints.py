"""Checkpoints: Ed25519-signed on demand, periodically and after privileged changes; copied to the governed store."""

import json
from io import StringIO

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from moto import mock_aws

from audit.chain import checkpoint_ed25519_valid, checkpoint_signature, key_id, public_key_id
from audit.checkpoint_store import checkpoint_publish
from audit.keys import CheckpointKeyUnavailable, signing_key
from audit.models import Action, AuditCheckpoint, AuditEvent, ChainHead
from audit.services import checkpoint_create
from audit.tasks import audit_checkpoint_periodic
from registry import services

pytestmark = pytest.mark.django_db


def test_checkpoint_needs_no_configured_key_the_embedded_default_generates_one(fraud, settings, tmp_path):
    # Issue 20, item 3: `audit_checkpoint` refused to run without QUORUM_AUDIT_HMAC_KEY, so the
    # default setup had no checkpoints at all.
    settings.QUORUM_AUDIT_HMAC_KEY = ""
    settings.QUORUM_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "var" / "audit-keys" / "signing.pem")
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    key_file = tmp_path / "var" / "audit-keys" / "signing.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    checkpoint = AuditCheckpoint.objects.get()
    public = signing_key().public_key()
    assert (checkpoint.algorithm, checkpoint.key_id) == ("ed25519", public_key_id(public))
    assert checkpoint_ed25519_valid(
        public, checkpoint.seq, checkpoint.hash, checkpoint.created_at, checkpoint.signature
    )
    assert "audit chain OK: 5 events" in _verify()


def test_command_signs_the_head_with_ed25519_and_records_that_it_did(fraud, governed_dir):
    head = ChainHead.objects.get()
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    checkpoint = AuditCheckpoint.objects.get()
    assert (
        (checkpoint.seq, checkpoint.hash) == (head.seq, head.hash) == (4, AuditEvent.objects.get(seq=4).hash)
    )
    public = signing_key().public_key()
    assert checkpoint.key_id == public_key_id(public)
    assert checkpoint_ed25519_valid(public, 4, head.hash, checkpoint.created_at, checkpoint.signature)
    assert not checkpoint_ed25519_valid(public, 3, head.hash, checkpoint.created_at, checkpoint.signature)
    assert checkpoint.created_by == "system:manage.py audit_checkpoint"
    event = AuditEvent.objects.get(seq=5)
    assert event.action == Action.CHECKPOINT_CREATED
    assert event.after == {"seq": 4, "hash": head.hash, "key_id": checkpoint.key_id}
    assert f"checkpoint at seq 4: hash {head.hash}" in out.getvalue()
    assert "audit chain OK: 5 events" in _verify()


def test_an_unreadable_signing_key_refuses_the_checkpoint(fraud, settings, tmp_path):
    bad = tmp_path / "signing.pem"
    bad.write_text("not a key")
    settings.QUORUM_AUDIT_SIGNING_KEY_FILE = str(bad)
    with pytest.raises(CheckpointKeyUnavailable):
        checkpoint_create(actor="system")
    with pytest.raises(CommandError, match="not a PEM private key") as caught:
        call_command("audit_checkpoint")
    assert caught.value.returncode == 2
    assert not AuditCheckpoint.objects.exists()


def test_checkpoints_signed_with_hmac_before_issue_20_still_verify(fraud, hmac_key, settings):
    from django.utils import timezone

    head = ChainHead.objects.get()
    now = timezone.now()
    AuditCheckpoint.objects.create(
        seq=head.seq,
        hash=head.hash,
        created_at=now,
        key_id=key_id(hmac_key),
        algorithm="hmac-sha256",
        signature=checkpoint_signature(hmac_key, head.seq, head.hash, now),
        created_by="system",
    )
    assert "1 checkpoints verified" in _verify()
    settings.QUORUM_AUDIT_HMAC_KEY = ""
    with pytest.raises(CommandError, match="unverifiable_checkpoint"):
        _verify()


def _verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def test_periodic_task_checkpoints_only_when_something_happened(fraud, cast):
    assert audit_checkpoint_periodic() == 4
    assert audit_checkpoint_periodic() is None  # only its own checkpoint event since
    services.registered_model_update(actor=cast.owner, name="fraud", description="changed")
    assert audit_checkpoint_periodic() == 6
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [4, 6]
    assert AuditCheckpoint.objects.first().created_by == "system:audit.tasks.audit_checkpoint_periodic"
    assert "2 checkpoints verified" in _verify()


def test_periodic_task_without_a_usable_key_logs_and_writes_nothing(fraud, settings, caplog, tmp_path):
    (tmp_path / "signing.pem").write_text("not a key")
    settings.QUORUM_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "signing.pem")
    assert audit_checkpoint_periodic() is None
    assert "audit checkpoint skipped" in caplog.text
    assert not AuditCheckpoint.objects.exists()


def test_periodic_checkpoint_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == audit_checkpoint_periodic.name


def test_checkpoint_is_copied_to_a_file_store_after_commit(
    fraud, governed_dir, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint = checkpoint_create(actor="system")
    written = list(governed_dir.glob("audit/checkpoints/*.json"))
    assert [p.name for p in written] == [f"{checkpoint.seq:020d}-{checkpoint.pk}.json"]
    document = json.loads(written[0].read_text())
    assert document["signature"] == checkpoint.signature
    assert document["hash"] == checkpoint.hash


def test_checkpoint_is_copied_to_a_governed_s3_store(fraud, settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings.QUORUM_GOVERNED_STORE = "s3://governed/prod"
    settings.QUORUM_S3_ENDPOINT_URL = ""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="governed")
        checkpoint = checkpoint_create(actor="system")
        where = checkpoint_publish(checkpoint.pk)
        key = f"prod/audit/checkpoints/{checkpoint.seq:020d}-{checkpoint.pk}.json"
        assert where == f"s3://governed/{key}"
        body = json.loads(s3.get_object(Bucket="governed", Key=key)["Body"].read())
    assert body["seq"] == checkpoint.seq
    assert body["key_id"] == checkpoint.key_id


def test_a_failed_store_copy_keeps_the_checkpoint(fraud, settings, caplog):
    settings.QUORUM_GOVERNED_STORE = "ftp://nowhere"
    checkpoint = checkpoint_create(actor="system")
    assert checkpoint_publish(checkpoint.pk) is None
    assert "could not copy audit checkpoint" in caplog.text
    assert AuditCheckpoint.objects.filter(pk=checkpoint.pk).exists()


def test_rotation_keeps_old_checkpoints_verifiable(fraud, settings, tmp_path):
    settings.QUORUM_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "keys" / "signing.pem")
    settings.QUORUM_AUDIT_PUBLIC_KEYS = [str(tmp_path / "keys" / "public")]
    first = checkpoint_create(actor="system")
    err = StringIO()
    call_command("audit_keys", "rotate", stderr=err, stdout=StringIO())
    assert f"rotated the audit signing key: {first.key_id} -> " in err.getvalue()
    second = checkpoint_create(actor="system")
    assert second.key_id != first.key_id
    assert "2 checkpoints verified" in _verify()
    out = StringIO()
    call_command("audit_keys", stdout=out)
    keys = json.loads(out.getvalue())["keys"]
    assert [(k["key_id"], k["current"]) for k in keys] == [(second.key_id, True), (first.key_id, False)]
    settings.QUORUM_AUDIT_PUBLIC_KEYS = []  # the retired key not kept: its checkpoints cannot be checked
    with pytest.raises(CommandError, match=f"seq {first.seq} \\(unverifiable_checkpoint\\)"):
        _verify()


def test_a_one_line_key_from_the_environment_signs(fraud, settings):
    out = StringIO()
    call_command("audit_keys", "generate", stdout=out, stderr=StringIO())
    line = out.getvalue().strip()
    assert "\n" not in line and "BEGIN" not in line
    settings.QUORUM_AUDIT_SIGNING_KEY = line
    checkpoint = checkpoint_create(actor="system")
    assert checkpoint.key_id == public_key_id(signing_key().public_key())
    with pytest.raises(CommandError, match="secret manager"):
        call_command("audit_keys", "rotate", stdout=StringIO(), stderr=StringIO())
    assert "1 checkpoints verified" in _verify()


def test_the_public_keys_are_published_to_auditors(cast, client_for):
    assert client_for(cast.outsider).get("/api/v1/audit/keys").status_code == 403
    response = client_for(cast.admin).get("/api/v1/audit/keys")
    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert key["current"] and key["algorithm"] == "ed25519"
    assert key["key_id"] == public_key_id(signing_key().public_key())
    assert key["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
