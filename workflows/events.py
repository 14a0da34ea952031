"""What the approval workflow says happened."""

from dataclasses import dataclass, field
from typing import Any

from events import DomainEvent
from registry.models import ModelVersion
from workflows.models import TransitionRequest


@dataclass(frozen=True, kw_only=True)
class RequestChanged(DomainEvent):
    """A transition request was filed, approved, rejected, cancelled, expired, applied or failed (`change`)."""

    request: TransitionRequest
    change: str
    comment: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CommentCreated(DomainEvent):
    version: ModelVersion
    comment_id: int
    request_id: int | None
    comment: str
