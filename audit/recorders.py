"""The audit trail's own record of each core registry event, built from the typed event.

`record_event` subscribes to every domain event (audit/apps.py) and, being the first subscriber,
appends the audit event before anyone else reacts to the change (the webhook outbox links to its
seq). The core registry never calls the audit trail; the apps above it still record their own
changes directly (audit sits below them).
"""

from collections.abc import Callable
from typing import Any

from audit.models import Action
from audit.services import event_record, superuser_action_record
from events import DomainEvent
from registry import events as registry


def _on_model(event: Any, action: Action, **fields: Any) -> None:
    model = event.model
    event_record(actor=event.actor, action=action, target=model, model_name=model.name, **fields)


def _on_version(event: Any, action: Action, **fields: Any) -> None:
    version = event.version
    event_record(
        actor=event.actor,
        action=action,
        target=version,
        model_name=version.model.name,
        version=version.version,
        **fields,
    )


def _tag_change(key: str, value: str, previous: str | None) -> dict[str, Any]:
    return {"before": {key: previous} if previous is not None else None, "after": {key: value}}


def _model_created(event: registry.ModelCreated) -> None:
    model = event.model
    after = {"name": model.name, "description": model.description, "tags": event.tags}
    _on_model(event, Action.MODEL_CREATED, after=after)


def _model_renamed(event: registry.ModelRenamed) -> None:
    _on_model(
        event, Action.MODEL_RENAMED, before={"name": event.previous_name}, after={"name": event.model.name}
    )


def _model_updated(event: registry.ModelUpdated) -> None:
    before, after = {"description": event.previous_description}, {"description": event.model.description}
    _on_model(event, Action.MODEL_UPDATED, before=before, after=after)


def _model_deleted(event: registry.ModelDeleted) -> None:
    _on_model(event, Action.MODEL_DELETED, before={"versions": event.versions, "aliases": event.aliases})


def _model_tag_set(event: registry.ModelTagSet) -> None:
    _on_model(event, Action.MODEL_TAG_SET, **_tag_change(event.key, event.value, event.previous))


def _model_tag_deleted(event: registry.ModelTagDeleted) -> None:
    _on_model(event, Action.MODEL_TAG_DELETED, before={event.key: event.value})


def _version_created(event: registry.VersionCreated) -> None:
    version = event.version
    after = {
        "source": version.source,
        "storage_location": version.storage_location,
        "run_id": version.run_id,
        "model_id": version.logged_model_id,
        "tags": event.tags,
    }
    _on_version(event, Action.VERSION_CREATED, after=after)


def _version_updated(event: registry.VersionUpdated) -> None:
    before, after = {"description": event.previous_description}, {"description": event.version.description}
    _on_version(event, Action.VERSION_UPDATED, before=before, after=after)


def _version_deleted(event: registry.VersionDeleted) -> None:
    version = event.version
    before = {"stage": version.stage, "aliases": event.aliases, "source": version.source}
    _on_version(event, Action.VERSION_DELETED, before=before)


def _version_tag_set(event: registry.VersionTagSet) -> None:
    _on_version(event, Action.VERSION_TAG_SET, **_tag_change(event.key, event.value, event.previous))


def _version_tag_deleted(event: registry.VersionTagDeleted) -> None:
    _on_version(event, Action.VERSION_TAG_DELETED, before={event.key: event.value})


def _stage_changed(event: registry.StageChanged) -> None:
    after = {"stage": event.current, "archived_versions": event.archived}
    _on_version(
        event,
        Action.VERSION_STAGE_CHANGED,
        before={"stage": event.previous},
        after=after,
        reason=event.reason,
    )


def _alias_moved(event: registry.AliasMoved) -> None:
    number = event.current.version
    _on_model(
        event,
        Action.ALIAS_SET,
        target_name=f"{event.model.name}@{event.alias}",
        version=number,
        before={"alias": event.alias, "version": event.previous},
        after={"alias": event.alias, "version": number},
        reason=event.reason,
    )


def _alias_deleted(event: registry.AliasDeleted) -> None:
    _on_model(
        event,
        Action.ALIAS_DELETED,
        target_name=f"{event.model.name}@{event.alias}",
        version=event.version,
        before={"alias": event.alias, "version": event.version},
    )


def _superuser_power_used(event: registry.SuperuserPowerUsed) -> None:
    superuser_action_record(actor=event.actor, doing=event.doing, target=event.target, needed=event.needed)


RECORDERS: dict[type, Callable[[Any], None]] = {
    registry.ModelCreated: _model_created,
    registry.ModelRenamed: _model_renamed,
    registry.ModelUpdated: _model_updated,
    registry.ModelDeleted: _model_deleted,
    registry.ModelTagSet: _model_tag_set,
    registry.ModelTagDeleted: _model_tag_deleted,
    registry.VersionCreated: _version_created,
    registry.VersionUpdated: _version_updated,
    registry.VersionDeleted: _version_deleted,
    registry.VersionTagSet: _version_tag_set,
    registry.VersionTagDeleted: _version_tag_deleted,
    registry.StageChanged: _stage_changed,
    registry.AliasMoved: _alias_moved,
    registry.AliasDeleted: _alias_deleted,
    registry.SuperuserPowerUsed: _superuser_power_used,
}


def record_event(event: DomainEvent) -> None:
    """Subscriber of every domain event: append the audit record of those the core publishes."""
    recorder = RECORDERS.get(type(event))
    if recorder is not None:
        recorder(event)
