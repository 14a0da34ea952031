"""Celery tasks of the audit app: thin wrappers around audit.services."""

import logging

from celery import shared_task

from audit.context import current_task_name
from audit.keys import CheckpointKeyUnavailable
from audit.services import checkpoint_after_privileged_change, checkpoint_create

logger = logging.getLogger(__name__)

CHECKPOINT_TASK = "audit.tasks.audit_checkpoint_periodic"
CHECKPOINT_AFTER_CHANGE_TASK = "audit.tasks.audit_checkpoint_after_change"


@shared_task(name=CHECKPOINT_TASK, acks_late=True, ignore_result=True)
def audit_checkpoint_periodic() -> int | None:
    """Sign the chain head if anything happened since the last checkpoint; safe to run twice."""
    reset = current_task_name.set(CHECKPOINT_TASK)
    try:
        checkpoint = checkpoint_create(actor="system", skip_if_unchanged=True)
    except CheckpointKeyUnavailable as exc:
        # Not transient: retrying cannot conjure a key. Say so loudly on every beat.
        logger.error("audit checkpoint skipped: %s", exc)
        return None
    finally:
        current_task_name.reset(reset)
    return checkpoint.seq if checkpoint else None


@shared_task(name=CHECKPOINT_AFTER_CHANGE_TASK, acks_late=True, ignore_result=True)
def audit_checkpoint_after_change() -> int | None:
    """The checkpoint after a privileged change (audit/privileged.py), when a broker runs tasks."""
    try:
        checkpoint = checkpoint_after_privileged_change()
    except CheckpointKeyUnavailable as exc:
        logger.error("audit checkpoint after a privileged change skipped: %s", exc)
        return None
    return checkpoint.seq if checkpoint else None
