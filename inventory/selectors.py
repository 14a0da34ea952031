"""Every user-facing read of the model inventory, starting from the models the user may see."""

from datetime import date
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from inventory import reports, rules
from inventory.models import PASSING_OUTCOMES, InventoryRecord, LifecycleStatus, ModelCard, Validation
from registry.errors import InvalidParameter, NotFound
from registry.models import ModelVersion, Stage
from registry.selectors import model_version_get, registered_model_get, registered_models_visible_to


def risk_tiers() -> tuple[rules.RiskTier, ...]:
    """The organisation's risk tiers (QUORUM_RISK_TIERS)."""
    return rules.tiers_parse(settings.QUORUM_RISK_TIERS)


def tiers_described() -> list[dict[str, Any]]:
    return [{"name": t.name, "review_interval_days": t.review_interval_days} for t in risk_tiers()]


_production_validation = Validation.objects.filter(
    version__model_id=OuterRef("model_id"), version__version=OuterRef("production_version")
).order_by("-validated_on", "-pk")


def inventory_visible_to(
    user: Any, *, tier: str | None = None, status: str | None = None, tag: str | None = None
) -> QuerySet[InventoryRecord]:
    """Inventory records of the models `user` may read, filtered; each with its production version number."""
    if status and status not in LifecycleStatus.values:
        raise InvalidParameter(f"status must be one of {', '.join(LifecycleStatus.values)}.", field="status")
    production = (
        ModelVersion.objects.filter(model_id=OuterRef("model_id"), stage=Stage.PRODUCTION)
        .order_by("-version")
        .values("version")[:1]
    )
    rows = (
        InventoryRecord.objects.filter(model__in=registered_models_visible_to(user).values("pk"))
        .select_related("model", "developer")
        .annotate(production_version=Subquery(production))
        .annotate(
            production_validation_outcome=Subquery(_production_validation.values("outcome")[:1]),
            production_next_review_on=Subquery(_production_validation.values("next_review_on")[:1]),
        )
        .order_by("model__name")
    )
    if tier:
        rows = rows.filter(risk_tier=tier)
    if status:
        rows = rows.filter(lifecycle_status=status)
    if tag:
        rows = rows.filter(regulatory_tags__contains=[tag])
    return rows


def inventory_get(user: Any, name: str) -> InventoryRecord:
    """One model's inventory record (NotFound when the model is missing or hidden from `user`)."""
    model = registered_model_get(user, name)
    record = inventory_visible_to(user).filter(model=model).first()
    if record is None:  # every model gets one when created (and the migration made the others')
        raise NotFound(f"Registered model '{name}' has no inventory record.")
    return record


def inventory_report(
    user: Any, *, tier: str | None = None, status: str | None = None, tag: str | None = None
) -> list[dict[str, Any]]:
    """The inventory report's rows for the models `user` may read."""
    intervals = {t.name: t.review_interval_days for t in risk_tiers()}
    records = inventory_visible_to(user, tier=tier, status=status, tag=tag)
    return reports.inventory_rows(records, intervals, timezone.localdate())


def validations_of(user: Any, name: str, version: int) -> QuerySet[Validation]:
    """A visible version's validations, newest first."""
    row = model_version_get(user, name, version)
    return Validation.objects.filter(version=row).select_related("validator").prefetch_related("findings")


def _latest_per_version() -> QuerySet[Validation]:
    newest = Validation.objects.filter(version_id=OuterRef("version_id")).order_by("-validated_on", "-pk")
    return Validation.objects.filter(pk=Subquery(newest.values("pk")[:1]), version__deleted_at__isnull=True)


def validations_overdue(today: date) -> QuerySet[Validation]:
    """Every version's latest validation that passed and is past its review date (not filtered by user)."""
    return (
        _latest_per_version()
        .filter(outcome__in=PASSING_OUTCOMES, next_review_on__lt=today)
        .select_related("version__model", "validator")
        .order_by("next_review_on", "pk")
    )


def validations_overdue_visible_to(user: Any, today: date) -> QuerySet[Validation]:
    """The overdue-review report: overdue validations of the models `user` may read."""
    return validations_overdue(today).filter(
        version__model__in=registered_models_visible_to(user).values("pk")
    )


def model_card_get(user: Any, name: str, version: int) -> ModelCard:
    """A visible version's model card (NotFound when it has none, or the version is hidden)."""
    row = model_version_get(user, name, version)
    card = ModelCard.objects.filter(version=row).select_related("version__model", "approved_by").first()
    if card is None:
        raise NotFound(f"Version {version} of '{name}' has no model card.")
    return card


def model_cards_visible_to(user: Any) -> QuerySet[ModelCard]:
    return ModelCard.objects.filter(
        version__model__in=registered_models_visible_to(user).values("pk"), version__deleted_at__isnull=True
    ).select_related("version__model", "author", "approved_by")
