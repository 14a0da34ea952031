"""Evidence approvers decide on: collected from the tracking server and the validated artifacts.

A snapshot is taken when a request is filed, again when the version's evidence changes (validation
finished) and when the request is decided; each is an `EvidenceSnapshot` row that never changes, so
a later edit of the run does not rewrite what approvers were shown. What counts as current is one
rule (`rules.evidence_staleness`); this module only reads and stores.

Collection calls out (tracking server, artifact store), so it runs outside any transaction that
holds locks: after the commit that filed or refreshed the request.
"""

from __future__ import annotations

import hashlib
import json
import logging

import yaml
from django.db import transaction
from django.utils import timezone

from artifacts import services as artifact_services
from artifacts.stores import StoreError
from registry import tracking
from registry.errors import RegistryError
from registry.models import ModelVersion
from workflows import rules, selectors
from workflows.models import OPEN_STATES, EvidenceSnapshot, TransitionRequest

logger = logging.getLogger(__name__)

# A run's tags that say where it came from; the rest (mlflow.log-model.history, …) is noise here.
RUN_TAGS_SHOWN_MAX = 50
DATASETS_SHOWN_MAX = 20


def pipeline_facts(version: ModelVersion) -> dict:
    """The artifact pipeline's facts about a version (digest, validation), as the request stores them."""
    return {"pipeline": True, **artifact_services.version_evidence(version)}


def _unavailable(why: str) -> dict:
    return {"state": "unavailable", "reason": why, "at": timezone.now().isoformat()}


def _run_evidence(version: ModelVersion) -> dict:
    if not version.run_id:
        return {"state": "none", "reason": "The version names no run."}
    if not tracking.tracking_uri():
        return _unavailable("No tracking server is configured (QUORUM_MLFLOW_TRACKING_URI).")
    try:
        run = tracking.run_get(version.run_id)
    except RegistryError as exc:
        return _unavailable(exc.message)
    info, data, inputs = run.get("info") or {}, run.get("data") or {}, run.get("inputs") or {}
    experiment_id = str(info.get("experiment_id", ""))
    tags = {t.get("key"): t.get("value") for t in data.get("tags") or [] if isinstance(t, dict)}
    datasets = []
    for entry in (inputs.get("dataset_inputs") or [])[:DATASETS_SHOWN_MAX]:
        dataset = entry.get("dataset") or {}
        context = {t.get("key"): t.get("value") for t in entry.get("tags") or []}.get("mlflow.data.context")
        datasets.append(
            {
                "name": dataset.get("name"),
                "digest": dataset.get("digest"),
                "source_type": dataset.get("source_type"),
                "context": context,
            }
        )
    return {
        "state": "ok",
        "run_id": version.run_id,
        "run_name": info.get("run_name") or tags.get("mlflow.runName") or "",
        "experiment_id": experiment_id,
        "status": info.get("status"),
        "url": tracking.run_ui_url(experiment_id, version.run_id),
        "params": {p.get("key"): p.get("value") for p in data.get("params") or [] if isinstance(p, dict)},
        # runs/get reports each metric's latest value: the run's final metrics.
        "metrics": {m.get("key"): m.get("value") for m in data.get("metrics") or [] if isinstance(m, dict)},
        "tags": dict(sorted(tags.items())[:RUN_TAGS_SHOWN_MAX]),
        "datasets": datasets,
        "taken_at": timezone.now().isoformat(),
    }


