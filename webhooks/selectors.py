"""Every user-facing read of the webhooks, filtered to what the user may manage."""

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from accounts.selectors import models_managed_by
from webhooks.models import DeliveryAttempt, Webhook, WebhookDelivery


def webhooks_visible_to(user: Any) -> QuerySet[Webhook]:
    """Registry-wide webhooks for holders of the global permission; per-model ones for MANAGE holders.

    A webhook names a URL and events that are the manager's business, so READ on the model is not enough.
    """
    from webhooks.services import may_manage_registry_webhooks

    if user is None or not user.is_authenticated or not user.is_active:
        return Webhook.objects.none()
    if user.is_superuser:
        return Webhook.objects.all()
    scope = Q(model__in=models_managed_by(user).values("pk"))
    if may_manage_registry_webhooks(user):
        scope |= Q(model__isnull=True)
    return Webhook.objects.filter(scope)


def webhooks_list(user: Any, *, model_name: str | None = None) -> QuerySet[Webhook]:
    queryset = webhooks_visible_to(user).select_related("model", "created_by").order_by("created_at", "pk")
    if model_name is not None:
        queryset = (
            queryset.filter(model__name=model_name) if model_name else queryset.filter(model__isnull=True)
        )
    return queryset


def deliveries_of(webhook: Webhook, *, status: str | None = None) -> QuerySet[WebhookDelivery]:
    """A webhook's delivery log, newest first, each with its attempts, in a fixed number of queries."""
    queryset = (
        WebhookDelivery.objects.filter(webhook=webhook)
        .select_related("record")
        .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number")))
        .order_by("-created_at", "-pk")
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset
