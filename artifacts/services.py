"""Every write of the artifact pipeline: queueing jobs, running them, recording their outcome.

Reliability contract:
- Work is asked for by writing an ArtifactJob and an OutboxMessage in the caller's transaction;
  the message is published after commit, and `outbox_redispatch` (Celery beat) publishes again
  whatever was not picked up, so a broker outage delays work but never loses it.
- A worker claims a job with compare-and-set on its lease and heartbeats while it runs; a job
  whose worker died (lease expired) is claimed by the next delivery. Two deliveries of the same
  task never run a job at once, and a finished job is never run again.
- A copy skips objects whose governed copy was already verified, adopts objects an earlier
  attempt wrote (after reading them back), and records the governed location only when every
  object matched the manifest. Only then is a waiting transition request applied.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

import audit
import events
from access.grants import Level, grant_rows, user_can
from accounts.models import Team
from artifacts import attestations, integrity, rules
from artifacts.events import DeploymentReported, GovernedCopyFinished, ValidationFinished
from artifacts.models import (
    ArtifactDownload,
    ArtifactJob,
    ArtifactManifest,
    Attestation,
    AttestationKind,
    DeploymentRecord,
    DownloadOutcome,
    DownloadWindow,
    EvidenceState,
    JobKind,
    JobStatus,
    ManifestEntry,
    OutboxMessage,
    ServedBytesMismatch,
    SourcePrefix,
    TrustedSigner,
)
from artifacts.stores import (
    ArtifactStore,
    ObjectExists,
    ObjectLock,
    ObjectMissing,
    SourceUnsupported,
    StorageUnavailable,
    StoreError,
    governed_store,
    governed_store_put,
    relpath_clean,
    sha256_stream,
    store_for_uri,
)
from audit.models import Action
from registry import ports, tracking
from registry.errors import Conflict, InvalidParameter, NotFound, PermissionDenied
from registry.models import ModelVersion, RegisteredModel, VersionStatus
from registry.ports import Companion
from registry.selectors import alias_target_get, model_version_get, registered_models_visible_to
from registry.services import model_version_for_update, registered_model_for_update
from registry.sources import (
    is_local_source,
    is_registry_copy_source,
    lineage_refusal,
    local_source_path,
    location_within,
    locations_overlap,
    source_validate,
)

logger = logging.getLogger(__name__)

VALIDATE_TASK = "registry.artifacts.tasks.artifacts_validate"
COPY_TASK = "registry.artifacts.tasks.artifacts_copy"
TASK_FOR_KIND = {JobKind.VALIDATE: VALIDATE_TASK, JobKind.COPY: COPY_TASK}
MLMODEL_MAX_BYTES = 16 * 1024 * 1024
# How often a running job writes its progress and heartbeat, at most.
PROGRESS_INTERVAL_SECONDS = 1.0


class LeaseLost(Exception):
    """Another worker took the job over (our lease expired); stop without writing an outcome."""


# --- Queueing ------------------------------------------------------------------------------


def _job_queue(*, kind: JobKind, version: ModelVersion, actor, request_id: int | None = None) -> ArtifactJob:
    """Write a job and its outbox message in the current transaction; publish after commit."""
    job, message = job_rows_new(kind=kind, version=version, actor=actor, request_id=request_id)
    job.save(force_insert=True)
    message.job = job
    message.save(force_insert=True)
    outbox_publish_on_commit(message)
    return job


def job_rows_new(
    *, kind: JobKind, version: ModelVersion, actor, request_id: int | None = None
) -> tuple[ArtifactJob, OutboxMessage]:
    """A job and its outbox message, not yet saved: the caller writes both in its transaction."""
    job = ArtifactJob(
        kind=kind,
        version=version,
        request_id=request_id,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    # Recorded as published by its on-commit publish already, which spares that publish a
    # transaction of its own after every commit; a publish that fails resets both fields (below).
    # The sweep treats it the same either way: due one period after created_at == dispatched_at.
    message = OutboxMessage(
        task_name=TASK_FOR_KIND[kind], job=job, dispatched_at=timezone.now(), dispatch_attempts=1
    )
    return job, message


def outbox_publish_on_commit(message: OutboxMessage) -> None:
    """Publish a message written in the current transaction once that transaction commits."""
    transaction.on_commit(lambda: outbox_dispatch(message.pk, committed=message), robust=True)


def validation_rows_new(
    *, version: ModelVersion, actor
) -> tuple[ArtifactManifest, ArtifactJob, OutboxMessage]:
    """For a version created in this transaction: its PENDING manifest, job and message, unsaved.

    model_version_create writes them together with the version; publish the message with
    `outbox_publish_on_commit` once written.
    """
    manifest = ArtifactManifest(
        version=version, state=EvidenceState.PENDING, message="", source_location=version.source
    )
    job, message = job_rows_new(kind=JobKind.VALIDATE, version=version, actor=actor)
    return manifest, job, message


class ValidationOnRegistration:
    """The registry's registration port: a version commits with its manifest, validation job and message.

    Before any row is written, the version's source must be one its model may register from
    (`source_admit`): the version's own run, or a prefix allow-listed for the model or its team.
    """

    def companions(self, version: ModelVersion, actor) -> list[Companion]:
        source_admit(version=version, actor=actor)
        manifest, job, message = validation_rows_new(version=version, actor=actor)
        return [Companion(manifest, "version"), Companion(job, "version"), Companion(message, "job", 1)]

    def written(self, companions: list[Companion]) -> None:
        outbox_publish_on_commit(companions[2].row)


def _task_by_name(name: str):
    # Importing the tasks module registers them with the app; apply_async on the task object
    # (unlike send_task) also runs in-process when task_always_eager is on.
    from artifacts import tasks

    return {VALIDATE_TASK: tasks.artifacts_validate, COPY_TASK: tasks.artifacts_copy}[name]


def outbox_dispatch(message_id: int, *, committed: OutboxMessage | None = None) -> bool:
    """Publish one outbox message now. Never raises: a failed publish is left for the sweep.

    `committed`: the message as its own transaction just wrote it, already counted as published
    (the on-commit publish of `_job_queue`): no re-read, and nothing to write unless it fails. A
    duplicate publish from a racing sweep is harmless (tasks claim the job before working).
    """
    message = committed or OutboxMessage.objects.filter(pk=message_id, done_at__isnull=True).first()
    if message is None:
        return False
    try:
        # retry=False: with the broker down this fails within the connection timeout instead
        # of blocking the request that committed the work; the outbox keeps it safe.
        # argsrepr/kwargsrepr: what Celery would put in the headers anyway, without its safe-repr
        # pass (a seventh of a publish's CPU, on every create).
        args = [message.job_id]
        _task_by_name(message.task_name).apply_async(
            args=args, retry=False, argsrepr=repr(args), kwargsrepr="{}"
        )
    except Exception as exc:  # any publish failure (or an eager run's crash) is the sweep's to retry
        logger.warning("publishing %s failed; the outbox sweep will retry: %s", message, exc)
        if committed is not None:
            OutboxMessage.objects.filter(pk=message.pk).update(dispatched_at=None, last_error=str(exc)[:2000])
        else:
            OutboxMessage.objects.filter(pk=message.pk).update(
                dispatch_attempts=F("dispatch_attempts") + 1, last_error=str(exc)[:2000]
            )
        return False
    if committed is not None:
        return True
    OutboxMessage.objects.filter(pk=message.pk).update(
        dispatched_at=timezone.now(), dispatch_attempts=F("dispatch_attempts") + 1, last_error=""
    )
    return True


def outbox_redispatch(*, now=None) -> int:
    """Publish again every unfinished outbox message no live worker holds (the beat task)."""
    now = now or timezone.now()
    lease = settings.QUORUM_ARTIFACT_JOB_LEASE_SECONDS
    published = 0
    pending = OutboxMessage.objects.filter(done_at__isnull=True).select_related("job").order_by("pk")[:500]
    for message in pending:
        job = message.job
        if job.is_finished:
            OutboxMessage.objects.filter(pk=message.pk).update(done_at=now)
            continue
        live = job.status == JobStatus.RUNNING and not rules.lease_expired(job.heartbeat_at, now, lease)
        if rules.outbox_due(
            dispatched_at=message.dispatched_at,
            created_at=message.created_at,
            job_running_with_live_lease=live,
            now=now,
            redispatch_after_seconds=settings.QUORUM_OUTBOX_REDISPATCH_SECONDS,
        ):
            published += int(outbox_dispatch(message.pk))
    return published


# --- Claiming and progress ---------------------------------------------------------------


def job_claim(job_id: int) -> tuple[ArtifactJob, str] | None:
    """Take the job's lease (compare-and-set); None if it is finished or another worker holds it."""
    now = timezone.now()
    token = uuid.uuid4().hex
    stale = now - timezone.timedelta(seconds=settings.QUORUM_ARTIFACT_JOB_LEASE_SECONDS)
    claimed = ArtifactJob.objects.filter(
        Q(status=JobStatus.QUEUED)
        | Q(status=JobStatus.RUNNING, heartbeat_at__lt=stale)
        | Q(status=JobStatus.RUNNING, heartbeat_at__isnull=True),
        pk=job_id,
    ).update(
        status=JobStatus.RUNNING,
        lease_token=token,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        started_at=now,
        error="",
    )
    if not claimed:
        return None
    return ArtifactJob.objects.select_related("version__model").get(pk=job_id), token


