"""Inventory records of registered models, and independent validations of their versions."""

from django.conf import settings
from django.db import models

from registry.models import RegisteredModel


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
