"""Celery autodiscovery looks for `<app>.tasks`; the registry's tasks live in its sub-packages."""

from registry.artifacts.tasks import artifacts_copy, artifacts_validate, outbox_redispatch

__all__ = ["artifacts_copy", "artifacts_validate", "outbox_redispatch"]
