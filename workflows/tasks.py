"""Celery tasks of the approval workflow: thin wrappers around services."""

from celery import shared_task

from audit.context import current_task_name
from workflows import services


# Named as before the workflow became an app of its own: queued messages and beat schedules use it.
@shared_task(
    name="registry.workflows.tasks.transition_requests_expire_periodic", acks_late=True, ignore_result=True
)
def transition_requests_expire_periodic() -> int:
    """Beat: expire stale pending requests (idempotent: an expired request is no longer pending)."""
    context = current_task_name.set("registry.workflows.tasks.transition_requests_expire_periodic")
    try:
        return services.transition_requests_expire()
    finally:
        current_task_name.reset(context)
