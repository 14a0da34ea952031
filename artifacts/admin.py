"""Admin pages of the artifact pipeline: job progress bars, failures with reasons, retry by MANAGE holders."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from access.grants import Level, user_can
from artifacts import services
from artifacts.models import (
    ArtifactDownload,
    ArtifactJob,
    ArtifactManifest,
    Attestation,
    DeploymentRecord,
    EvidenceState,
    JobKind,
    JobStatus,
    ManifestEntry,
    SourcePrefix,
    TrustedSigner,
)
from artifacts.selectors import artifact_jobs_visible_to
from registry.errors import RegistryError
from registry.selectors import model_versions_visible_to


def _proved_nothing(job: ArtifactJob) -> ArtifactManifest | None:
    """The manifest of a validation job that finished without reading the source (nothing proved)."""
    if job.kind != JobKind.VALIDATE or job.status != JobStatus.SUCCEEDED:
        return None
    try:
        manifest = job.version.artifact_manifest  # list_select_related: no query per row
    except ArtifactManifest.DoesNotExist:
        return None
    return manifest if manifest is not None and manifest.state == EvidenceState.UNVALIDATED else None


def job_outcome(job: ArtifactJob) -> str:
    """The job's state as a person reads it: a validation that could not read its source 'finished',
    but the version was never validated, so it must not read 'Succeeded'."""
    if _proved_nothing(job) is not None:
        return EvidenceState.UNVALIDATED.label
    return job.get_status_display()


def job_progress_html(job: ArtifactJob) -> str:
    """A progress bar with objects and bytes done; reusable by other admin pages (request page)."""
    unread = _proved_nothing(job)
    if unread is not None:
        return format_html(
            '<span class="job-not-validated" title="{}">not validated: nothing was read</span>',
            unread.message or EvidenceState.UNVALIDATED.label,
        )
    colour = {"failed": "#ba2121", "succeeded": "#417690"}.get(job.status, "#79aec8")
    return format_html(
        '<div title="{}" style="width:160px;background:#eee;border-radius:3px">'
        '<div style="width:{}%;background:{};color:#fff;padding:1px 4px;border-radius:3px;white-space:nowrap">'
        "{}%</div></div><small>{}/{} objects, {}/{} bytes</small>",
        job.error or job.status,
        job.percent_done,
        colour,
        job.percent_done,
        job.objects_done,
        job.objects_total,
        f"{job.bytes_done:,}",
        f"{job.bytes_total:,}",
    )


def _staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


@admin.register(ArtifactJob)
class ArtifactJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "version",
        "outcome",
        "progress",
        "attempts",
        "request_id",
        "created_at",
        "error",
    ]
    list_filter = ["kind", "status"]
    list_select_related = ["version__model", "version__artifact_manifest"]
    search_fields = ["version__model__name"]
    actions = ["retry_failed"]
    readonly_fields = [field.name for field in ArtifactJob._meta.fields] + ["outcome", "progress"]

    @admin.display(description="status", ordering="status")
    def outcome(self, job: ArtifactJob) -> str:
        return job_outcome(job)

    @admin.display(description="progress")
    def progress(self, job: ArtifactJob) -> str:
        return job_progress_html(job)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ArtifactJob]:
        return artifact_jobs_visible_to(request.user)

    @admin.action(description="Retry the selected failed jobs (needs MANAGE on the model)")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[ArtifactJob]) -> None:
        for job in queryset:
            try:
                services.artifact_job_retry(actor=request.user, job_id=job.pk)
            except RegistryError as exc:
                self.message_user(request, f"Job {job.pk}: {exc.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"Job {job.pk} queued again.", level=messages.SUCCESS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: ArtifactJob | None = None) -> bool:
        return _staff(request) and (obj is None or user_can(request.user, Level.READ, obj.version.model))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ArtifactJob | None = None) -> bool:
        # The retry action needs change permission in Django's eyes; the service checks MANAGE.
        return _staff(request) and (obj is None or user_can(request.user, Level.MANAGE, obj.version.model))

    def has_delete_permission(self, request: HttpRequest, obj: ArtifactJob | None = None) -> bool:
        return False


class ManifestEntryInline(admin.TabularInline):
    model = ManifestEntry
    fields = ["path", "size", "sha256", "governed_verified_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ArtifactManifest)
class ArtifactManifestAdmin(admin.ModelAdmin):
    list_display = ["version", "state", "object_count", "total_bytes", "digest", "governed_location"]
    list_filter = ["state"]
    readonly_fields = [field.name for field in ArtifactManifest._meta.fields]
    inlines = [ManifestEntryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ArtifactManifest]:
        return ArtifactManifest.objects.filter(
            version__in=model_versions_visible_to(request.user).values("pk")
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: ArtifactManifest | None = None) -> bool:
        return _staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ArtifactManifest | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ArtifactManifest | None = None) -> bool:
        return False


@admin.register(SourcePrefix)
class SourcePrefixAdmin(admin.ModelAdmin):
    """Allow-listed source prefixes; team prefixes are a superuser's decision (added here or by service)."""

    list_display = ["prefix", "model", "team", "created_by", "created_at", "reason"]
    search_fields = ["prefix", "model__name", "team__group__name"]
    readonly_fields = ["created_by", "created_at"]

    def _superuser(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._superuser(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._superuser(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._superuser(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # not edited: remove one and add another

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._superuser(request)

    def save_model(self, request: HttpRequest, obj: SourcePrefix, form, change: bool) -> None:
        # Through the audited services, never a bare row write.
        if obj.team_id:
            saved = services.team_source_prefix_add(
                actor=request.user, team_name=obj.team.name, prefix=obj.prefix, reason=obj.reason
            )
        else:
            saved = services.source_prefix_add(
                actor=request.user, name=obj.model.name, prefix=obj.prefix, reason=obj.reason
            )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: SourcePrefix) -> None:
        if obj.model_id:
            services.source_prefix_remove(actor=request.user, name=obj.model.name, prefix_id=obj.pk)
        else:
            services.team_source_prefix_remove(actor=request.user, prefix_id=obj.pk)


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by the audited services (API routes, tasks): shown, never edited here,
    and only for versions the user can read (`version_path`; None: not about a version)."""

    version_path: str | None = "version"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        rows = super().get_queryset(request)
        if self.version_path is None:
            return rows
        visible = model_versions_visible_to(request.user).values("pk")
        return rows.filter(**{f"{self.version_path}__in": visible}).select_related(
            f"{self.version_path}__model"
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _staff(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)


@admin.register(ArtifactDownload)
class ArtifactDownloadAdmin(_ReadOnlyAdmin):
    """Who fetched which version's files through the proxy, and when (read-only)."""

    list_display = ["started_at", "username", "version", "path", "bytes_sent", "outcome", "served_from"]
    list_filter = ["outcome"]
    search_fields = ["username", "version__model__name", "path"]
    readonly_fields = [field.name for field in ArtifactDownload._meta.fields]


@admin.register(DeploymentRecord)
class DeploymentRecordAdmin(_ReadOnlyAdmin):
    """What is deployed where (reported by `quorum verify` or a serving system), drift first."""

    list_display = ["reported_at", "environment", "endpoint", "version", "alias", "drift_flag", "reported_by"]
    list_filter = ["drift", "environment"]
    search_fields = ["endpoint", "environment", "version__model__name", "reported_digest"]
    readonly_fields = [field.name for field in DeploymentRecord._meta.fields]
    ordering = ["-drift", "-reported_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DeploymentRecord]:
        visible = model_versions_visible_to(request.user).values("pk")
        return (
            super()
            .get_queryset(request)
            .filter(version__in=visible)
            .select_related("version__model", "reported_by")
        )

    @admin.display(description="Drift", ordering="drift")
    def drift_flag(self, record: DeploymentRecord) -> str:
        if not record.drift:
            return "as approved"
        return format_html('<strong class="deployment-drift" title="{}">DRIFT</strong>', record.drift_reason)


@admin.register(Attestation)
class AttestationAdmin(_ReadOnlyAdmin):
    """Quorum's signed statements about a version (validation, promotion), as served by the API."""

    list_display = ["created_at", "version", "kind", "request_id", "subject_digest", "key_id"]
    list_filter = ["kind"]
    search_fields = ["version__model__name", "subject_digest"]
    readonly_fields = [field.name for field in Attestation._meta.fields]


@admin.register(TrustedSigner)
class TrustedSignerAdmin(_ReadOnlyAdmin):
    """Producer keys and CAs a policy may require (added and retired through the audited API)."""

    list_display = ["name", "kind", "fingerprint", "created_by", "created_at", "retired_at"]
    readonly_fields = [field.name for field in TrustedSigner._meta.fields]
    version_path = None

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)
