"""Celery autodiscovery looks for `<app>.tasks`; the registry's tasks live in its sub-packages."""

from registry.artifacts.tasks import artifacts_copy, artifacts_validate, outbox_redispatch
from registry.webhooks.tasks import deliveries_sweep, webhook_deliver
from registry.workflows.tasks import transition_requests_expire_periodic

__all__ = [
    "artifacts_copy",
    "artifacts_validate",
    "deliveries_sweep",
    "outbox_redispatch",
    "transition_requests_expire_periodic",
    "webhook_deliver",
]
