from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from audit.services import EVENT_LISTENERS
        from registry.webhooks.services import audit_event_listen

        if audit_event_listen not in EVENT_LISTENERS:
            EVENT_LISTENERS.append(audit_event_listen)  # webhook outbox rows in the change's transaction
