from django.apps import AppConfig


class RetentionConfig(AppConfig):
    """Retention classes, legal holds, S3 Object Lock of governed copies and the purge."""

    name = "retention"
    verbose_name = "Retention and legal hold"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        import events
        from registry import ports
        from registry.events import AliasMoved, StageChanged
        from retention import rules, services

        try:
            rules.classes_parse(settings.QUORUM_RETENTION_CLASSES)
        except rules.RetentionConfigError as exc:
            raise ImproperlyConfigured(f"QUORUM_RETENTION_CLASSES: {exc}")
        if settings.QUORUM_OBJECT_LOCK_MODE not in rules.OBJECT_LOCK_MODES:
            raise ImproperlyConfigured("QUORUM_OBJECT_LOCK_MODE must be GOVERNANCE or COMPLIANCE.")
        ports.retention_install(services.HoldRetention())
        events.subscribe(StageChanged, services.copy_retention_follow)
        events.subscribe(AliasMoved, services.copy_retention_follow)
