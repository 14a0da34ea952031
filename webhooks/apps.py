from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Webhook subscriptions, their event outbox and deliveries."""

    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        import events
        from webhooks.services import outbox_write

        events.subscribe(events.DomainEvent, outbox_write)  # outbox rows in the change's transaction
