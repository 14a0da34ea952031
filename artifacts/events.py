"""What the artifact pipeline says happened, for the workflow and other subscribers."""

from dataclasses import dataclass

from events import DomainEvent
from registry.models import ModelVersion


@dataclass(frozen=True, kw_only=True)
class GovernedCopyVerified(DomainEvent):
    """Every object of `version` is in the governed store and matched its manifest.

    `request_id`: the transition request the copy was queued for, if any.
    """

    version: ModelVersion
    job_id: int
    request_id: int | None
