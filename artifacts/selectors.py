"""Reads of the artifact pipeline, filtered to what the user may see."""

from django.db.models import QuerySet

from access.grants import Level, user_can
from artifacts.models import (
    ArtifactDownload,
    ArtifactJob,
    ArtifactManifest,
    Attestation,
    DeploymentRecord,
    ManifestEntry,
    SourcePrefix,
    TrustedSigner,
)
from registry.errors import InvalidParameter, NotFound, PermissionDenied
from registry.models import ModelVersion
from registry.selectors import model_version_get, model_versions_visible_to, registered_model_get

JOB_STATUSES = {"queued", "running", "succeeded", "failed"}


def artifact_jobs_visible_to(user) -> QuerySet[ArtifactJob]:
    """Jobs of versions `user` may read."""
    return ArtifactJob.objects.filter(
        version__in=model_versions_visible_to(user).values("pk")
    ).select_related("version__model", "created_by")


def artifact_jobs_list(
    user, *, name: str | None = None, version: int | None = None, status: str | None = None
) -> QuerySet[ArtifactJob]:
    jobs = artifact_jobs_visible_to(user)
    if name:
        jobs = jobs.filter(version__model__name=name)
    if version is not None:
        jobs = jobs.filter(version__version=version)
    if status:
        if status not in JOB_STATUSES:
            raise InvalidParameter(
                f"Invalid status '{status}'; use one of {', '.join(sorted(JOB_STATUSES))}.", field="status"
            )
        jobs = jobs.filter(status=status)
    return jobs.order_by("-created_at", "-id")


def artifact_job_get(user, job_id: int) -> ArtifactJob:
    job = artifact_jobs_visible_to(user).filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"Artifact job {job_id} not found")
    return job


def version_artifacts_get(user, name: str, version: int) -> tuple[ModelVersion, ArtifactManifest | None]:
    """A visible version and its manifest (None before validation was ever queued)."""
    row = model_version_get(user, name, version)
    return row, ArtifactManifest.objects.filter(version=row).first()


def manifest_entries(manifest: ArtifactManifest) -> QuerySet[ManifestEntry]:
    return manifest.entries.order_by("path")


def copy_job_for_request(request_id: int, version_id: int) -> ArtifactJob | None:
    """The governed copy a transition request waits on (for the request page's progress bar)."""
    jobs = ArtifactJob.objects.filter(kind="copy", version_id=version_id).order_by("-created_at", "-id")
    return jobs.filter(request_id=request_id).first() or jobs.first()


def source_prefixes_for(user, name: str) -> QuerySet[SourcePrefix]:
    """The prefixes allow-listed for a model the user may read (hidden == missing)."""
    model = registered_model_get(user, name)
    return SourcePrefix.objects.filter(model=model).select_related("created_by")


def version_manifest(version: ModelVersion) -> ArtifactManifest | None:
    """The manifest of a version the caller already found among what its user may see."""
    return ArtifactManifest.objects.filter(version=version).first()


def version_downloads(user, name: str, version: int) -> QuerySet[ArtifactDownload]:
    """Every file of a version served through Quorum, newest first: for MANAGE holders (who fetched what)."""
    row = model_version_get(user, name, version)
    if not user_can(user, Level.MANAGE, row.model):
        raise PermissionDenied(
            f"Listing the downloads of registered model '{name}' needs the MANAGE permission."
        )
    return (
        ArtifactDownload.objects.filter(version=row)
        .select_related("version__model")
        .order_by("-started_at", "-id")
    )


def trusted_signers() -> QuerySet[TrustedSigner]:
    """Every trusted signer, retired ones included (an auditor asks which key was trusted when)."""
    return TrustedSigner.objects.select_related("created_by")


def version_attestations(user, name: str, version: int) -> QuerySet[Attestation]:
    """Quorum's signed statements about a version the user may READ, oldest first."""
    return Attestation.objects.filter(version=model_version_get(user, name, version))


def deployments_visible_to(
    user, *, name: str | None = None, drift: bool | None = None
) -> QuerySet[DeploymentRecord]:
    """What serves where, newest first, for versions the user may READ."""
    rows = DeploymentRecord.objects.filter(version__in=model_versions_visible_to(user).values("pk"))
    if name:
        rows = rows.filter(version__model__name=name)
    if drift is not None:
        rows = rows.filter(drift=drift)
    return rows.select_related("version__model", "reported_by")
