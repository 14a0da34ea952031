"""The evidence pack of one version: what an auditor asks for, in one zip.

Reads only, but for one write the audit trail needs: when no checkpoint covers the version's
latest events yet, one is signed now for an auditor's pack (audit.services.checkpoint_create), so
the pack carries a signature over every event it holds.

Model card, validations, transition requests with their approvals, the version's audit events with
a chain proof and the signed checkpoint covering them, attestations, the artifact manifest, and a
PDF of all of it (inventory/pack_pdf.py). Every part comes from the selectors of its app, started
from what the downloader may READ; the chain proof also carries the events of other models that
fall between the version's (a hash chain proves a segment, not single events), so only auditors
(audit.view_auditevent) receive it and its checkpoint, as only they see checkpoints in the audit
API, and the pack says so when they are left out.
"""

import hashlib
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from artifacts import selectors as artifact_selectors
from artifacts import services as artifact_services
from audit import selectors as audit_selectors
from audit.chain import ED25519, canonical_timestamp
from audit.checkpoint_store import checkpoint_dict
from audit.export import chain_segment_lines, event_dicts
from audit.keys import CheckpointKeyUnavailable, public_keys
from audit.models import AuditCheckpoint
from audit.services import checkpoint_create, pending_seal
from inventory import selectors
from inventory.models import ModelCard
from inventory.services import card_described, inventory_described, validation_described
from registry.errors import NotFound
from registry.models import ModelVersion
from registry.selectors import model_version_get
from workflows import selectors as workflow_selectors
from workflows.services import signature_described

PACK_FORMAT = "quorum-evidence-pack/1"
PDF_NAME = "evidence-pack.pdf"


def signature_pack_described(signature: Any) -> dict[str, Any]:
    """A signature as the pack shows it: what it covers, its printable line, and whether its hash recomputes."""
    return signature_described(signature) | {"intact": signature.intact}


def approval_signatures(approval: Any) -> list[dict[str, Any]]:
    """The electronic signature of one approval (none when the policy did not ask for one)."""
    signature = getattr(approval, "signature", None)  # prefetched by the requests selector
    return [signature_pack_described(signature)] if signature is not None else []


def approval_described(approval: Any) -> dict[str, Any]:
    return {
        "approver": approval.approver.get_username(),
        "approved_at": approval.created_at,
        "comment": approval.comment,
        "artifact_digest": approval.artifact_digest or None,
        "expires_at": approval.expires_at,
        "signatures": approval_signatures(approval),
    }


def request_described(request: Any) -> dict[str, Any]:
    return {
        "id": request.pk,
        "target_kind": request.target_kind,
        "target": request.target_label,
        "from_stage": request.from_stage,
        "state": request.state,
        "state_reason": request.state_reason,
        "requester": request.requester.get_username() if request.requester_id else None,
        "reason": request.reason,
        "created_at": request.created_at,
        "decided_at": request.decided_at,
        "evidence": request.evidence,
        "approvals": [approval_described(a) for a in request.approvals.all()],
        # Every signature of the request, a signed rejection's too.
        "signatures": [signature_pack_described(s) for s in request.signatures.all()],
    }


def _card(row: ModelVersion) -> dict[str, Any] | None:
    card = ModelCard.objects.filter(version=row).select_related("author", "approved_by").first()
    if card is None:
        return None
    return {
        **card_described(card),
        "author": card.author.get_username(),
        "approved_at": card.approved_at,
        "updated_at": card.updated_at,
    }


def _manifest(row: ModelVersion) -> dict[str, Any] | None:
    manifest = artifact_selectors.version_manifest(row)
    if manifest is None:
        return None
    return {
        "state": manifest.state,
        "message": manifest.message,
        "source_location": manifest.source_location,
        "digest": manifest.digest,
        "object_count": manifest.object_count,
        "total_bytes": manifest.total_bytes,
        "flavors": manifest.flavors,
        "signature": manifest.signature,
        "producer_signature": manifest.producer_signature,
        "pickle_scan": manifest.pickle_scan,
        "validated_at": manifest.validated_at,
        "governed_location": manifest.governed_location,
        "governed_at": manifest.governed_at,
        "tampered_at": manifest.tampered_at,
        "entries": [
            {
                "path": e.path,
                "size": e.size,
                "sha256": e.sha256,
                "governed_verified_at": e.governed_verified_at,
            }
            for e in artifact_selectors.manifest_entries(manifest)
        ],
    }


