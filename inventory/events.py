"""What the model inventory says happened."""

from dataclasses import dataclass, field
from typing import Any

from events import DomainEvent
from inventory.models import InventoryRecord


@dataclass(frozen=True, kw_only=True)
class InventoryChanged(DomainEvent):
    record: InventoryRecord
    changed: dict[str, Any] = field(default_factory=dict)
