"""Shared plumbing for the access commands: operator identity in audit events, clear errors."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError

from audit.context import current_task_name
from registry.errors import RegistryError


@contextmanager
def as_operator(command: str) -> Iterator[None]:
    """Audit events recorded inside name the command (actor 'system', detail 'manage.py <command>')."""
    reset = current_task_name.set(f"manage.py {command}")
    try:
        yield
    except RegistryError as exc:
        raise CommandError(exc.message)
    finally:
        current_task_name.reset(reset)
