"""What the model inventory says happened."""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from events import DomainEvent
from inventory.models import InventoryRecord, Validation
from registry.models import ModelVersion


@dataclass(frozen=True, kw_only=True)
class InventoryChanged(DomainEvent):
    record: InventoryRecord
    changed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ValidationRecorded(DomainEvent):
    validation: Validation
    version: ModelVersion


@dataclass(frozen=True, kw_only=True)
class ValidationReviewOverdue(DomainEvent):
    """A version's latest passing validation is past its review date (announced once per validation)."""

    validation: Validation
    version: ModelVersion
    next_review_on: date