def _model_evidence(version: ModelVersion, facts: dict) -> dict:
    if not facts.get("validated"):
        return {"state": "none", "reason": "The artifacts are not validated; their files are not read."}
    try:
        files = artifact_services.version_model_files(version)
    except (RegistryError, StoreError) as exc:
        return _unavailable(getattr(exc, "message", None) or str(exc))
    try:
        mlmodel = yaml.safe_load(files.get("MLmodel", "")) or {}
    except yaml.YAMLError:
        mlmodel = {}
    flavors = mlmodel.get("flavors") if isinstance(mlmodel.get("flavors"), dict) else {}
    flavor_versions = {
        name: {k: v for k, v in (conf or {}).items() if k.endswith("_version") or k == "loader_module"}
        for name, conf in sorted(flavors.items())
        if isinstance(conf, dict) or conf is None
    }
    requirements = [
        line.strip()
        for line in files.get("requirements.txt", "").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    return {
        "state": "ok",
        "flavors": flavor_versions,
        "signature": mlmodel.get("signature"),
        "mlflow_version": mlmodel.get("mlflow_version"),
        "size_bytes": mlmodel.get("model_size_bytes") or facts.get("total_bytes"),
        "artifact_bytes": facts.get("total_bytes"),
        "requirements": requirements,
        "conda": files.get("conda.yaml"),
        "python_env": files.get("python_env.yaml"),
    }


def version_evidence_collect(version: ModelVersion) -> dict:
    """Everything an approver is shown about one version, read now."""
    facts = pipeline_facts(version)
    return {
        "model_name": version.model.name,
        "version": version.version,
        "pipeline": facts,
        "run": _run_evidence(version),
        "model": _model_evidence(version, facts),
    }


def content_digest(candidate: dict, holder: dict | None) -> str:
    canonical = json.dumps({"candidate": candidate, "holder": holder}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def snapshot_take(request_id: int, reason: str) -> EvidenceSnapshot | None:
    """Take and store a snapshot for a request (outside any lock); None when the request is gone.

    The holder is the version the target holds now, or for a decided request the one it replaced.
    """
    request = (
        TransitionRequest.objects.select_related("model", "version", "replaced_version")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        return None
    holder_version = request.replaced_version if request.decided_at else selectors.version_holding(request)
    candidate = version_evidence_collect(request.version)
    holder = version_evidence_collect(holder_version) if holder_version is not None else None
    return EvidenceSnapshot.objects.create(
        request=request,
        reason=reason,
        candidate=candidate,
        holder_version=holder_version,
        holder=holder,
        content_digest=content_digest(candidate, holder),
    )


def snapshot_take_on_commit(request_id: int, reason: str) -> None:
    """Take the snapshot once the caller's transaction commits; a failure leaves it untaken, never wrong."""

    def take() -> None:
        try:
            snapshot_take(request_id, reason)
        except Exception:  # the request stands; the page says its evidence was not taken
            logger.exception("Could not take the evidence snapshot of request %s (%s)", request_id, reason)

    transaction.on_commit(take)


def open_requests_snapshot_on_commit(version: ModelVersion, reason: str) -> None:
    for request_id in TransitionRequest.objects.filter(version=version, state__in=OPEN_STATES).values_list(
        "pk", flat=True
    ):
        snapshot_take_on_commit(request_id, reason)


def snapshot_latest(request: TransitionRequest) -> EvidenceSnapshot | None:
    return request.snapshots.order_by("-taken_at", "-pk").first()


def request_evidence_view(request: TransitionRequest) -> dict:
    """The request's evidence as pages and API answers show it: the latest snapshot, whether it is
    current, and the comparison with the holder."""
    snapshot = snapshot_latest(request)
    live = pipeline_facts(request.version)
    if snapshot is None:
        return {
            "state": "not_taken",
            "stale": True,
            "stale_reason": rules.evidence_staleness(None, live),
            "live": live,
        }
    stale_reason = rules.evidence_staleness(snapshot.candidate.get("pipeline"), live)
    unavailable = [
        f"{part} of v{side['version']}: {side[part].get('reason')}"
        for side in (snapshot.candidate, snapshot.holder or {})
        if side
        for part in ("run", "model")
        if (side.get(part) or {}).get("state") == "unavailable"
    ]
    return {
        "state": "unavailable" if unavailable else "ok",
        "unavailable": unavailable,
        "stale": stale_reason is not None,
        "stale_reason": stale_reason,
        "taken_at": snapshot.taken_at.isoformat(),
        "reason": snapshot.reason,
        "content_digest": snapshot.content_digest,
        "candidate": snapshot.candidate,
        "holder": snapshot.holder,
        "holder_version": snapshot.holder.get("version") if snapshot.holder else None,
        "holder_is": "replaced" if request.decided_at else "current",
        "comparison": rules.evidence_comparison(snapshot.candidate, snapshot.holder),
        "live": live,
    }
