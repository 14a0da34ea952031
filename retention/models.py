from django.conf import settings
from django.db import models

from registry.models import ModelVersion, RegisteredModel


class LegalHold(models.Model):
    """A legal hold on a registered model (all its versions) or one version: nothing it covers is removed."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="legal_holds")
    version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="legal_holds",
        help_text="Empty: the hold covers the whole model.",
    )
    reason = models.TextField(help_text="Why the records must be kept (matter, request, case number).")
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    placed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-placed_at", "-pk"]
        permissions = [("place_legal_hold", "Can place and release legal holds (compliance)")]
        indexes = [models.Index(fields=["model", "released_at"], name="legal_hold_active")]

    def __str__(self) -> str:
        return f"legal hold #{self.pk} on {self.covers}"

    @property
    def active(self) -> bool:
        return self.released_at is None

    @property
    def covers(self) -> str:
        if self.version_id is None:
            return f"model '{self.model.name}'"
        return f"version {self.version.version} of '{self.model.name}'"


class CopyLockRecord(models.Model):
    """How the store locked a version's governed copy (or why it could not: no Object Lock on the bucket)."""

    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="copy_lock")
    applied = models.BooleanField(help_text="The objects were written with S3 Object Lock retention.")
    mode = models.CharField(max_length=16, blank=True, default="")
    retain_until = models.DateTimeField(null=True, blank=True)
    legal_hold = models.BooleanField(default=False)
    detail = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"copy lock of {self.version}: {'applied' if self.applied else 'not applied'}"
