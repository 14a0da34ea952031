"""Artifact pipeline tables. Imported by registry/models.py so they belong to the `registry` app."""

from django.conf import settings
from django.db import models


class EvidenceState(models.TextChoices):
    PENDING = "pending", "Pending validation"
    VALIDATED = "validated", "Validated"
    FAILED = "failed", "Failed validation"
    # Quorum could not read the source (e.g. runs:/ without a tracking server): the version is
    # usable, but nothing was proven about its bytes, so it can never be copied to a governed store.
    UNVALIDATED = "unvalidated", "Not validated (source unreadable by Quorum)"


class ArtifactManifest(models.Model):
    """What validation proved about one version's artifacts, and where its governed copy lives."""

    version = models.OneToOneField(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="artifact_manifest"
    )
    state = models.CharField(max_length=16, choices=EvidenceState.choices, default=EvidenceState.PENDING)
    message = models.TextField(blank=True, default="")
    source_location = models.TextField(blank=True, default="", help_text="The location that was read.")
    digest = models.CharField(
        max_length=64, blank=True, default="", help_text="SHA-256 over the sorted (path, size, sha256) list."
    )
    object_count = models.IntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    flavors = models.JSONField(default=list, blank=True)
    signature = models.JSONField(null=True, blank=True)
    producer_signature = models.JSONField(
        default=dict, blank=True, help_text="The OMS signature's verification (artifacts/integrity.py)."
    )
    pickle_scan = models.JSONField(default=dict, blank=True, help_text="picklescan's findings.")
    validated_at = models.DateTimeField(null=True, blank=True)
    governed_location = models.TextField(blank=True, default="")
    governed_at = models.DateTimeField(null=True, blank=True)
    # Set when bytes read to serve the version did not match this manifest: it is served no more.
    tampered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "registry_artifactmanifest"  # the table it had as part of the registry app

    def __str__(self) -> str:
        return f"manifest of version #{self.version_id} ({self.state})"


class ManifestEntry(models.Model):
    """One object of a version's artifacts: its path below the source, size and SHA-256."""

    manifest = models.ForeignKey(ArtifactManifest, on_delete=models.CASCADE, related_name="entries")
    path = models.TextField()
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Set once the governed copy of this object has been read back and matched `sha256`.
    governed_verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "registry_manifestentry"  # the table it had as part of the registry app
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["manifest", "path"], name="uniq_manifest_path")]

    def __str__(self) -> str:
        return f"{self.path} ({self.size} B, {self.sha256[:12]})"


class JobKind(models.TextChoices):
    VALIDATE = "validate", "Validate artifacts"
    COPY = "copy", "Copy to governed store"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ArtifactJob(models.Model):
    """One validation or governed copy of a version, with its progress and outcome."""

    kind = models.CharField(max_length=16, choices=JobKind.choices)
    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="artifact_jobs"
    )
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    # The workflow transition request this copy serves (workflows), applied when verified.
    request_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    destination = models.TextField(blank=True, default="")
    objects_total = models.IntegerField(default=0)
    objects_done = models.IntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    attempts = models.IntegerField(default=0, help_text="How many times a worker started this job.")
    # Lease: the worker running the job holds `lease_token` and refreshes `heartbeat_at`.
    lease_token = models.CharField(max_length=32, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "registry_artifactjob"  # the table it had as part of the registry app
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one unfinished copy per version: a second promotion joins the running one.
            models.UniqueConstraint(
                fields=["version", "kind"],
                condition=models.Q(status__in=["queued", "running"]),
                name="uniq_active_artifact_job",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} job #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def percent_done(self) -> int:
        if self.bytes_total:
            return min(100, int(100 * self.bytes_done / self.bytes_total))
        if self.objects_total:
            return min(100, int(100 * self.objects_done / self.objects_total))
        return 100 if self.status == JobStatus.SUCCEEDED else 0


class OutboxMessage(models.Model):
    """A task to publish, written in the transaction that asked for it; delivered after commit."""

    task_name = models.CharField(max_length=200)
    job = models.ForeignKey(ArtifactJob, on_delete=models.CASCADE, related_name="outbox")
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="Last successful publish.")
    dispatch_attempts = models.IntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    done_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        db_table = "registry_outboxmessage"  # the table it had as part of the registry app
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.task_name}({self.job_id})"


class SourcePrefix(models.Model):
    """A location a model, or a team's models, may register versions from (besides the version's run)."""

    model = models.ForeignKey(
        "registry.RegisteredModel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="source_prefixes",
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="source_prefixes"
    )
    prefix = models.TextField(help_text="A folder or object-store prefix, e.g. s3://team-bucket/models/.")
    reason = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prefix", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(model__isnull=False, team__isnull=True)
                | models.Q(model__isnull=True, team__isnull=False),
                name="source_prefix_model_xor_team",
            ),
            models.UniqueConstraint(fields=["model", "prefix"], name="uniq_model_source_prefix"),
            models.UniqueConstraint(fields=["team", "prefix"], name="uniq_team_source_prefix"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix} for {self.model or self.team}"