def job_release(job: ArtifactJob, token: str, why: str) -> None:
    """Give the lease back after a transient error so the retry (or the sweep) can claim it."""
    ArtifactJob.objects.filter(pk=job.pk, lease_token=token).update(
        status=JobStatus.QUEUED, lease_token="", heartbeat_at=None, error=why[:4000]
    )


@dataclass
class Progress:
    job: ArtifactJob | None
    token: str = ""
    objects_done: int = 0
    bytes_done: int = 0
    last_saved: float = 0.0
    # Manifest entries whose governed copy was verified since the last save. Written in batches:
    # losing a batch to a crash only means those objects are read back again on resume.
    verified_entry_ids: list[int] = field(default_factory=list)

    def save(self, *, force: bool = False) -> None:
        """Write progress and heartbeat; raises LeaseLost if another worker took the job over."""
        if self.job is None:
            return  # an inspection outside any job (bench, management command)
        if not force and time.monotonic() - self.last_saved < PROGRESS_INTERVAL_SECONDS:
            return
        if self.verified_entry_ids:
            ManifestEntry.objects.filter(pk__in=self.verified_entry_ids).update(
                governed_verified_at=timezone.now()
            )
            self.verified_entry_ids = []
        updated = ArtifactJob.objects.filter(pk=self.job.pk, lease_token=self.token).update(
            objects_done=self.objects_done, bytes_done=self.bytes_done, heartbeat_at=timezone.now()
        )
        if not updated:
            raise LeaseLost(f"artifact job {self.job.pk} was taken over by another worker")
        self.last_saved = time.monotonic()


