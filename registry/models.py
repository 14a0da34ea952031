from django.conf import settings
from django.db import models


class Stage(models.TextChoices):
    NONE = "None", "None"
    STAGING = "Staging", "Staging"
    PRODUCTION = "Production", "Production"
    ARCHIVED = "Archived", "Archived"


class VersionStatus(models.TextChoices):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    READY = "READY"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"


class RegisteredModel(models.Model):
    """A named model; its versions, aliases and tags hang off it."""

    name = models.CharField(max_length=256, unique=True)
    description = models.TextField(blank=True, default="")
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Last version number handed out; only grows, so numbers are never reused after a delete.
    last_version_number = models.IntegerField(default=0)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("approve_staging_registeredmodel", "Approve requests targeting Staging"),
            ("approve_production_registeredmodel", "Approve requests targeting Production"),
            ("manage_registeredmodel", "Manage access, rename, delete and policies"),
            # Registry-wide, not per model: kept under the registry's label, as operators grant it.
            ("manage_registry_webhooks", "Manage registry-wide webhooks"),
        ]

    def __str__(self) -> str:
        return self.name


class RegisteredModelTag(models.Model):
    """A key/value tag on a registered model."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "key"], name="uniq_model_tag_key")]
        indexes = [models.Index(fields=["key"], name="model_tag_key")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class LiveVersionManager(models.Manager):
    """Versions that are not deleted: every normal read (and every related `model.versions`)."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class ModelVersion(models.Model):
    """One numbered version of a registered model, pointing at its artifacts.

    A version that was ever governed (it has transition requests, or holds a governed target) is
    never hard-deleted: deleting it stamps `deleted_at` (a tombstone), which hides it from every read
    through `objects`, while its requests, approvals and evidence still reach it through their
    foreign keys (Django's base manager) and `all_objects`.
    """

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.IntegerField()
    source = models.TextField(help_text="The source URI as the client sent it.")
    storage_location = models.TextField(
        blank=True,
        default="",
        help_text="Where the artifacts are read from (resolved source or governed copy).",
    )
    run_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    run_link = models.TextField(blank=True, default="")
    logged_model_id = models.CharField(
        max_length=64, blank=True, default="", help_text="MLflow 3 logged model id."
    )
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=32, choices=VersionStatus.choices, default=VersionStatus.READY)
    status_message = models.TextField(blank=True, default="")
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.NONE)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Deleted, kept as a tombstone for its governance history."
    )

    objects = LiveVersionManager()
    all_objects = models.Manager()  # noqa: DJ012 (declared after `objects`, which must be the default)

    class Meta:
        base_manager_name = "all_objects"
        ordering = ["model__name", "version"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="uniq_model_version")]
        indexes = [models.Index(fields=["model", "stage", "version"], name="version_stage")]

    def __str__(self) -> str:
        return f"{self.model.name}/v{self.version}"

    @property
    def download_uri(self) -> str:
        return self.storage_location or self.source


class ModelVersionTag(models.Model):
    """A key/value tag on a model version."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "key"], name="uniq_version_tag_key")]
        indexes = [models.Index(fields=["key"], name="version_tag_key")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class ModelAlias(models.Model):
    """A named pointer (champion, challenger, …) from a registered model to one of its versions."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=255)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["alias"]
        constraints = [models.UniqueConstraint(fields=["model", "alias"], name="uniq_model_alias")]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.alias}"


class AliasAssignment(models.Model):
    """History of where an alias pointed and when, for point-in-time resolution."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="alias_history")
    alias = models.CharField(max_length=255)
    version_number = models.IntegerField()
    assigned_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["assigned_at"]
        indexes = [models.Index(fields=["model", "alias", "assigned_at"], name="alias_history_lookup")]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.alias} -> v{self.version_number}"