def _attestation(row: Any) -> dict[str, Any]:
    return {
        "id": row.pk,
        "kind": row.kind,
        "request_id": row.request_id,
        "subject_digest": row.subject_digest,
        "key_id": row.key_id,
        "envelope": row.envelope,
        "stored_location": row.stored_location,
        "created_at": row.created_at,
    }


def covering_checkpoint(last_seq: int, actor: Any) -> AuditCheckpoint:
    """The first Ed25519 checkpoint that signed the chain at or past `last_seq`; signed now if none has."""
    found = AuditCheckpoint.objects.filter(seq__gte=last_seq, algorithm=ED25519).order_by("seq", "pk").first()
    return found or checkpoint_create(actor=actor)


@dataclass
class EvidencePack:
    """The pack's parts as data, before they are written out (the PDF is drawn from the same)."""

    row: ModelVersion
    model: str
    version: int
    generated_at: str
    generated_by: str
    artifact_digest: str | None
    version_facts: dict[str, Any]
    inventory: dict[str, Any]
    card: dict[str, Any] | None
    validations: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    attestations: list[dict[str, Any]]
    manifest: dict[str, Any] | None
    events: list[dict[str, Any]]
    checkpoint: dict[str, Any] | None
    # (first seq, covering checkpoint) of the chain proof, streamed into the zip when written
    chain_proof: tuple[int, AuditCheckpoint] | None
    keys: list[dict[str, Any]] | None
    notes: list[str] = field(default_factory=list)


def evidence_pack_collect(user: Any, name: str, version: int) -> EvidencePack:
    """Everything the pack holds, read for `user` (READ on the model; hidden == missing)."""
    row = model_version_get(user, name, version)
    pending_seal()  # inside a caller's transaction, its own events are read with their seq
    events = list(
        event_dicts(audit_selectors.events_for_model(row.model.name, row.version).filter(seq__isnull=False))
    )
    events.sort(key=lambda e: e["seq"])
    notes = []
    checkpoint = proof = keys = None
    auditor = audit_selectors.user_is_auditor(user)
    if not auditor:
        # As the audit API: checkpoints, keys and other models' events are for auditors.
        notes.append(
            "The covering checkpoint and the chain proof are left out: the proof carries the events of "
            "other models recorded between this version's, so both go to auditors "
            "(audit.view_auditevent) only."
        )
    elif events:
        try:
            cover = covering_checkpoint(events[-1]["seq"], user)
        except CheckpointKeyUnavailable as exc:
            notes.append(
                f"No checkpoint covers this version's latest events, and none could be signed: {exc}"
            )
        else:
            checkpoint = checkpoint_dict(cover)
            proof = (events[0]["seq"], cover)
            keys = [key.as_dict() for key in public_keys()]
    try:
        inventory = inventory_described(selectors.inventory_get(user, name))
    except NotFound:
        inventory = {}
    requests = (
        workflow_selectors.transition_requests_visible_to(user).filter(version=row).order_by("created_at")
    )
    return EvidencePack(
        row=row,
        model=row.model.name,
        version=row.version,
        generated_at=canonical_timestamp(timezone.now()),
        generated_by=user.get_username(),
        artifact_digest=artifact_services.version_evidence(row).get("artifact_digest"),
        version_facts={
            "stage": row.stage,
            "status": row.status,
            "source": row.source,
            "run_id": row.run_id,
            "creator": row.creator.get_username() if row.creator_id else None,
            "created_at": row.created_at,
            "description": row.description,
        },
        inventory=inventory,
        card=_card(row),
        validations=[validation_described(v) for v in selectors.validations_of(user, name, version)],
        requests=[request_described(r) for r in requests],
        attestations=[_attestation(a) for a in artifact_selectors.version_attestations(user, name, version)],
        manifest=_manifest(row),
        events=events,
        checkpoint=checkpoint,
        chain_proof=proof,
        keys=keys,
        notes=notes,
    )


