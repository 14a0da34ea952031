"""Celery tasks of the artifact pipeline: thin wrappers that take ids and call services."""

from celery import Task, shared_task

from artifacts import rules, services
from artifacts.stores import StorageUnavailable
from audit.context import current_task_name

# Transient storage errors are retried with exponential backoff up to this many times.
MAX_RETRIES = 6


def _job_task_run(task: Task, job_id: int) -> str:
    """Run one job; retry transient storage errors with backoff, then record the failure."""
    context = current_task_name.set(task.name)
    try:
        return services.job_run(job_id)
    except StorageUnavailable as exc:
        attempt = task.request.retries
        if task.request.is_eager or attempt >= task.max_retries:
            # In-process there is no broker to schedule a retry on: fail now, a person retries.
            services.job_give_up(
                job_id,
                f"{exc} Gave up after {attempt + 1} attempt(s); retry the job once the storage answers.",
            )
            return "gave up"
        raise task.retry(exc=exc, countdown=rules.retry_delay_seconds(attempt))
    finally:
        current_task_name.reset(context)


@shared_task(
    bind=True,
    name=services.VALIDATE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def artifacts_validate(self: Task, job_id: int) -> str:
    """Validate a version's artifacts: manifest, digests, MLmodel, size limit."""
    return _job_task_run(self, job_id)


@shared_task(
    bind=True,
    name=services.COPY_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def artifacts_copy(self: Task, job_id: int) -> str:
    """Copy a validated version to the governed store and verify every object."""
    return _job_task_run(self, job_id)


@shared_task(name="registry.artifacts.tasks.outbox_redispatch", ignore_result=True)
def outbox_redispatch() -> int:
    """Celery beat: publish again outbox messages no worker picked up (e.g. after a broker outage)."""
    context = current_task_name.set("registry.artifacts.tasks.outbox_redispatch")
    try:
        return services.outbox_redispatch()
    finally:
        current_task_name.reset(context)
