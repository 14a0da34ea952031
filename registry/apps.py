from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        import events
        from audit.services import EVENT_LISTENERS
        from registry import ports
        from registry.artifacts.events import GovernedCopyVerified
        from registry.artifacts.services import ValidationOnRegistration
        from registry.events import AliasMoved, StageChanged
        from registry.webhooks.services import audit_event_listen
        from registry.workflows import services as workflows

        if audit_event_listen not in EVENT_LISTENERS:
            EVENT_LISTENERS.append(audit_event_listen)  # webhook outbox rows in the change's transaction
        ports.registration_install(ValidationOnRegistration())
        ports.governance_install(workflows.PolicyGovernance())
        events.subscribe(StageChanged, workflows.direct_change_timeline)
        events.subscribe(AliasMoved, workflows.direct_change_timeline)
        events.subscribe(GovernedCopyVerified, workflows.copy_verified_apply)
