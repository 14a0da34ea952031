"""Inventory records of registered models, and independent validations of their versions."""

from django.conf import settings
from django.db import models

from registry.models import ModelVersion, RegisteredModel


class LifecycleStatus(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    IN_USE = "in_use", "In use"
    RETIRED = "retired", "Retired"


class InventoryRecord(models.Model):
    """What the organisation's model inventory says of one registered model."""

    model = models.OneToOneField(RegisteredModel, on_delete=models.CASCADE, related_name="inventory")
    risk_tier = models.CharField(
        max_length=64, blank=True, default="", help_text="One of QUORUM_RISK_TIERS; empty: not yet tiered."
    )
    intended_use = models.TextField(blank=True, default="")
    business_owner = models.CharField(max_length=200, blank=True, default="")
    developer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # independence checks need to know who built it
        related_name="+",
    )
    third_party = models.BooleanField(default=False, help_text="Bought or licensed, not built in-house.")
    lifecycle_status = models.CharField(
        max_length=16, choices=LifecycleStatus.choices, default=LifecycleStatus.DEVELOPMENT
    )
    regulatory_tags = models.JSONField(
        default=list, blank=True, help_text="Free regulatory-scope tags (e.g. eu-ai-act-high-risk, sr-26-2)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model__name"]

    def __str__(self) -> str:
        return f"inventory of {self.model.name}"


class ValidationOutcome(models.TextChoices):
    PASS = "pass", "Pass"
    PASS_WITH_CONDITIONS = "pass_with_conditions", "Pass with conditions"
    FAIL = "fail", "Fail"


PASSING_OUTCOMES = (ValidationOutcome.PASS, ValidationOutcome.PASS_WITH_CONDITIONS)


class FindingSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class RemediationStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    REMEDIATED = "remediated", "Remediated"
    ACCEPTED = "accepted", "Risk accepted"


class Validation(models.Model):
    """One independent validation of a version, as recorded by its validator (kept unaltered)."""

    # Goes with a hard-deleted version, as its tags do (a governed version is tombstoned, so kept).
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="validations")
    validator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    scope = models.TextField()
    conditions = models.TextField(
        blank=True, default="", help_text="Conditions of use (pass with conditions)."
    )
    outcome = models.CharField(max_length=24, choices=ValidationOutcome.choices)
    risk_tier = models.CharField(max_length=64, blank=True, default="", help_text="The model's tier then.")
    validated_on = models.DateField()
    next_review_on = models.DateField(null=True, blank=True, help_text="From the tier's review interval.")
    overdue_notified_on = models.DateField(
        null=True, blank=True, help_text="When the overdue review was announced (once per validation)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-validated_on", "-pk"]
        indexes = [models.Index(fields=["next_review_on"], name="validation_next_review")]

    def __str__(self) -> str:
        return f"validation #{self.pk} of {self.version}: {self.outcome}"


class Finding(models.Model):
    """One finding of a validation: how severe, and where its remediation stands."""

    validation = models.ForeignKey(Validation, on_delete=models.CASCADE, related_name="findings")
    severity = models.CharField(max_length=16, choices=FindingSeverity.choices)
    description = models.TextField()
    remediation_status = models.CharField(
        max_length=16, choices=RemediationStatus.choices, default=RemediationStatus.OPEN
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.severity} finding of validation #{self.validation_id}"


class CardState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"


CARD_SECTIONS = (
    "intended_use",
    "out_of_scope_uses",
    "training_data",
    "evaluation",
    "limitations",
    "ethical_considerations",
    "caveats",
)


class ModelCard(models.Model):
    """A version's model card: structured sections, reviewed Draft -> Submitted -> Approved."""

    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="model_card")
    intended_use = models.TextField(blank=True, default="")
    out_of_scope_uses = models.TextField(blank=True, default="")
    training_data = models.TextField(blank=True, default="")
    evaluation = models.TextField(blank=True, default="")
    limitations = models.TextField(blank=True, default="")
    ethical_considerations = models.TextField(blank=True, default="")
    caveats = models.TextField(blank=True, default="")
    state = models.CharField(max_length=16, choices=CardState.choices, default=CardState.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Everyone who wrote any of it since it was last approved: none of them may approve it.
    contributor_ids = models.JSONField(default=list)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_digest = models.CharField(
        max_length=128, blank=True, default="", help_text="The version's artifact digest the approval covers."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"model card of {self.version}"
