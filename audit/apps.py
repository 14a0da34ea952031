from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        import events
        from audit import signals  # noqa: F401  (connects the login receivers)
        from audit.recorders import record_event

        # First of all subscribers (audit precedes the apps above it in INSTALLED_APPS): the audit
        # event is appended before anyone else reacts to the change.
        events.subscribe(events.DomainEvent, record_event)