def _json(value: Any) -> bytes:
    return (
        json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    ).encode()


README = """Evidence pack of {model} version {version} (Quorum, {format}).

index.json             what is in the pack, with each file's SHA-256
version.json           the version, its inventory record and artifact digest
model-card.json        the model card (state, approval bound to the artifact digest)
validations.json       independent validations and their findings
transition-requests.json  transition requests with their approvals (and their signatures)
audit-events.jsonl     the version's audit events, every chained field as hashed, plus its hash
checkpoint.json        (auditors) the signed checkpoint covering those events
chain-proof.jsonl      (auditors) the chain from the first of them to that checkpoint
audit-keys.json        (auditors) the checkpoint public keys Quorum showed when the pack was made
attestations.json      Quorum's signed in-toto statements about the version
artifact-manifest.json the validated files: path, size, SHA-256
evidence-pack.pdf      all of the above for people

Verify the chain proof on your own machine, with public keys obtained from Quorum's operators
through a channel you trust (audit-keys.json is the copy Quorum served):

    python -m audit.offline_verify chain-proof.jsonl --keys KEYS.json

Every line of audit-events.jsonl appears, unchanged, in chain-proof.jsonl.
"""


def evidence_pack_write(pack: EvidencePack, pdf: bytes) -> tempfile.SpooledTemporaryFile:
    """The pack as a zip file (spooled to disk past a few megabytes), positioned at its start."""
    files: dict[str, bytes] = {
        "README.txt": README.format(model=pack.model, version=pack.version, format=PACK_FORMAT).encode(),
        "version.json": _json(
            {
                "model": pack.model,
                "version": pack.version,
                "artifact_digest": pack.artifact_digest,
                **pack.version_facts,
                "inventory": pack.inventory,
            }
        ),
        "model-card.json": _json(pack.card),
        "validations.json": _json(pack.validations),
        "transition-requests.json": _json(pack.requests),
        "audit-events.jsonl": "".join(
            json.dumps(e, ensure_ascii=False, separators=(",", ":"), default=str) + "\n" for e in pack.events
        ).encode(),
        "attestations.json": _json(pack.attestations),
        "artifact-manifest.json": _json(pack.manifest),
        PDF_NAME: pdf,
    }
    if pack.chain_proof is not None:
        files["checkpoint.json"] = _json(pack.checkpoint)
        files["audit-keys.json"] = _json({"keys": pack.keys})
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        if pack.chain_proof is not None:
            # Streamed: the segment holds every event between the version's first and the checkpoint.
            digest = hashlib.sha256()
            with archive.open("chain-proof.jsonl", "w", force_zip64=True) as entry:
                for text in chain_segment_lines(*pack.chain_proof):
                    chunk = text.encode()
                    digest.update(chunk)
                    entry.write(chunk)
            digests["chain-proof.jsonl"] = digest.hexdigest()
        index = {
            "format": PACK_FORMAT,
            "model": pack.model,
            "version": pack.version,
            "generated_at": pack.generated_at,
            "generated_by": pack.generated_by,
            "artifact_digest": pack.artifact_digest,
            "notes": pack.notes,
            "files": dict(sorted(digests.items())),
        }
        archive.writestr("index.json", _json(index))
    out.seek(0)
    return out


def pack_digest(archive: Any) -> str:
    """SHA-256 of the zip the downloader receives (recorded in the download's audit event)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: archive.read(io.DEFAULT_BUFFER_SIZE), b""):
        digest.update(chunk)
    archive.seek(0)
    return digest.hexdigest()
