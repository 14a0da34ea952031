from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """The core: registered models, versions, stages, aliases and tags."""

    name = "registry"
    verbose_name = "Model registry"
