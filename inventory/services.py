"""Every write of the model inventory: one transaction each, the audit event inside."""

from typing import Any

from django.db import transaction

import audit
import events
from access.grants import Level
from accounts.models import User
from audit.models import Action
from inventory import rules, selectors
from inventory.events import InventoryChanged
from inventory.models import InventoryRecord, LifecycleStatus
from registry.errors import InvalidParameter
from registry.events import ModelCreated
from registry.services import registered_model_for_update

INVENTORY_FIELDS = (
    "risk_tier",
    "intended_use",
    "business_owner",
    "developer",
    "third_party",
    "lifecycle_status",
    "regulatory_tags",
)
TEXT_MAX = {"intended_use": 20_000, "business_owner": 200}


def inventory_described(record: InventoryRecord) -> dict[str, Any]:
    return {
        "risk_tier": record.risk_tier,
        "intended_use": record.intended_use,
        "business_owner": record.business_owner,
        "developer": record.developer.get_username() if record.developer_id else None,
        "third_party": record.third_party,
        "lifecycle_status": record.lifecycle_status,
        "regulatory_tags": list(record.regulatory_tags),
    }


def _parsed(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes as field values, or InvalidParameter naming the first bad field."""
    unknown = sorted(set(changes) - set(INVENTORY_FIELDS))
    if unknown:
        raise InvalidParameter(f"Unknown field '{unknown[0]}'.", field=unknown[0])
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("risk_tier", "intended_use", "business_owner", "lifecycle_status"):
            if not isinstance(value, str):
                raise InvalidParameter(f"Field '{name}' must be a string.", field=name)
            if len(value) > TEXT_MAX.get(name, 64):
                raise InvalidParameter(f"Field '{name}' is too long.", field=name)
        if name == "risk_tier":
            refusal = rules.tier_refusal(value, selectors.risk_tiers())
            if refusal:
                raise InvalidParameter(refusal, field=name)
        elif name == "lifecycle_status" and value not in LifecycleStatus.values:
            raise InvalidParameter(
                f"lifecycle_status must be one of {', '.join(LifecycleStatus.values)}.", field=name
            )
        elif name == "third_party" and not isinstance(value, bool):
            raise InvalidParameter("Field 'third_party' must be true or false.", field=name)
        elif name == "regulatory_tags":
            refusal = rules.tags_refusal(value)
            if refusal:
                raise InvalidParameter(refusal, field=name)
            value = sorted(set(value))
        elif name == "developer":
            if value is None or value == "":
                value = None
            elif not isinstance(value, str):
                raise InvalidParameter("Field 'developer' must be a username.", field=name)
            else:
                user = User.objects.filter(username=value).first()
                if user is None:
                    raise InvalidParameter(f"No user named '{value[:150]}'.", field=name)
                value = user
        values[name] = value
    return values


@transaction.atomic
def inventory_update(*, actor: Any, name: str, changes: dict[str, Any]) -> InventoryRecord:
    """Change a model's inventory record (MANAGE on the model); audited with what it was and became."""
    if not isinstance(changes, dict):
        raise InvalidParameter("The request body must be a JSON object.")
    model = registered_model_for_update(actor, name, Level.MANAGE, "Editing the model inventory")
    values = _parsed(changes)
    record, _ = InventoryRecord.objects.select_for_update().get_or_create(model=model)
    before = inventory_described(record)
    for field_name, value in values.items():
        setattr(record, field_name, value)
    record.save()
    after = inventory_described(record)
    changed = {key: after[key] for key in after if after[key] != before[key]}
    audit.record(
        actor=actor,
        action=Action.INVENTORY_CHANGED,
        target=record,
        target_name=model.name,
        model_name=model.name,
        registered_model_id=model.pk,
        before=before,
        after=after,
    )
    events.publish(InventoryChanged(actor=actor, record=record, changed=changed))
    return record


def inventory_record_create(event: ModelCreated) -> None:
    """Subscriber: every new registered model has an inventory record, written in its transaction."""
    InventoryRecord.objects.get_or_create(model=event.model)
