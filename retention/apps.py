from django.apps import AppConfig


class RetentionConfig(AppConfig):
    """Retention classes, legal holds, S3 Object Lock of governed copies and the purge."""

    name = "retention"
    verbose_name = "Retention and legal hold"

    def ready(self) -> None:
        import events
        from registry import ports
        from registry.events import AliasMoved, StageChanged
        from retention import services

        ports.retention_install(services.HoldRetention())
        events.subscribe(StageChanged, services.copy_retention_follow)
        events.subscribe(AliasMoved, services.copy_retention_follow)
