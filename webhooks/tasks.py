"""Celery tasks of the webhooks: thin wrappers that take ids and call services."""

from celery import shared_task

from audit.context import current_task_name
from webhooks import services


@shared_task(name=services.DELIVER_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def webhook_deliver(delivery_pk: int) -> str:
    """One attempt of one delivery. Safe to run twice: the claim skips sent, dead and leased deliveries.

    Failures are not Celery retries: the delivery row keeps its own schedule (backoff, retry window,
    dead letter), which survives a broker restart and shows in the delivery log.
    """
    context = current_task_name.set(services.DELIVER_TASK)
    try:
        return services.delivery_attempt(delivery_pk)
    finally:
        current_task_name.reset(context)


@shared_task(name="registry.webhooks.tasks.deliveries_sweep", ignore_result=True)
def deliveries_sweep() -> int:
    """Celery beat: publish again due deliveries nobody picked up (broker outage, lost worker, retries)."""
    context = current_task_name.set("registry.webhooks.tasks.deliveries_sweep")
    try:
        return services.deliveries_sweep()
    finally:
        current_task_name.reset(context)
