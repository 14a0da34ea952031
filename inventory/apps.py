from django.apps import AppConfig


class InventoryConfig(AppConfig):
    """The model inventory (risk tier, owners, lifecycle), independent validations and model cards."""

    name = "inventory"
    verbose_name = "Model inventory"

    def ready(self) -> None:
        import events
        from inventory import services
        from registry.events import ModelCreated
        from workflows import ports

        events.subscribe(ModelCreated, services.inventory_record_create)
        ports.evidence_install(services.InventoryEvidence())
