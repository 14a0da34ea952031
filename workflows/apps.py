from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    """Promotion policies, transition requests, approvals and the version timeline."""

    name = "workflows"
    verbose_name = "Approval workflow"

    def ready(self) -> None:
        import events
        from artifacts.events import GovernedCopyFinished, ValidationFinished
        from registry import ports
        from registry.events import AliasMoved, StageChanged, VersionDeleted
        from workflows import services

        ports.governance_install(services.PolicyGovernance())
        events.subscribe(StageChanged, services.direct_change_timeline)
        events.subscribe(AliasMoved, services.direct_change_timeline)
        events.subscribe(GovernedCopyFinished, services.copy_verified_apply)
        events.subscribe(VersionDeleted, services.version_deleted_requests_close)
        events.subscribe(ValidationFinished, services.validation_finished_evidence_refresh)
