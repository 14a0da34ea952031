"""Issue 24: Quorum's attestations and `quorum verify`, against a live server, failing closed.

A signed scikit-learn model is registered, validated and promoted to @champion by two approvers;
the verify command (run as a separate process, with only the URL and a token) then passes and
writes the files. It fails on a tampered governed copy and on an attestation someone with
database access rewrote, and the attestations' subject is the producer's own OMS digest.
"""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from access.grants import Level
from artifacts.models import Attestation
from registry.models import RegisteredModel
from tests.artifacts.test_producer_signatures import sign, sklearn_model, trust
from tests.fixtures_mlflow import api_token_for
from tests.fixtures_workflow import grant_levels, signature_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def champion(local_artifact_store, cast, client_for, signing_key):
    """fraud v1 (signed by a trusted key) promoted to @champion by two approvers; returns the source folder."""
    private, public = signing_key
    assert trust(client_for, cast, public).status_code == 201
    owner = client_for(cast.owner)
    assert owner.post("/api/v1/models", {"name": "fraud"}, format="json").status_code == 201
    folder = sklearn_model(local_artifact_store / "runs/1/model")
    sign(folder, private)
    assert (
        owner.post("/api/v1/models/fraud/versions", {"source": str(folder)}, format="json").status_code == 201
    )
    model = RegisteredModel.objects.get(name="fraud")
    both = (Level.APPROVE_PRODUCTION, Level.APPROVE_STAGING)
    approvers = [grant_levels(cast.approver, model, *both), grant_levels(cast.second_approver, model, *both)]
    filed = owner.post(
        "/api/v1/models/fraud/requests", {"version": 1, "alias": "champion", "reason": "AUC"}, format="json"
    )
    assert filed.status_code == 201, filed.content
    for approver in approvers:
        answer = client_for(approver).post(
            f"/api/v1/requests/{filed.json()['id']}/approve",
            {"comment": "ok", "signature": signature_of(approver)},
            format="json",
        )
        assert answer.status_code == 200, answer.content
    assert client_for(cast.owner).get(f"/api/v1/requests/{filed.json()['id']}").json()["state"] == "applied"
    return folder


@pytest.fixture
def keys_file(client_for, cast, tmp_path) -> Path:
    """Quorum's public keys as its operators hand them out (saved from GET /api/v1/audit/keys)."""
    answer = client_for(cast.admin).get("/api/v1/audit/keys")
    assert answer.status_code == 200
    path = tmp_path / "quorum-keys.json"
    path.write_text(answer.content.decode())
    return path


