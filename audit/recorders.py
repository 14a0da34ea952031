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


def _model_created(event: registry.ModelCreated) -> None:
    model = event.model
    event_record(
        actor=event.actor,
        action=Action.MODEL_CREATED,
        target=model,
        model_name=model.name,
        after={"name": model.name, "description": model.description, "tags": event.tags},
    )


def _model_renamed(event: registry.ModelRenamed) -> None:
    model = event.model
    event_record(
        actor=event.actor,
        action=Action.MODEL_RENAMED,
        target=model,
        model_name=model.name,
        before={"name": event.previous_name},
        after={"name": model.name},
    )


def _model_updated(event: registry.ModelUpdated) -> None:
    model = event.model
    event_record(
        actor=event.actor,
        action=Action.MODEL_UPDATED,
        target=model,
        model_name=model.name,
        before={"description": event.previous_description},
        after={"description": model.description},
    )


def _model_deleted(event: registry.ModelDeleted) -> None:
    model = event.model
    event_record(
        actor=event.actor,
        action=Action.MODEL_DELETED,
        target=model,
        model_name=model.name,
        before={"versions": event.versions, "aliases": event.aliases},
    )


def _model_tag_set(event: registry.ModelTagSet) -> None:
    model = event.model
    event_record(
        actor=event.actor,
        action=Action.MODEL_TAG_SET,
        target=model,
        model_name=model.name,
        before={event.key: event.previous} if event.previous is not None else None,
        after={event.key: event.value},
    )


def _model_tag_deleted(event: registry.ModelTagDeleted) -> None:
    model = event.model
    event_record(
        actor=event.actor,
        action=Action.MODEL_TAG_DELETED,
        target=model,
        model_name=model.name,
        before={event.key: event.value},
    )


def _version_created(event: registry.VersionCreated) -> None:
    version = event.version
    event_record(
        actor=event.actor,
        action=Action.VERSION_CREATED,
        target=version,
        model_name=version.model.name,
        version=version.version,
        after={
            "source": version.source,
            "storage_location": version.storage_location,
            "run_id": version.run_id,
            "model_id": version.logged_model_id,
            "tags": event.tags,
        },
    )


def _version_updated(event: registry.VersionUpdated) -> None:
    version = event.version
    event_record(
        actor=event.actor,
        action=Action.VERSION_UPDATED,
        target=version,
        model_name=version.model.name,
        version=version.version,
        before={"description": event.previous_description},
        after={"description": version.description},
    )


def _version_deleted(event: registry.VersionDeleted) -> None:
    version = event.version
    event_record(
        actor=event.actor,
        action=Action.VERSION_DELETED,
        target=version,
        model_name=version.model.name,
        version=version.version,
        before={"stage": version.stage, "aliases": event.aliases, "source": version.source},
    )


def _version_tag_set(event: registry.VersionTagSet) -> None:
    version = event.version
    event_record(
        actor=event.actor,
        action=Action.VERSION_TAG_SET,
        target=version,
        model_name=version.model.name,
        version=version.version,
        before={event.key: event.previous} if event.previous is not None else None,
        after={event.key: event.value},
    )


def _version_tag_deleted(event: registry.VersionTagDeleted) -> None:
    version = event.version
    event_record(
        actor=event.actor,
        action=Action.VERSION_TAG_DELETED,
        target=version,
        model_name=version.model.name,
        version=version.version,
        before={event.key: event.value},
    )


def _stage_changed(event: registry.StageChanged) -> None:
    version = event.version
    event_record(
        actor=event.actor,
        action=Action.VERSION_STAGE_CHANGED,
        target=version,
        model_name=version.model.name,
        version=version.version,
        before={"stage": event.previous},
        after={"stage": event.current, "archived_versions": event.archived},
        reason=event.reason,
    )


def _alias_moved(event: registry.AliasMoved) -> None:
    model = event.model
    event_record(
        actor=event.actor,
        action=Action.ALIAS_SET,
        target=model,
        target_name=f"{model.name}@{event.alias}",
        model_name=model.name,
        version=event.current.version,
        before={"alias": event.alias, "version": event.previous},
        after={"alias": event.alias, "version": event.current.version},
        reason=event.reason,
    )


def _alias_deleted(event: registry.AliasDeleted) -> None:
    model = event.model
    event_record(
        actor=event.actor,
        action=Action.ALIAS_DELETED,
        target=model,
        target_name=f"{model.name}@{event.alias}",
        model_name=model.name,
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
