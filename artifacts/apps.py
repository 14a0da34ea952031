from django.apps import AppConfig


class ArtifactsConfig(AppConfig):
    """Artifact stores, validation on registration and governed copies."""

    name = "artifacts"
    verbose_name = "Artifact pipeline"

    def ready(self) -> None:
        from artifacts.services import ValidationOnRegistration
        from artifacts.stores import governed_store_list, governed_store_put, governed_store_read
        from audit.checkpoint_store import checkpoint_sink_install
        from registry import ports

        ports.registration_install(ValidationOnRegistration())
        checkpoint_sink_install(governed_store_put, governed_store_list, governed_store_read)