def quorum_verify(live_server, token: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    return subprocess.run(
        [sys.executable, "-m", "artifacts.cli", "verify", *args, "--url", live_server.url, "--token", token],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_verify_passes_on_the_promoted_version_and_writes_its_files(
    champion, live_server, cast, tmp_path, keys_file
):
    out = tmp_path / "loaded"
    done = quorum_verify(
        live_server,
        api_token_for(cast.owner),
        "models:/fraud@champion",
        "--out",
        str(out),
        "--key",
        str(keys_file),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["version"] == 1 and report["files"] == 4
    assert sorted(report["approvers"]) == ["approver", "second_approver"]
    assert report["producer_signature"]["state"] == "verified"
    assert (out / "model.pkl").read_bytes() == (champion / "model.pkl").read_bytes()
    # Quorum names the model by the producer's own OMS digest.
    statement = json.loads((champion / "model.sig").read_text())
    producer = json.loads(base64.b64decode(statement["dsseEnvelope"]["payload"]))
    assert report["oms_digest"] == "sha256:" + producer["subject"][0]["digest"]["sha256"]
    kinds = sorted(Attestation.objects.values_list("kind", flat=True))
    assert kinds == ["promotion", "validation"]
    assert all(row.stored_location.endswith(".dsse.json") for row in Attestation.objects.all())


def test_verify_fails_on_a_tampered_governed_copy(
    champion, live_server, cast, local_artifact_store, tmp_path, keys_file
):
    governed = [p for p in (local_artifact_store / "governed").rglob("model.pkl")]
    assert governed, "the promotion made a governed copy"
    governed[0].write_bytes(b"swapped weights")
    out = tmp_path / "loaded"
    done = quorum_verify(
        live_server,
        api_token_for(cast.owner),
        "models:/fraud@champion",
        "--out",
        str(out),
        "--key",
        str(keys_file),
    )
    assert done.returncode == 1, done.stdout
    assert "FAILED" in done.stderr
    assert not out.exists()


def test_verify_fails_on_a_forged_attestation(champion, live_server, cast, keys_file):
    row = Attestation.objects.get(kind="validation")
    envelope = dict(row.envelope)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["resources"][0]["digest"]["sha256"] = "0" * 64
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    Attestation.objects.filter(pk=row.pk).update(envelope=envelope)  # someone with database access
    done = quorum_verify(
        live_server, api_token_for(cast.owner), "models:/fraud@champion", "--key", str(keys_file)
    )
    assert done.returncode == 1
    assert "no valid validation attestation" in done.stderr and "does not verify" in done.stderr


def test_verify_refuses_an_alias_no_promotion_attested(champion, live_server, cast, keys_file):
    Attestation.objects.filter(kind="promotion").delete()
    done = quorum_verify(
        live_server, api_token_for(cast.owner), "models:/fraud@champion", "--key", str(keys_file)
    )
    assert done.returncode == 1 and "no valid promotion attestation" in done.stderr


def test_deployments_are_recorded_and_a_wrong_digest_raises_the_drift_flag_and_webhook(
    champion, live_server, cast, keys_file, client_for, receiver, loopback_allowed
):
    from webhooks.models import WebhookEventRecord

    hook = client_for(cast.owner).post(
        "/api/v1/webhooks",
        {
            "name": "drift",
            "url": receiver.url,
            "events": ["model_version.deployment_drift"],
            "model": "fraud",
        },
        format="json",
    )
    assert hook.status_code == 201, hook.content
    token = api_token_for(cast.owner)
    done = quorum_verify(
        live_server,
        token,
        "models:/fraud@champion",
        "--key",
        str(keys_file),
        "--environment",
        "prod",
        "--endpoint",
        "scoring-api",
    )
    assert done.returncode == 0, done.stderr
    listed = client_for(cast.owner).get("/api/v1/deployments", {"name": "fraud"}).json()["results"]
    assert [(d["environment"], d["endpoint"], d["alias"], d["drift"]) for d in listed] == [
        ("prod", "scoring-api", "champion", False)
    ]
    assert not WebhookEventRecord.objects.filter(event="model_version.deployment_drift").exists()

    wrong = client_for(cast.owner).post(
        "/api/v1/deployments",
        {
            "name": "fraud",
            "alias": "champion",
            "environment": "prod",
            "endpoint": "canary",
            "digest": "sha256:" + "ab" * 32,
        },
        format="json",
    )
    assert wrong.status_code == 201 and wrong.json()["drift"] is True
    assert "attested" in wrong.json()["drift_reason"]
    drift = WebhookEventRecord.objects.get(event="model_version.deployment_drift")
    assert json.loads(drift.payload)["data"]["endpoint"] == "canary"
    assert client_for(cast.owner).get("/api/v1/deployments", {"drift": "true"}).json()["count"] == 1
    from audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="artifacts.deployed").count() == 2
    bad = client_for(cast.owner).post(
        "/api/v1/deployments",
        {"name": "fraud", "alias": "champion", "environment": "prod", "endpoint": "x", "digest": "md5:1"},
        format="json",
    )
    assert bad.status_code == 400
    hidden = client_for(cast.outsider).post(
        "/api/v1/deployments",
        {
            "name": "fraud",
            "version": 1,
            "environment": "prod",
            "endpoint": "x",
            "digest": "sha256:" + "ab" * 32,
        },
        format="json",
    )
    assert hidden.status_code == 404

    # What is deployed where, in the admin: the drifted deployment first, flagged; outsiders see none.
    from django.test import Client

    owner = type(cast.owner).objects.get(pk=cast.owner.pk)
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(owner)
    page = browser.get("/admin/artifacts/deploymentrecord/").content.decode()
    assert page.index("canary") < page.index("scoring-api")
    assert page.count('class="deployment-drift"') == 1
    outsider = type(cast.outsider).objects.get(pk=cast.outsider.pk)
    outsider.is_staff = True
    outsider.save(update_fields=["is_staff"])
    browser.force_login(outsider)
    assert "canary" not in browser.get("/admin/artifacts/deploymentrecord/").content.decode()
