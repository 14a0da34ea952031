"""What the artifact pipeline says happened, for the workflow, webhooks and other subscribers."""

from dataclasses import dataclass, field
from typing import Any

from events import DomainEvent
from registry.models import ModelVersion


@dataclass(frozen=True, kw_only=True)
class ValidationFinished(DomainEvent):
    """A version's artifacts were inspected: `outcome` is validated, unvalidated or failed."""

    version: ModelVersion
    outcome: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class GovernedCopyFinished(DomainEvent):
    """A governed copy ended; `succeeded`: every object of `version` is in the governed store and matched
    its manifest. `request_id`: the transition request the copy was queued for, if any."""

    version: ModelVersion
    succeeded: bool
    job_id: int
    request_id: int | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class DeploymentReported(DomainEvent):
    """A serving system reported loading `version`; `drift`: its files are not the ones Quorum attested."""

    version: ModelVersion
    deployment_id: int
    environment: str
    endpoint: str
    alias: str
    reported_digest: str
    expected_digest: str
    drift: bool
    drift_reason: str