def _parallel(items: list, work, progress: Progress, on_done) -> None:
    """Run `work(item)` on a thread pool; the calling thread records results and heartbeats.

    Only the calling thread touches the database, so worker threads need no connections.
    The first failure cancels what has not started and is raised once running work finished.
    """
    if not items:
        return
    with ThreadPoolExecutor(max_workers=max(1, settings.QUORUM_ARTIFACT_COPY_CONCURRENCY)) as pool:
        pending: dict[Future, object] = {pool.submit(work, item): item for item in items}
        try:
            while pending:
                finished, _ = wait(pending, timeout=PROGRESS_INTERVAL_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    item = pending.pop(future)
                    on_done(item, future.result())
                progress.save()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _job_finish(job: ArtifactJob, token: str, *, status: JobStatus, error: str = "", **fields) -> bool:
    """Record the outcome if we still hold the lease; the job's outbox messages are done."""
    now = timezone.now()
    updated = ArtifactJob.objects.filter(pk=job.pk, lease_token=token).update(
        status=status, error=error[:4000], finished_at=now, lease_token="", heartbeat_at=now, **fields
    )
    if updated:
        OutboxMessage.objects.filter(job_id=job.pk, done_at__isnull=True).update(done_at=now)
    return bool(updated)


def _job_display(job: ArtifactJob) -> str:
    return f"{job.version.model.name} v{job.version.version}"


# --- Validation ------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationResult:
    entries: list[tuple[str, int, str]]
    digest: str
    total_bytes: int
    summary: rules.MlmodelSummary


def artifacts_inspect(source: ArtifactStore, progress: Progress | None = None) -> ValidationResult:
    """List, size-check and hash every object under `source`, and parse its MLmodel.

    Raises rules.InvalidArtifacts for content problems and StoreError for storage ones.
    """
    listing = list(source.list())
    total_bytes = sum(size for _, size in listing)
    rules.manifest_paths_checked(path for path, _ in listing)
    rules.size_within_limit(total_bytes, settings.QUORUM_MAX_VERSION_BYTES)
    sizes = dict(listing)
    if sizes[rules.MLMODEL_PATH] > MLMODEL_MAX_BYTES:
        raise rules.InvalidArtifacts(
            f"MLmodel is {sizes[rules.MLMODEL_PATH]:,} bytes; that is not an MLmodel."
        )
    with contextlib.closing(source.open(rules.MLMODEL_PATH)) as stream:
        summary = rules.mlmodel_parse(stream.read(MLMODEL_MAX_BYTES + 1))

    def hash_one(item: tuple[str, int]) -> tuple[str, int]:
        path, _ = item
        with contextlib.closing(source.open(path)) as stream:
            return sha256_stream(stream)

    digests: dict[str, tuple[str, int]] = {}
    progress = progress or Progress(job=None)

    def record(item: tuple[str, int], result: tuple[str, int]) -> None:
        digests[item[0]] = result
        progress.objects_done += 1
        progress.bytes_done += result[1]

    _parallel(listing, hash_one, progress, record)
    entries = []
    for path, listed_size in listing:
        sha256, read_size = digests[path]
        if read_size != listed_size:
            raise StorageUnavailable(
                f"'{path}' changed while it was read ({listed_size} bytes listed, {read_size} read)."
            )
        entries.append((path, read_size, sha256))
    return ValidationResult(
        entries=entries, digest=rules.version_digest(entries), total_bytes=total_bytes, summary=summary
    )


def _validation_run(job: ArtifactJob, token: str) -> None:
    version = job.version
    progress = Progress(job=job, token=token)
    try:
        source = store_for_uri(version.storage_location or version.source)
        result = artifacts_inspect(source, progress)
    except SourceUnsupported as exc:
        _validation_record(job, token, state=EvidenceState.UNVALIDATED, message=str(exc))
        return
    except rules.InvalidArtifacts as exc:
        _validation_record(job, token, state=EvidenceState.FAILED, message=str(exc))
        return
    except StorageUnavailable:
        raise
    except StoreError as exc:
        _validation_record(job, token, state=EvidenceState.FAILED, message=str(exc))
        return
    integrity = integrity_inspect(source, result)
    progress.save(force=True)
    if integrity.producer_signature.get("state") == "mismatch":
        # A trusted signer signed other bytes than these: the files were changed after signing.
        message = (
            "The producer's model signature does not match the files: "
            + integrity.producer_signature.get("reason", "")
        )
        _validation_record(
            job, token, state=EvidenceState.FAILED, message=message[:4000], integrity=integrity
        )
        return
    _validation_record(
        job,
        token,
        state=EvidenceState.VALIDATED,
        result=result,
        location=source.uri_for(),
        integrity=integrity,
    )


@dataclass(frozen=True)
class IntegrityFindings:
    producer_signature: dict
    pickle_scan: dict


def _trusted_keys() -> list[integrity.TrustedKey]:
    return [
        integrity.TrustedKey(
            name=row.name,
            fingerprint=row.fingerprint,
            pem=row.ca_certificate_pem if row.kind == "certificate" else row.public_key_pem,
            kind=row.kind,
        )
        for row in TrustedSigner.objects.filter(retired_at__isnull=True)
    ]


def _pickle_candidate(source: ArtifactStore, path: str) -> bool:
    if not path.lower().endswith(integrity.PICKLE_SUFFIXES):
        return False
    with contextlib.closing(source.open(path)) as stream:
        return integrity.pickle_candidate(path, stream.read(8))


def integrity_inspect(source: ArtifactStore, result: ValidationResult) -> IntegrityFindings:
    """Verify the producer's signature and scan pickles, over a re-hashed private copy (issue 24)."""
    paths = [path for path, _, _ in result.entries]
    signed = integrity.SIGNATURE_PATH in paths
    pickles = [entry for entry in result.entries if _pickle_candidate(source, entry[0])]
    if not signed and not pickles:
        return IntegrityFindings({"state": "absent"}, dict(integrity.NOTHING_SCANNED))
    with integrity.private_copy(source, result.entries if signed else pickles) as folder:
        manifest = {path: sha256 for path, _, sha256 in result.entries}
        signature = integrity.producer_signature(folder, manifest, _trusted_keys())
        scan = integrity.pickle_scan(folder, [entry[0] for entry in pickles])
    return IntegrityFindings(signature, scan)


@transaction.atomic
def _validation_record(
    job: ArtifactJob,
    token: str,
    *,
    state: EvidenceState,
    message: str = "",
    result: ValidationResult | None = None,
    location: str = "",
    integrity: IntegrityFindings | None = None,
) -> None:
    """Write the manifest, the version's status and the audit event, in one transaction."""
    version = (
        ModelVersion.objects.select_for_update().select_related("model").filter(pk=job.version_id).first()
    )
    if version is None:
        return  # deleted while we read it; its jobs went with it
    manifest, _ = ArtifactManifest.objects.select_for_update().get_or_create(version=version)
    finished = _job_finish(
        job,
        token,
        status=JobStatus.SUCCEEDED if state != EvidenceState.FAILED else JobStatus.FAILED,
        error=message if state == EvidenceState.FAILED else "",
        objects_total=len(result.entries) if result else 0,
        objects_done=len(result.entries) if result else 0,
        bytes_total=result.total_bytes if result else 0,
        bytes_done=result.total_bytes if result else 0,
    )
    if not finished:
        raise LeaseLost(f"artifact job {job.pk} was taken over by another worker")
    manifest.entries.all().delete()
    manifest.state = state
    manifest.message = message
    manifest.validated_at = timezone.now()
    if result is not None:
        ManifestEntry.objects.bulk_create(
            [ManifestEntry(manifest=manifest, path=p, size=s, sha256=d) for p, s, d in result.entries],
            batch_size=1000,
        )
        manifest.source_location = location
        manifest.digest = result.digest
        manifest.object_count = len(result.entries)
        manifest.total_bytes = result.total_bytes
        manifest.flavors = result.summary.flavors
        manifest.signature = result.summary.signature
    manifest.producer_signature = integrity.producer_signature if integrity else {}
    manifest.pickle_scan = integrity.pickle_scan if integrity else {}
    manifest.save()
    before = version.status
    if state == EvidenceState.FAILED:
        version.status = VersionStatus.FAILED_REGISTRATION
        version.status_message = message
    else:
        version.status = VersionStatus.READY
        version.status_message = (
            "" if state == EvidenceState.VALIDATED else f"Artifacts not validated: {message}"
        )
    version.save(update_fields=["status", "status_message", "updated_at"])
    common = {
        "actor": "system",
        "target": version,
        "model_name": version.model.name,
        "version": version.version,
        "before": {"status": before},
    }
    if state == EvidenceState.FAILED:
        details = {"status": version.status, "stage": "validation", "reason": message}
        if integrity is not None:
            details["producer_signature"] = integrity.producer_signature
        audit.record(action=Action.ARTIFACTS_FAILED, after=details, **common)
        outcome = "failed"
    else:
        details = {
            "status": version.status,
            "validated": state == EvidenceState.VALIDATED,
            "digest": manifest.digest,
            "objects": manifest.object_count,
            "bytes": manifest.total_bytes,
            "flavors": manifest.flavors,
            "note": message,
            "producer_signature": manifest.producer_signature,
            "pickle_findings": manifest.pickle_scan.get("highest", "none"),
        }
        audit.record(action=Action.ARTIFACTS_VALIDATED, after=details, **common)
        outcome = "validated" if state == EvidenceState.VALIDATED else "unvalidated"
        if state == EvidenceState.VALIDATED:
            _validation_attest(version, manifest)
    events.publish(ValidationFinished(actor="system", version=version, outcome=outcome, details=details))


# --- Where versions may come from (scoped sources, true lineage) -------------------------


def _governed_root() -> str:
    return settings.QUORUM_GOVERNED_STORE or ""


def _location_ancestors(location: str) -> list[str]:
    """`location` and every folder above it, with and without a trailing slash (how sources are spelt)."""
    scheme, sep, rest = location.partition("://") if "://" in location else ("", "", location)
    head = f"{scheme}{sep}"
    parts = [part for part in rest.split("/") if part]
    absolute = rest.startswith("/")
    found = []
    for end in range(len(parts), 0, -1):
        path = ("/" if absolute else "") + "/".join(parts[:end])
        found += [f"{head}{path}", f"{head}{path}/"]
    return found


def _other_models_hold(model: RegisteredModel, location: str) -> bool:
    """Whether a version of another model lives at, inside or above `location`."""
    candidates = {location, *_location_ancestors(location)}
    if is_local_source(location):
        path = local_source_path(location)
        candidates |= {path, f"file://{path}", *_location_ancestors(path)}
        below = [f"{path.rstrip('/')}/", f"file://{path.rstrip('/')}/"]
    else:
        below = [f"{location.rstrip('/')}/"]
    query = Q(source__in=candidates) | Q(storage_location__in=candidates)
    for start in below:
        query |= Q(source__startswith=start) | Q(storage_location__startswith=start)
    rows = ModelVersion.objects.exclude(model_id=model.pk).filter(query)
    return any(
        locations_overlap(location, row_location)
        for pair in rows.values_list("source", "storage_location")[:50]
        for row_location in pair
        if row_location
    )


def _allow_listed(actor, model: RegisteredModel, location: str) -> str | None:
    """The model's or its team's allow-listed prefix that holds `location`, if any."""
    rows = SourcePrefix.objects.filter(
        Q(model_id=model.pk) | Q(team__group__user__pk=getattr(actor, "pk", None))
    ).values_list("prefix", "team_id", "team__group__name")
    teams_on_model: set[str] | None = None
    for prefix, team_id, team_name in rows:
        if not location_within(location, prefix):
            continue
        if team_id is None:
            return prefix
        if teams_on_model is None:
            # A team's prefix serves its members' registrations into models the team holds a grant on.
            teams_on_model = {row.team for row in grant_rows([actor.pk], [model.pk]) if row.via == "team"}
        if team_name in teams_on_model:
            return prefix
    return None


def source_admit(*, version: ModelVersion, actor) -> rules.SourceAdmission:
    """Refuse (InvalidParameter, field 'source') a source its model may not register from.

    The confused deputy this stops: Quorum reads sources with its own credentials and serves them to
    everyone who may read the model, so a source is admitted only inside the artifact location of
    the run (or logged model) the version names, or below a prefix allow-listed for the model or its
    team, or an organisation prefix (QUORUM_SOURCE_PREFIXES). Never the governed store; a prefix
    admission never reaches another model's versions.
    """
    source = version.source
    location = version.storage_location or source
    copy = is_registry_copy_source(source)
    try:
        lineage = None
        if not copy and not source.startswith(("runs:/", "models:/")):
            try:
                lineage = tracking.lineage_root(run_id=version.run_id, model_id=version.logged_model_id)
            except tracking.LineageNotFound:
                # MLflow's answer for a run (or logged model) its tracking store does not know.
                named = "model_id" if version.logged_model_id else "run_id"
                raise InvalidParameter(lineage_refusal(source, named), field="source")
        admission = rules.source_admission(
            source=source,
            location=location,
            run_id=version.run_id,
            model_id=version.logged_model_id,
            lineage_root=lineage,
            is_local=is_local_source(source),
            local_path=local_source_path(source) if is_local_source(source) else "",
            is_copy=copy,
            governed_root="" if copy else _governed_root(),
            organisation_prefixes=list(settings.QUORUM_SOURCE_PREFIXES),
            within=location_within,
        )
        return admission
    except rules.SourceRefused as refused:
        prefix = _allow_listed(actor, version.model, location) if refused.prefix_may_admit else None
        if prefix is None:
            raise InvalidParameter(str(refused), field="source")
    if _other_models_hold(version.model, location):
        raise InvalidParameter(
            f"Invalid model version source: '{source}' overlaps the artifacts of another model's "
            "version; register it from that model, or copy it with models:/<name>/<version>.",
            field="source",
        )
    return rules.SourceAdmission("prefix", prefix)


def _prefix_normalized(prefix: object) -> str:
    if not isinstance(prefix, str) or not prefix.strip() or len(prefix) > 2000:
        raise InvalidParameter(
            "A source prefix is a non-empty string of at most 2000 characters.", field="prefix"
        )
    prefix = prefix.strip()
    try:
        source_validate(prefix, run_id="-", model_id="")
    except InvalidParameter as exc:
        raise InvalidParameter(exc.message.replace("model version source", "source prefix"), field="prefix")
    try:
        rules.source_prefix_checked(prefix, governed_root=_governed_root(), within=locations_overlap)
    except rules.SourceRefused as exc:
        raise InvalidParameter(str(exc), field="prefix")
    return prefix


@transaction.atomic
def source_prefix_add(*, actor, name: str, prefix: str, reason: str = "") -> SourcePrefix:
    """Allow-list a prefix for a model's sources (MANAGE on the model); audited."""
    model = registered_model_for_update(actor, name, Level.MANAGE, "Allow-listing a source prefix")
    prefix = _prefix_normalized(prefix)
    if not actor.is_superuser and _other_models_hold(model, prefix):
        raise InvalidParameter(
            f"Source prefix '{prefix}' overlaps the artifacts of another model's versions; only a "
            "superuser may allow-list it.",
            field="prefix",
        )
    row, created = SourcePrefix.objects.get_or_create(
        model=model, prefix=prefix, defaults={"created_by": actor, "reason": str(reason or "")[:2000]}
    )
    if created:
        audit.record(
            actor=actor,
            action=Action.POLICY_CHANGED,
            target=model,
            model_name=model.name,
            before=None,
            after={"source_prefix": prefix, "allowed": True, "reason": row.reason},
        )
    return row


@transaction.atomic
def source_prefix_remove(*, actor, name: str, prefix_id: int) -> None:
    model = registered_model_for_update(actor, name, Level.MANAGE, "Removing a source prefix")
    row = SourcePrefix.objects.filter(model=model, pk=prefix_id).first()
    if row is None:
        raise NotFound(f"Source prefix {prefix_id} of registered model '{name}' not found")
    row.delete()
    audit.record(
        actor=actor,
        action=Action.POLICY_CHANGED,
        target=model,
        model_name=model.name,
        before={"source_prefix": row.prefix, "allowed": True},
        after={"source_prefix": row.prefix, "allowed": False},
    )


@transaction.atomic
def team_source_prefix_add(*, actor, team_name: str, prefix: str, reason: str = "") -> SourcePrefix:
    """Allow-list a prefix for a team's members' registrations into the team's models (superusers only)."""
    if not getattr(actor, "is_superuser", False):
        raise PermissionDenied("Allow-listing a source prefix for a team needs a superuser.")
    team = Team.objects.filter(group__name=team_name).first()
    if team is None:
        raise NotFound(f"Team '{team_name}' not found")
    prefix = _prefix_normalized(prefix)
    row, created = SourcePrefix.objects.get_or_create(
        team=team, prefix=prefix, defaults={"created_by": actor, "reason": str(reason or "")[:2000]}
    )
    if created:
        audit.record(
            actor=actor,
            action=Action.TEAM_CHANGED,
            target_type="team",
            target_id=team.pk,
            target_name=team_name,
            after={"source_prefix": prefix, "allowed": True, "reason": row.reason},
        )
    return row


# --- Governed copy ---------------------------------------------------------------------


def governed_prefix(version: ModelVersion) -> str:
    """Where a version lives in the governed store: <model>/<version>/."""
    return f"{relpath_clean(version.model.name)}/{version.version}"


def _copy_one(source: ArtifactStore, destination: ArtifactStore, entry: ManifestEntry, present: bool) -> str:
    """Copy one object unless present, then read it back; 'copied' or 'adopted' when it matches."""
    outcome = "adopted"
    if not present:
        try:
            destination.copy_from(source, entry.path, entry.path, size=entry.size, sha256=entry.sha256)
            outcome = "copied"
        except ObjectExists:
            pass  # written by an earlier attempt after our listing: verify it like any other
    with contextlib.closing(destination.open(entry.path)) as stream:
        digest, size = sha256_stream(stream)
    if digest != entry.sha256 or size != entry.size:
        if outcome == "copied":
            with contextlib.suppress(StoreError):
                destination.delete(entry.path)  # refused under Object Lock; the digest tag still tells
        if outcome == "adopted":
            raise StoreError(
                f"The governed store already holds a different '{entry.path}' at "
                f"{destination.uri_for(entry.path)} (left by an earlier model or version of this name?). "
                "Governed objects are never overwritten: an administrator must move it aside."
            )
        raise StoreError(
            f"The governed copy of '{entry.path}' does not match the manifest (expected {entry.size} "
            f"bytes with sha256 {entry.sha256[:16]}…, read {size} bytes with {digest[:16]}…). The "
            "source changed after validation: register the current artifacts as a new version."
        )
    # Locked once verified (S3 Object Lock, where the retention asks for it): a mismatch above can
    # still be removed, a verified object no longer.
    destination.lock_apply(entry.path)
    return outcome


def _copy_run(job: ArtifactJob, token: str) -> None:
    version = job.version
    manifest = ArtifactManifest.objects.filter(version=version).first()
    if manifest is None or manifest.state != EvidenceState.VALIDATED:
        state = manifest.get_state_display() if manifest else "never validated"
        _copy_fail(
            job,
            token,
            f"Version {version.version} of '{version.model.name}' has no validated artifacts ({state}); "
            "only validated artifacts are copied to the governed store. Fix the source and register "
            "a new version.",
        )
        return
    entries = list(manifest.entries.all())
    progress = Progress(job=job, token=token)
    done = [entry for entry in entries if entry.governed_verified_at is not None]
    progress.objects_done = len(done)
    progress.bytes_done = sum(entry.size for entry in done)
    try:
        source = store_for_uri(manifest.source_location)
        destination = _copy_destination_locked(version, governed_store().child(governed_prefix(version)))
    except StorageUnavailable:
        raise
    except StoreError as exc:
        _copy_fail(job, token, str(exc))
        return
    ArtifactJob.objects.filter(pk=job.pk, lease_token=token).update(
        destination=destination.uri_for(),
        objects_total=len(entries),
        bytes_total=manifest.total_bytes,
        objects_done=progress.objects_done,
        bytes_done=progress.bytes_done,
    )

    def record(entry: ManifestEntry, outcome: str) -> None:
        progress.verified_entry_ids.append(entry.pk)
        progress.objects_done += 1
        progress.bytes_done += entry.size

    todo = [entry for entry in entries if entry.governed_verified_at is None]
    try:
        # One listing instead of a HEAD per object; parts a killed worker left behind would
        # never complete, so they are aborted up front (one copy job per version runs at a time).
        present = set(_paths_present(destination)) if todo else set()
        destination.abort_incomplete_uploads()
        _parallel(
            todo, lambda entry: _copy_one(source, destination, entry, entry.path in present), progress, record
        )
    except StorageUnavailable:
        with contextlib.suppress(LeaseLost):
            progress.save(force=True)  # keep what was verified
        raise
    except StoreError as exc:
        progress.save(force=True)
        _copy_fail(job, token, str(exc))
        return
    progress.save(force=True)
    _copy_record(job, token, manifest, destination.uri_for())


def _copy_destination_locked(version: ModelVersion, destination: ArtifactStore) -> ArtifactStore:
    """The destination writing under the S3 Object Lock the version's retention asks for, where the
    bucket has Object Lock; where it has not, the copy is written unlocked and that is recorded."""
    retention = ports.retention()
    lock = retention.copy_lock(version) if retention is not None else None
    if retention is None or lock is None:
        return destination
    mode = settings.QUORUM_OBJECT_LOCK_MODE
    if not destination.object_lock_supported():
        detail = f"{destination.uri_for()} has no Object Lock: the copy is written without retention."
        retention.copy_lock_recorded(version, lock, mode="", applied=False, detail=detail)
        return destination
    detail = f"{mode} retention until {lock.retain_until.isoformat()} on {destination.uri_for()}"
    retention.copy_lock_recorded(version, lock, mode=mode, applied=True, detail=detail)
    return destination.locked(ObjectLock(mode, lock.retain_until, lock.legal_hold))


def _governed_copy_store(version: ModelVersion) -> tuple[ArtifactStore, list[str]] | None:
    """The store holding the version's governed copy and its objects' paths, or None (never copied)."""
    manifest = ArtifactManifest.objects.filter(version=version).exclude(governed_location="").first()
    if manifest is None:
        return None
    return store_for_uri(manifest.governed_location), list(manifest.entries.values_list("path", flat=True))


def governed_copy_legal_hold(version: ModelVersion, on: bool) -> str:
    """Turn the store's legal hold on the governed copy's objects on or off; says what it did."""
    found = _governed_copy_store(version)
    if found is None:
        return "no governed copy"
    store, paths = found
    if not store.object_lock_supported():
        return f"{store.uri_for()} has no Object Lock: the hold is kept by Quorum only"
    for path in paths:
        store.legal_hold_set(path, on)
    return f"legal hold {'ON' if on else 'OFF'} on {len(paths)} objects under {store.uri_for()}"


def governed_copy_relock(version: ModelVersion, lock: ObjectLock) -> str:
    """Lengthen the S3 Object Lock retention of the governed copy's objects (never shortens it)."""
    found = _governed_copy_store(version)
    if found is None:
        return "no governed copy"
    store, paths = found
    if not store.object_lock_supported():
        return f"{store.uri_for()} has no Object Lock"
    locked = store.locked(lock)
    for path in paths:
        locked.lock_apply(path)
    return f"{lock.mode} retention until {lock.retain_until.isoformat()} on {len(paths)} objects"


def governed_copy_purge(*, actor, version: ModelVersion) -> list[str]:
    """Remove the governed copy's objects for good (the retention purge); a legal hold refuses it.
    Returns the URIs removed."""
    ports.removal_check(
        model=version.model,
        version=version,
        doing=f"Deleting the governed copy of version {version.version} of '{version.model.name}'",
        actor=actor,
    )
    found = _governed_copy_store(version)
    if found is None:
        return []
    store, paths = found
    removed = []
    for path in paths:
        store.purge(path)
        removed.append(store.uri_for(path))
    return removed


def _paths_present(store: ArtifactStore) -> Iterator[str]:
    try:
        for path, _ in store.list():
            yield path
    except ObjectMissing:
        return  # a local governed folder not created yet


@transaction.atomic
def _copy_fail(job: ArtifactJob, token: str, message: str) -> None:
    version = ModelVersion.objects.select_related("model").filter(pk=job.version_id).first()
    if version is None or not _job_finish(job, token, status=JobStatus.FAILED, error=message):
        return
    details = {"stage": "governed copy", "job": job.pk, "request": job.request_id, "reason": message}
    audit.record(
        actor="system",
        action=Action.ARTIFACTS_FAILED,
        target=version,
        model_name=version.model.name,
        version=version.version,
        after=details,
    )
    events.publish(
        GovernedCopyFinished(
            actor="system",
            version=version,
            succeeded=False,
            job_id=job.pk,
            request_id=job.request_id,
            details=details,
        )
    )


@transaction.atomic
def _copy_record(job: ArtifactJob, token: str, manifest: ArtifactManifest, location: str) -> None:
    """Every object verified: record the governed location, then apply the waiting request."""
    model_id = ModelVersion.objects.filter(pk=job.version_id).values_list("model_id", flat=True).first()
    if model_id is None:
        return
    # Model row first, as every registry and workflow service locks: no lock-order deadlocks.
    RegisteredModel.objects.select_for_update().filter(pk=model_id).first()
    version = (
        ModelVersion.objects.select_for_update().select_related("model").filter(pk=job.version_id).first()
    )
    if version is None:
        return
    unverified = ManifestEntry.objects.filter(manifest=manifest, governed_verified_at__isnull=True).count()
    if unverified:
        # Never reached with a correct run; refuse rather than record a partial copy as governed.
        raise StoreError(f"{unverified} objects of the governed copy are not verified.")
    if not _job_finish(job, token, status=JobStatus.SUCCEEDED, destination=location):
        raise LeaseLost(f"artifact job {job.pk} was taken over by another worker")
    now = timezone.now()
    before = version.storage_location
    details = {
        "storage_location": location,
        "digest": manifest.digest,
        "objects": manifest.object_count,
        "bytes": manifest.total_bytes,
        "job": job.pk,
        "request": job.request_id,
    }
    ArtifactManifest.objects.filter(pk=manifest.pk).update(governed_location=location, governed_at=now)
    version.storage_location = location
    version.save(update_fields=["storage_location", "updated_at"])
    audit.record(
        actor="system",
        action=Action.ARTIFACTS_COPIED,
        target=version,
        model_name=version.model.name,
        version=version.version,
        before={"storage_location": before},
        after=details,
    )
    # The workflow applies what waited for this copy (it subscribes); the copy stands on its own.
    events.publish(
        GovernedCopyFinished(
            actor="system",
            version=version,
            succeeded=True,
            job_id=job.pk,
            request_id=job.request_id,
            details=details,
        )
    )


@transaction.atomic
def artifact_job_note(job_id: int, note: str) -> None:
    """Append a note for people to a finished job (why a waiting request was not applied)."""
    job = ArtifactJob.objects.select_for_update().filter(pk=job_id).first()
    if job is not None:
        job.error = f"{job.error} {note}".strip()[:4000]
        job.save(update_fields=["error"])


# --- Running a job (what the tasks call) -------------------------------------------------


def job_run(job_id: int) -> str:
    """Claim and run one job; returns what happened. StorageUnavailable means: retry later."""
    claimed = job_claim(job_id)
    if claimed is None:
        return "skipped"  # finished, deleted, or another worker holds a live lease
    job, token = claimed
    runner = _validation_run if job.kind == JobKind.VALIDATE else _copy_run
    try:
        runner(job, token)
    except StorageUnavailable as exc:
        job_release(job, token, f"Storage unavailable, will retry: {exc}")
        raise
    except LeaseLost:
        logger.warning("artifact job %s: lease lost to another worker; stopping", job_id)
        return "lease lost"
    return "ran"


def job_give_up(job_id: int, message: str) -> None:
    """Transient errors outlasted the retries: record the failure so a person can act on it."""
    claimed = job_claim(job_id)
    if claimed is None:
        return
    job, token = claimed
    if job.kind == JobKind.VALIDATE:
        _validation_record(job, token, state=EvidenceState.FAILED, message=message)
    else:
        _copy_fail(job, token, message)


# --- Entry points for people and the workflow ------------------------------------------


def version_evidence(version: ModelVersion) -> dict:
    """What is known about a version's artifacts, for transition requests to snapshot."""
    manifest = ArtifactManifest.objects.filter(version=version).first()
    if manifest is None:
        return {"artifact_digest": None, "validated": False, "validation_state": "none"}
    return {
        "artifact_digest": manifest.digest or None,
        # Bytes that no longer match what was validated count as not validated (issue 19).
        "validated": manifest.state == EvidenceState.VALIDATED and manifest.tampered_at is None,
        "validation_state": manifest.state,
        "tampered_at": manifest.tampered_at.isoformat() if manifest.tampered_at else None,
        "validation_message": manifest.message,
        "object_count": manifest.object_count,
        "total_bytes": manifest.total_bytes,
        "flavors": manifest.flavors,
        "has_signature": manifest.signature is not None,
        "producer_signature": manifest.producer_signature or {"state": "absent"},
        "pickle_scan": manifest.pickle_scan or {},
        "governed_location": manifest.governed_location or None,
    }


def _copy_job_for(version: ModelVersion, actor, request_id: int | None) -> ArtifactJob:
    active = ArtifactJob.objects.filter(
        version=version, kind=JobKind.COPY, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).first()
    if active is not None:
        if request_id and not active.request_id:
            ArtifactJob.objects.filter(pk=active.pk).update(request_id=request_id)
        return active
    return _job_queue(kind=JobKind.COPY, version=version, actor=actor, request_id=request_id)


def governed_copy_exists(version: ModelVersion) -> bool:
    """Whether every object of the version was copied to the governed store and verified."""
    return ArtifactManifest.objects.filter(version=version).exclude(governed_location="").exists()


def governed_copy_queue_for_request(*, version: ModelVersion, request_id: int) -> ArtifactJob:
    """Inside an approving transaction: queue (or join) the copy a request waits for.

    When every object is verified, `GovernedCopyFinished` names the request; the workflow applies it.
    """
    return _copy_job_for(version, "system", request_id)


@transaction.atomic
def governed_copy_start(*, actor, name: str, version: int) -> ArtifactJob:
    """Copy a version to the governed store without a workflow (needs MANAGE on the model)."""
    model = registered_model_for_update(actor, name, Level.MANAGE, "Copying a version to the governed store")
    row = model_version_for_update(model, version)
    manifest = ArtifactManifest.objects.filter(version=row).first()
    if manifest is None or manifest.state != EvidenceState.VALIDATED:
        raise Conflict(
            f"Version {version} of '{name}' has no validated artifacts "
            f"({manifest.get_state_display() if manifest else 'never validated'}); only validated "
            "artifacts can be copied to the governed store."
        )
    return _copy_job_for(row, actor, None)


@transaction.atomic
def artifact_job_retry(*, actor, job_id: int) -> ArtifactJob:
    """Queue a failed job again (needs MANAGE on the model); validation puts the version back to pending."""
    job = ArtifactJob.objects.select_related("version__model").filter(pk=job_id).first()
    if job is None or not registered_models_visible_to(actor).filter(pk=job.version.model_id).exists():
        raise NotFound(f"Artifact job {job_id} not found")
    model = job.version.model
    if not user_can(actor, Level.MANAGE, model):
        raise PermissionDenied(
            f"Retrying an artifact job on registered model '{model.name}' needs the MANAGE permission."
        )
    # Model, then version, then job: the registry's lock order; it also serializes two retries
    # of the same version, so the one-active-job constraint is checked, not tripped over.
    RegisteredModel.objects.select_for_update().filter(pk=model.pk).first()
    version = ModelVersion.objects.select_for_update().get(pk=job.version_id)
    job = ArtifactJob.objects.select_for_update().get(pk=job.pk)
    if job.status != JobStatus.FAILED:
        raise Conflict(f"Artifact job {job_id} is {job.status}; only failed jobs can be retried.")
    if ArtifactJob.objects.filter(
        version=job.version, kind=job.kind, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).exists():
        raise Conflict(f"Another {job.kind} job of this version is already queued or running.")
    before = {"job": job.pk, "status": job.status, "error": job.error}
    job.status = JobStatus.QUEUED
    job.error = ""
    job.finished_at = None
    job.save(update_fields=["status", "error", "finished_at"])
    message = OutboxMessage.objects.create(task_name=TASK_FOR_KIND[JobKind(job.kind)], job=job)
    transaction.on_commit(lambda: outbox_dispatch(message.pk), robust=True)
    if job.kind == JobKind.VALIDATE:
        previous_status = version.status
        version.status = VersionStatus.PENDING_REGISTRATION
        version.status_message = ""
        version.save(update_fields=["status", "status_message", "updated_at"])
        ArtifactManifest.objects.filter(version=version).update(state=EvidenceState.PENDING, message="")
        audit.record(
            actor=actor,
            action=Action.VERSION_STATUS_CHANGED,
            target=version,
            model_name=model.name,
            version=version.version,
            before={"status": previous_status, **before},
            after={"status": version.status, "artifact_job": "validation retried"},
        )
    else:
        audit.record(
            actor=actor,
            action=Action.VERSION_UPDATED,
            target=version,
            model_name=model.name,
            version=version.version,
            before=before,
            after={"artifact_job": "governed copy retried", "job": job.pk},
        )
    return job


# --- Serving: the bytes the proxy sends are the bytes that were validated (issue 19) ---------

SERVE_CHUNK_BYTES = 1024 * 1024


class ServedBytesChanged(Exception):
    """Bytes read to serve a file did not match its manifest: the transfer is aborted, the version marked."""


@dataclass(frozen=True)
class ServedVersion:
    """A version Quorum serves: validated, not marked, read from its governed copy when it has one."""

    version: ModelVersion
    manifest: ArtifactManifest
    location: str


def version_served(version: ModelVersion) -> ServedVersion:
    """What the proxy may serve of `version`; Conflict when it serves nothing (and why)."""
    manifest = ArtifactManifest.objects.filter(version=version).first()
    label = f"Version {version.version} of '{version.model.name}'"
    if manifest is None or manifest.state != EvidenceState.VALIDATED:
        state = manifest.get_state_display().lower() if manifest else "never validated"
        raise Conflict(
            f"{label} has no validated artifacts ({state}); Quorum serves only artifacts that passed "
            "validation."
        )
    if manifest.tampered_at is not None:
        raise Conflict(
            f"{label} is served no more: on {manifest.tampered_at:%Y-%m-%d %H:%M} UTC bytes read from its "
            "storage did not match its validated manifest. Register the current artifacts as a new version."
        )
    return ServedVersion(
        version=version, manifest=manifest, location=manifest.governed_location or manifest.source_location
    )


def served_listing(served: ServedVersion, relpath: str) -> list[tuple[str, bool, int | None]]:
    """The direct children of `relpath` among the manifest's files (never what else the folder holds)."""
    prefix = f"{relpath}/" if relpath else ""
    children: dict[str, tuple[bool, int | None]] = {}
    rows = served.manifest.entries.order_by("path").values_list("path", "size")
    if prefix:
        rows = rows.filter(path__startswith=prefix)
    for path, size in rows.iterator():
        name, _, rest = path[len(prefix) :].partition("/")
        children[name] = (True, None) if rest else (False, size)
    return [(name, is_dir, size) for name, (is_dir, size) in sorted(children.items())]


def served_entry(served: ServedVersion, relpath: str) -> ManifestEntry:
    """The manifest's entry for a file path; NotFound for anything the manifest does not list."""
    entry = served.manifest.entries.filter(path=relpath).first() if relpath else None
    if entry is None:
        raise NotFound(f"Artifact '{relpath}' not found.")
    return entry


def served_bytes(
    served: ServedVersion, entry: ManifestEntry, stream, *, actor, download_id: int | None
) -> Iterator[bytes]:
    """Stream a file, checking it against its manifest digest as it goes.

    The last chunk is held back until the whole file matched, so a changed file never reaches the
    client complete: on a mismatch the transfer is aborted (the client sees a short body against the
    Content-Length it was promised), the version is marked and the mismatch audited.
    """
    digest = hashlib.sha256()
    read = sent = 0
    held: bytes | None = None
    outcome = DownloadOutcome.INTERRUPTED
    try:
        while chunk := stream.read(SERVE_CHUNK_BYTES):
            read += len(chunk)
            digest.update(chunk)
            if read > entry.size:
                break
            if held is not None:
                yield held
                sent += len(held)
            held = chunk
        actual = digest.hexdigest()
        if read != entry.size or actual != entry.sha256:
            outcome = DownloadOutcome.ABORTED
            served_bytes_mismatch_record(
                served=served, entry=entry, actual_sha256=actual, read_size=read, actor=actor
            )
            raise ServedBytesChanged(
                f"'{entry.path}' of version {served.version.version} of '{served.version.model.name}' does "
                "not match its validated manifest; the transfer was aborted."
            )
        if held is not None:
            yield held
            sent += len(held)
        outcome = DownloadOutcome.COMPLETED
    finally:
        with contextlib.suppress(Exception):
            stream.close()
        if download_id is not None:
            ArtifactDownload.objects.filter(pk=download_id).update(
                bytes_sent=sent, outcome=outcome, finished_at=timezone.now()
            )


@transaction.atomic
def served_bytes_mismatch_record(
    *, served: ServedVersion, entry: ManifestEntry, actual_sha256: str, read_size: int, actor
) -> None:
    """Mark the version (it is served no more) and audit what was read instead of what was validated."""
    manifest = ArtifactManifest.objects.select_for_update().get(pk=served.manifest.pk)
    now = timezone.now()
    if manifest.tampered_at is None:
        manifest.tampered_at = now
        manifest.save(update_fields=["tampered_at"])
    ServedBytesMismatch.objects.create(
        manifest=manifest,
        path=entry.path,
        expected_sha256=entry.sha256,
        actual_sha256=actual_sha256,
        expected_size=entry.size,
        read_size=read_size,
        detected_for=actor if getattr(actor, "is_authenticated", False) else None,
    )
    version = served.version
    audit.record(
        actor="system",
        action=Action.ARTIFACTS_FAILED,
        target=version,
        model_name=version.model.name,
        version=version.version,
        after={
            "stage": "served bytes",
            "path": entry.path,
            "served_from": served.location,
            "expected_sha256": entry.sha256,
            "read_sha256": actual_sha256,
            "expected_bytes": entry.size,
            "read_bytes": read_size,
            "requested_by": getattr(actor, "username", "") or "",
            "reason": "the stored bytes changed after validation; the version is served no more",
        },
    )


@transaction.atomic
def download_start(*, actor, served: ServedVersion, path: str) -> int:
    """Record one file served to `actor`; the first of a (user, version, hour) writes the audit event."""
    now = timezone.now()
    user = actor if getattr(actor, "is_authenticated", False) else None
    version = served.version
    row = ArtifactDownload.objects.create(
        version=version,
        user=user,
        username=getattr(user, "username", "") or "anonymous",
        path=path,
        served_from=served.location,
    )
    window, created = DownloadWindow.objects.get_or_create(
        version=version, user=user, hour=now.replace(minute=0, second=0, microsecond=0)
    )
    DownloadWindow.objects.filter(pk=window.pk).update(files=F("files") + 1)
    if created:
        audit.record(
            actor=actor,
            action=Action.ARTIFACTS_DOWNLOADED,
            target=version,
            model_name=version.model.name,
            version=version.version,
            after={
                "hour": window.hour.isoformat(),
                "first_file": path,
                "served_from": "governed copy" if served.manifest.governed_location else "source",
                "location": served.location,
                "digest": served.manifest.digest,
                "note": "one event per user, version and hour; every file is in the downloads table",
            },
        )
    return row.pk


@transaction.atomic
def team_source_prefix_remove(*, actor, prefix_id: int) -> None:
    if not getattr(actor, "is_superuser", False):
        raise PermissionDenied("Removing a team's source prefix needs a superuser.")
    row = SourcePrefix.objects.select_related("team__group").filter(pk=prefix_id, team__isnull=False).first()
    if row is None:
        raise NotFound(f"Team source prefix {prefix_id} not found")
    row.delete()
    audit.record(
        actor=actor,
        action=Action.TEAM_CHANGED,
        target_type="team",
        target_id=row.team_id,
        target_name=row.team.name,
        before={"source_prefix": row.prefix, "allowed": True},
        after={"source_prefix": row.prefix, "allowed": False},
    )


# --- Trusted model signers (issue 24) ----------------------------------------------------


@transaction.atomic
def trusted_signer_add(
    *, actor, name: str, kind: str = "key", public_key_pem: str = "", ca_certificate_pem: str = ""
) -> TrustedSigner:
    """Trust a public key, or a CA for signing certificates, to sign models (superusers only); audited."""
    if not getattr(actor, "is_superuser", False):
        raise PermissionDenied("Trusting a model signer needs a superuser.")
    if kind not in integrity.SIGNER_KINDS:
        raise InvalidParameter("kind must be 'key' or 'certificate'.", field="kind")
    field = "ca_certificate_pem" if kind == "certificate" else "public_key_pem"
    pem = ca_certificate_pem if kind == "certificate" else public_key_pem
    try:
        fingerprint = integrity.signer_fingerprint(kind, pem or "")
    except ValueError as exc:
        raise InvalidParameter(str(exc), field=field)
    if TrustedSigner.objects.filter(Q(name=name) | Q(fingerprint=fingerprint)).exists():
        raise InvalidParameter(f"A trusted signer named '{name}' or with this key exists.", field="name")
    row = TrustedSigner.objects.create(
        name=name, kind=kind, fingerprint=fingerprint, created_by=actor, **{field: pem.strip() + "\n"}
    )
    audit.record(
        actor=actor,
        action=Action.POLICY_CHANGED,
        target_type="trusted_signer",
        target_id=row.pk,
        target_name=name,
        before=None,
        after={"trusted_signer": name, "key_fingerprint": fingerprint, "trusted": True}
        | ({"kind": kind} if kind != "key" else {}),
    )
    return row


@transaction.atomic
def trusted_signer_retire(*, actor, signer_id: int) -> TrustedSigner:
    if not getattr(actor, "is_superuser", False):
        raise PermissionDenied("Retiring a model signer needs a superuser.")
    row = TrustedSigner.objects.select_for_update().filter(pk=signer_id, retired_at__isnull=True).first()
    if row is None:
        raise NotFound(f"Trusted signer {signer_id} not found")
    row.retired_at = timezone.now()
    row.save(update_fields=["retired_at"])
    audit.record(
        actor=actor,
        action=Action.POLICY_CHANGED,
        target_type="trusted_signer",
        target_id=row.pk,
        target_name=row.name,
        before={"trusted_signer": row.name, "key_fingerprint": row.fingerprint, "trusted": True},
        after={"trusted_signer": row.name, "key_fingerprint": row.fingerprint, "trusted": False},
    )
    return row


# --- Quorum's attestations (issue 24) ----------------------------------------------------


def _attestation_subject(version: ModelVersion) -> str:
    return f"{version.model.name}/{version.version}"


def _attestation_issue(
    version: ModelVersion, kind: str, predicate_type: str, predicate: dict, *, request_id: int | None = None
) -> Attestation:
    """Sign a statement about the version's files and keep it; its governed-store copy follows commit."""
    entries = list(
        ManifestEntry.objects.filter(manifest__version=version).order_by("path").values_list("path", "sha256")
    )
    digest = attestations.oms_digest(entries)
    body = attestations.statement(
        subject_name=_attestation_subject(version),
        digest=digest,
        predicate_type=predicate_type,
        predicate=predicate,
    )
    envelope = attestations.envelope_signed(body)
    row = Attestation.objects.create(
        version=version,
        kind=kind,
        request_id=request_id,
        subject_digest=digest,
        key_id=envelope["signatures"][0]["keyid"],
        envelope=envelope,
    )
    transaction.on_commit(lambda: _attestation_store(row.pk))
    return row


def _attestation_store(attestation_id: int) -> None:
    """Copy an attestation beside the version's governed copy; the database row stays the record."""
    if not settings.QUORUM_GOVERNED_STORE:
        return
    row = Attestation.objects.select_related("version__model").get(pk=attestation_id)
    data = json.dumps(row.envelope, sort_keys=True).encode()
    # Beside the copy, not inside it: the copy's prefix holds exactly the manifest's files.
    key = f"attestations/{governed_prefix(row.version)}/{row.kind}-{row.pk}.dsse.json"
    try:
        location = governed_store_put(key, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())
    except StoreError:
        logger.exception("attestation %s could not be copied to the governed store", attestation_id)
        return
    Attestation.objects.filter(pk=row.pk).update(stored_location=location)


def _validation_attest(version: ModelVersion, manifest: ArtifactManifest) -> Attestation:
    entries = list(manifest.entries.order_by("path").values_list("path", "size", "sha256"))
    return _attestation_issue(
        version,
        AttestationKind.VALIDATION,
        attestations.VALIDATION_PREDICATE,
        {
            "manifest_digest": manifest.digest,
            "resources": [{"name": p, "size": s, "digest": {"sha256": d}} for p, s, d in entries],
            "flavors": manifest.flavors,
            "producer_signature": manifest.producer_signature,
            "pickle_scan": {k: manifest.pickle_scan.get(k) for k in ("scanner", "highest", "findings")},
            "validated_at": manifest.validated_at.isoformat(),
        },
    )


def promotion_attest(*, version: ModelVersion, request_id: int, predicate: dict) -> Attestation:
    """Called by the workflow inside the transaction that applies a promotion."""
    return _attestation_issue(
        version, AttestationKind.PROMOTION, attestations.PROMOTION_PREDICATE, predicate, request_id=request_id
    )


# --- Deployment records (issue 24) -----------------------------------------------------------


def _attested_digest(version: ModelVersion, alias: str) -> tuple[str, str]:
    """(digest Quorum attested for what should serve, why not) for the version, or through the alias."""
    kind = AttestationKind.PROMOTION if alias else AttestationKind.VALIDATION
    rows = Attestation.objects.filter(version=version, kind=kind).order_by("-created_at", "-id")
    for row in rows:
        body = attestations.envelope_statement(row.envelope)
        target = body["predicate"].get("target", {})
        if not alias or (target.get("kind") == "alias" and target.get("name") == alias):
            return row.subject_digest, ""
    what = f"a promotion to @{alias}" if alias else "a validation"
    return "", f"Quorum attested no {what} of version {version.version}"


@transaction.atomic
def deployment_report(
    *, actor, name: str, version: int | None, alias: str, environment: str, endpoint: str, digest: str
) -> DeploymentRecord:
    """Record what a serving system loaded (READ on the model); flag it when it is not what was attested."""
    if not environment or not endpoint or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest or ""):
        raise InvalidParameter(
            "environment, endpoint and digest (sha256:<64 hex>) are required.", field="digest"
        )
    if alias:
        row = alias_target_get(actor, name, alias)
        if version is not None and row.version != version:
            raise InvalidParameter(
                f"@{alias} points at version {row.version}, not {version}.", field="version"
            )
    elif version is not None:
        row = model_version_get(actor, name, version)
    else:
        raise InvalidParameter("Give the version or the alias it was loaded by.", field="version")
    expected, missing = _attested_digest(row, alias)
    drift_reason = missing or ("" if digest == expected else f"loaded {digest}, attested {expected}")
    record = DeploymentRecord.objects.create(
        version=row,
        alias=alias,
        environment=environment[:100],
        endpoint=endpoint[:255],
        reported_digest=digest,
        expected_digest=expected,
        drift=bool(drift_reason),
        drift_reason=drift_reason,
        reported_by=actor,
    )
    details = {
        "environment": record.environment,
        "endpoint": record.endpoint,
        "alias": alias or None,
        "digest": digest,
        "expected_digest": expected or None,
        "drift": record.drift,
        "drift_reason": drift_reason or None,
    }
    audit.record(
        actor=actor,
        action=Action.ARTIFACTS_DEPLOYED,
        target=row,
        model_name=row.model.name,
        version=row.version,
        after=details,
    )
    events.publish(
        DeploymentReported(
            actor=actor,
            version=row,
            deployment_id=record.pk,
            environment=record.environment,
            endpoint=record.endpoint,
            alias=alias,
            reported_digest=digest,
            expected_digest=expected,
            drift=record.drift,
            drift_reason=drift_reason,
        )
    )
    return record


