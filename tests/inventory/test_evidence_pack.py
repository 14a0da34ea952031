"""The evidence pack of a promoted version (issue 25): one zip with every part an auditor asks for,
a chain proof the offline verifier accepts, a PDF that renders; READ to download it, audited."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from artifacts.models import ArtifactManifest, Attestation
from audit.models import Action, AuditCheckpoint, AuditEvent
from audit.services import checkpoint_create
from inventory.models import ModelCard
from registry import services as registry_services
from tests.conftest import make_user
from tests.fixtures_workflow import APPROVAL_MEANING, grant_levels, signing_of
from workflows import services as workflow_services
from workflows.models import RequestState

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PACK = "/api/v1/models/scoring/versions/2/evidence-pack"
CARD = "/api/v1/models/scoring/versions/2/card"
PARTS = {
    "README.txt",
    "index.json",
    "version.json",
    "model-card.json",
    "validations.json",
    "transition-requests.json",
    "audit-events.jsonl",
    "attestations.json",
    "artifact-manifest.json",
    "evidence-pack.pdf",
}
AUDITOR_PARTS = {"checkpoint.json", "chain-proof.jsonl", "audit-keys.json"}
USE = "Retail pre-screening (信用, Kreditprüfung) <b>not markup</b> & more"


@pytest.fixture
def promoted(governed, file_request, client_for):
    """scoring v2: tiered, validated by an independent validator, approved card, in Production by two approvers."""
    validator = make_user("validator")
    validator.user_permissions.add(
        Permission.objects.get(codename="add_validation", content_type__app_label="inventory")
    )
    validator = grant_levels(validator, governed.model)
    owner = client_for(governed.owner)
    assert (
        owner.patch("/api/v1/models/scoring/inventory", {"risk_tier": "high"}, format="json").status_code
        == 200
    )
    r = client_for(validator).post(
        "/api/v1/models/scoring/versions/2/validations",
        {"scope": "outcomes analysis", "outcome": "pass_with_conditions", "conditions": "monthly monitoring",
         "findings": [{"severity": "low", "description": "thin-file segment small"}]},
        format="json",
    )  # fmt: skip
    assert r.status_code == 201, r.content
    editor = client_for(governed.editor)
    assert editor.patch(CARD, {"intended_use": USE}, format="json").status_code == 200
    assert editor.post(CARD + "/submit").status_code == 200
    assert client_for(governed.approver).post(CARD + "/approve").status_code == 200
    request = file_request(2)
    for approver, comment in ((governed.approver, "backtest reviewed"), (governed.second_approver, "agreed")):
        workflow_services.transition_request_approve(
            actor=approver, request_id=request.pk, comment=comment, signing=signing_of(approver)
        )  # Production's policy asks for electronic signatures
    request.refresh_from_db()
    assert request.state == RequestState.APPLIED, request.state_reason
    return request


def auditor_for(governed):
    """READ on the model and the global audit.view_auditevent permission: sees the whole chain."""
    user = make_user("auditor")
    user.user_permissions.add(
        Permission.objects.get(codename="view_auditevent", content_type__app_label="audit")
    )
    return grant_levels(user, governed.model)


def download(client_for, user) -> zipfile.ZipFile:
    r = client_for(user).get(PACK)
    assert r.status_code == 200, getattr(r, "content", b"")[:500]
    assert r["Content-Type"] == "application/zip"
    assert 'filename="evidence-pack-scoring-v2.zip"' in r["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(b"".join(r.streaming_content)))


def test_pack_of_a_promoted_version_holds_every_part(promoted, governed, client_for):
    pack = download(client_for, auditor_for(governed))
    assert set(pack.namelist()) == PARTS | AUDITOR_PARTS
    index = json.loads(pack.read("index.json"))
    assert (index["model"], index["version"], index["generated_by"]) == ("scoring", 2, "auditor")
    for name, digest in index["files"].items():
        assert hashlib.sha256(pack.read(name)).hexdigest() == digest, name

    digest = ArtifactManifest.objects.get(version__model__name="scoring", version__version=2).digest
    card = json.loads(pack.read("model-card.json"))
    assert (card["state"], card["author"], card["approved_by"], card["approved_digest"]) == (
        "approved", "editor", "approver", digest,
    )  # fmt: skip
    [validation] = json.loads(pack.read("validations.json"))
    assert (validation["validator"], validation["outcome"], validation["risk_tier"]) == (
        "validator", "pass_with_conditions", "high",
    )  # fmt: skip
    assert validation["findings"][0]["severity"] == "low"
    [request] = json.loads(pack.read("transition-requests.json"))
    assert (request["id"], request["state"], request["target"], request["requester"]) == (
        promoted.pk, "applied", "Production", "editor",
    )  # fmt: skip
    assert [(a["approver"], a["comment"], a["artifact_digest"]) for a in request["approvals"]] == [
        ("approver", "backtest reviewed", digest),
        ("second_approver", "agreed", digest),
    ]
    for approval in request["approvals"]:
        [signature] = approval["signatures"]
        assert (signature["signer_username"], signature["meaning"]) == (
            approval["approver"],
            APPROVAL_MEANING,
        )
        assert signature["intact"] and signature["artifact_digest"] == digest and signature["record_hash"]
    assert len(request["signatures"]) == 2
    version = json.loads(pack.read("version.json"))
    assert (version["stage"], version["artifact_digest"], version["inventory"]["risk_tier"]) == (
        "Production", digest, "high",
    )  # fmt: skip
    manifest = json.loads(pack.read("artifact-manifest.json"))
    assert manifest["digest"] == digest and {e["path"] for e in manifest["entries"]} >= {"MLmodel"}
    attestations = json.loads(pack.read("attestations.json"))
    stored = Attestation.objects.filter(version__model__name="scoring", version__version=2)
    assert sorted(a["kind"] for a in attestations) == sorted(stored.values_list("kind", flat=True))
    assert {"validation", "promotion"} <= {a["kind"] for a in attestations}
    assert all(a["envelope"]["signatures"] for a in attestations)

    events = [json.loads(line) for line in pack.read("audit-events.jsonl").decode().splitlines()]
    actions = [e["action"] for e in events]
    for action in ("model_version.created", "request.approved", "request.applied", "model_card.changed"):
        assert action in actions, action
    assert {(e["model_name"], e["version"]) for e in events} == {("scoring", 2)}
    checkpoint = json.loads(pack.read("checkpoint.json"))
    assert checkpoint["seq"] >= events[-1]["seq"] and checkpoint["algorithm"] == "ed25519"
    proof = pack.read("chain-proof.jsonl").decode().splitlines()
    for event in events:  # every event of the version is in the proof, byte for byte
        assert json.dumps(event, ensure_ascii=False, separators=(",", ":")) in proof


def test_the_chain_proof_verifies_with_the_offline_verifier(promoted, governed, client_for, tmp_path):
    # Another model's events and a timer checkpoint fall between the version's events: the proof
    # spans them, and the checkpoint made for the pack covers the last of the version's.
    registry_services.registered_model_create(actor=governed.owner, name="other-model")
    checkpoint_create(actor="system")
    registry_services.model_version_tag_set(
        actor=governed.editor, name="scoring", version=2, key="reviewed", value="yes"
    )
    pack = download(client_for, auditor_for(governed))
    pack.extractall(tmp_path)
    proof = [json.loads(line) for line in (tmp_path / "chain-proof.jsonl").read_text().splitlines()]
    assert {r.get("model_name") for r in proof if "seq" in r and "record" not in r} >= {
        "scoring",
        "other-model",
    }
    assert [r["record"] for r in proof[:3]] == ["quorum-audit-export", "checkpoint", "checkpoint"]
    assert proof[-1]["action"] == "model_version.tag_set"  # the pack's checkpoint signed up to it
    # As an auditor runs it: its own process, no Django settings, the pack's files only.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
    verify = [sys.executable, "-m", "audit.offline_verify", str(tmp_path / "chain-proof.jsonl")]
    result = subprocess.run(
        [*verify, "--keys", str(tmp_path / "audit-keys.json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit export OK" in result.stdout

    # A changed event in the proof is caught: the proof proves something.
    records = [json.loads(line) for line in (tmp_path / "chain-proof.jsonl").read_text().splitlines()]
    next(r for r in records if r.get("action") == "request.approved")["actor_username"] = "someone-else"
    (tmp_path / "tampered.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    )
    result = subprocess.run(
        [sys.executable, "-m", "audit.offline_verify", str(tmp_path / "tampered.jsonl"),
         "--keys", str(tmp_path / "audit-keys.json")],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1 and "changed_row" in result.stdout, result.stdout


def test_the_pdf_renders_a_non_blank_first_page(promoted, governed, client_for, tmp_path):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("CI is set but pdftoppm is missing (apt-get install poppler-utils)")
        pytest.skip("pdftoppm is not installed (apt-get install poppler-utils)")
    from PIL import Image

    pack = download(client_for, governed.outsider)  # READ only: the PDF is in every pack
    pdf = pack.read("evidence-pack.pdf")
    assert pdf.startswith(b"%PDF-")
    (tmp_path / "pack.pdf").write_bytes(pdf)
    subprocess.run(
        [pdftoppm, "-png", "-r", "72", "-f", "1", "-l", "1", "-singlefile", str(tmp_path / "pack.pdf"),
         str(tmp_path / "page")],
        check=True, capture_output=True,
    )  # fmt: skip
    image = Image.open(tmp_path / "page.png").convert("L")
    width, height = image.size
    assert abs(width - 595.3) < 1 and abs(height - 841.9) < 1, image.size  # A4 (210 x 297 mm) at 72 dpi
    histogram = image.histogram()
    dark = sum(histogram[:128])
    assert dark > 2000, "page 1 is (nearly) blank"  # title, facts tables and text
    assert histogram[255] > image.size[0] * image.size[1] // 2  # mostly white paper, not a black page
    info = subprocess.run(["pdfinfo", str(tmp_path / "pack.pdf")], capture_output=True, text=True)
    assert "Evidence pack: scoring v2" in info.stdout
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "pack.pdf"), "-"], capture_output=True, text=True
    ).stdout
    # Typed text is text, never markup; approvals and the audit trail are in it.
    assert "<b>not markup</b> & more" in text and "Kreditprüfung" in text
    assert "backtest reviewed" in text and "request.applied" in text
    assert APPROVAL_MEANING in text  # the signature lines of the approvals
    assert "Quorum evidence pack: scoring v2" in text and "page 2" in text  # every page's footer


def test_a_reader_gets_the_pack_without_the_chain_proof_and_the_download_is_audited(
    promoted, governed, client_for
):
    pack = download(client_for, governed.outsider)
    assert set(pack.namelist()) == PARTS
    index = json.loads(pack.read("index.json"))
    assert any("chain proof" in note and "auditors" in note for note in index["notes"])
    assert [e["action"] for e in map(json.loads, pack.read("audit-events.jsonl").splitlines())]
    assert not AuditCheckpoint.objects.exists()  # a reader's download signs nothing
    [event] = AuditEvent.objects.filter(action=Action.EVIDENCE_PACK_DOWNLOADED)
    assert (event.actor_username, event.model_name, event.version) == ("outsider", "scoring", 2)
    assert event.after["chain_proof"] is False and "evidence-pack.pdf" in event.after["files"]
    assert len(event.after["sha256"]) == 64


def test_someone_who_cannot_read_the_model_gets_404_and_nothing_is_recorded(promoted, client_for, cast):
    stranger = make_user("stranger")
    for path in (
        PACK,
        "/api/v1/models/scoring/versions/99/evidence-pack",
        "/api/v1/models/nope/versions/1/evidence-pack",
    ):
        r = client_for(stranger).get(path)
        assert r.status_code == 404, (path, r.status_code)
    assert client_for(None).get(PACK).status_code in (401, 403)
    assert not AuditEvent.objects.filter(action=Action.EVIDENCE_PACK_DOWNLOADED).exists()
    assert client_for(stranger).get("/api/v1/models/scoring/versions/abc/evidence-pack").status_code == 400


def test_a_version_without_a_card_or_requests_still_has_a_pack(governed, client_for):
    r = client_for(governed.outsider).get("/api/v1/models/scoring/versions/1/evidence-pack")
    assert r.status_code == 200
    pack = zipfile.ZipFile(io.BytesIO(b"".join(r.streaming_content)))
    assert json.loads(pack.read("model-card.json")) is None
    assert json.loads(pack.read("transition-requests.json")) == []
    assert not ModelCard.objects.exists()