class ServedBytesMismatch(models.Model):
    """A file whose bytes, read to serve them, did not match the manifest: the version is marked by it."""

    manifest = models.ForeignKey(ArtifactManifest, on_delete=models.CASCADE, related_name="mismatches")
    path = models.TextField()
    expected_sha256 = models.CharField(max_length=64)
    actual_sha256 = models.CharField(max_length=64, blank=True, default="")
    expected_size = models.BigIntegerField()
    read_size = models.BigIntegerField()
    detected_at = models.DateTimeField(auto_now_add=True)
    detected_for = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-detected_at", "-id"]

    def __str__(self) -> str:
        return f"{self.path} of {self.manifest} did not match"


class DownloadOutcome(models.TextChoices):
    STARTED = "started", "Started"
    COMPLETED = "completed", "Completed (every byte matched the manifest)"
    ABORTED = "aborted", "Aborted (bytes did not match the manifest)"
    INTERRUPTED = "interrupted", "Interrupted (the client or the store went away)"


class ArtifactDownload(models.Model):
    """One file of a version served through Quorum's artifact proxy, to whom and when."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.CASCADE, related_name="downloads")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, help_text="Kept if the account is deleted.")
    path = models.TextField()
    served_from = models.TextField(help_text="The location the bytes were read from.")
    bytes_sent = models.BigIntegerField(default=0)
    outcome = models.CharField(
        max_length=16, choices=DownloadOutcome.choices, default=DownloadOutcome.STARTED
    )
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["version", "started_at"], name="artifact_download_version")]

    def __str__(self) -> str:
        return f"{self.username} fetched {self.path} of {self.version_id} ({self.outcome})"


class DownloadWindow(models.Model):
    """One hour of one user's downloads of one version: its first file writes the audit event."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    hour = models.DateTimeField()
    files = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "user", "hour"], name="uniq_download_window"),
        ]

    def __str__(self) -> str:
        return f"{self.files} files of version #{self.version_id} to user #{self.user_id} at {self.hour}"


class TrustedSigner(models.Model):
    """A public key, or a CA, the organisation trusts to sign models (OMS key or certificate method).

    Superusers manage them; each change is audited."""

    name = models.CharField(
        max_length=200, unique=True, help_text="Who signs with it, e.g. 'ml-platform CI'."
    )
    kind = models.CharField(
        max_length=16,
        choices=[("key", "public key"), ("certificate", "CA certificate")],
        default="key",
        help_text="key: OMS key method; certificate: signing certificates issued under this CA.",
    )
    public_key_pem = models.TextField(blank=True, default="")
    ca_certificate_pem = models.TextField(blank=True, default="")
    fingerprint = models.CharField(
        max_length=64, unique=True, help_text="sha256 of the DER public key, or of the DER CA certificate."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True, help_text="Retired keys verify nothing new.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint[:12]}…)"


class AttestationKind(models.TextChoices):
    VALIDATION = "validation"
    PROMOTION = "promotion"


class Attestation(models.Model):
    """A DSSE-signed in-toto statement Quorum issued about a version (artifacts/attestations.py)."""

    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="attestations"
    )
    kind = models.CharField(max_length=16, choices=AttestationKind.choices)
    request_id = models.BigIntegerField(null=True, blank=True, help_text="The applied request (promotions).")
    subject_digest = models.CharField(max_length=80, help_text="OMS digest of the version's files.")
    key_id = models.CharField(max_length=64)
    envelope = models.JSONField()
    stored_location = models.TextField(blank=True, default="", help_text="Its copy in the governed store.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} attestation of {self.version}"


class DeploymentRecord(models.Model):
    """What a serving system reported it loaded (issue 24); `drift`: not the files Quorum attested."""

    version = models.ForeignKey("registry.ModelVersion", on_delete=models.CASCADE, related_name="deployments")
    alias = models.CharField(max_length=255, blank=True, default="", help_text="The alias it was loaded by.")
    environment = models.CharField(max_length=100)
    endpoint = models.CharField(max_length=255)
    reported_digest = models.CharField(max_length=80, help_text="OMS digest of the files it loaded.")
    expected_digest = models.CharField(max_length=80, blank=True, default="")
    drift = models.BooleanField(default=False)
    drift_reason = models.TextField(blank=True, default="")
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reported_at", "-id"]
        indexes = [models.Index(fields=["environment", "endpoint", "-reported_at"])]

    def __str__(self) -> str:
        return f"{self.version} at {self.environment}/{self.endpoint}"
