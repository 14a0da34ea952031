"""Celery tasks of the accounts app: thin wrappers around accounts.services."""

import dataclasses

from celery import shared_task

from accounts import services
from audit.context import current_task_name

WINDOWS_CLOSE_TASK = "accounts.tasks.sign_in_failure_windows_close"


@shared_task(name=WINDOWS_CLOSE_TASK, acks_late=True, ignore_result=True)
def sign_in_failure_windows_close() -> int:
    """Audit the totals of ended failed-sign-in windows; safe to run twice (each is closed once)."""
    reset = current_task_name.set(WINDOWS_CLOSE_TASK)
    try:
        return services.sign_in_failure_windows_close()
    finally:
        current_task_name.reset(reset)


IDENTITIES_SYNC_TASK = "accounts.tasks.identities_sync"


@shared_task(name=IDENTITIES_SYNC_TASK, acks_late=True, ignore_result=True)
def identities_sync() -> dict[str, int]:
    """Ask the identity provider about every linked person (accounts.oidc.identities_sync)."""
    from accounts import oidc

    reset = current_task_name.set(IDENTITIES_SYNC_TASK)
    try:
        return dataclasses.asdict(oidc.identities_sync())
    finally:
        current_task_name.reset(reset)
