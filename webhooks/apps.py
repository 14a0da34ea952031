from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Webhook subscriptions, their event outbox and deliveries."""

    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from audit.services import EVENT_LISTENERS
        from webhooks.services import audit_event_listen

        if audit_event_listen not in EVENT_LISTENERS:
            EVENT_LISTENERS.append(audit_event_listen)  # webhook outbox rows in the change's transaction
