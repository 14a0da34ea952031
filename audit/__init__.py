"""Audit trail. Every app records through `audit.record(...)` inside its own transaction."""

from typing import Any


def record(**kwargs: Any):
    """Append one audit event to the hash chain; see `audit.services.event_record`."""
    from audit.services import event_record

    return event_record(**kwargs)