# --- Evidence for approvers: the model's own files, as validated -------------------------

# The files an approver compares between versions (MLflow writes them beside the MLmodel).
MODEL_EVIDENCE_FILES = ("MLmodel", "requirements.txt", "conda.yaml", "python_env.yaml")
MODEL_EVIDENCE_FILE_MAX_BYTES = 256 * 1024


def version_model_files(version: ModelVersion) -> dict[str, str]:
    """The validated version's MLmodel and dependency files as text, each checked against its manifest.

    Only files the manifest lists are read, from where the validated bytes are; one that no longer
    matches its manifest digest (or is too large to show) is left out. StoreError when the store
    cannot be read; Conflict when the version has no validated artifacts.
    """
    served = version_served(version)
    store = store_for_uri(served.location)
    entries = {e.path: e for e in served.manifest.entries.filter(path__in=MODEL_EVIDENCE_FILES)}
    files: dict[str, str] = {}
    for path in MODEL_EVIDENCE_FILES:
        entry = entries.get(path)
        if entry is None or entry.size > MODEL_EVIDENCE_FILE_MAX_BYTES:
            continue
        with contextlib.closing(store.open(path)) as stream:
            data = stream.read(MODEL_EVIDENCE_FILE_MAX_BYTES + 1)
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            continue  # not the validated bytes: never shown as if they were
        files[path] = data.decode("utf-8", errors="replace")
    return files
