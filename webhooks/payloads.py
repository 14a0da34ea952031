"""The JSON bodies of webhook events, in MLflow 3's envelope: {entity, action, timestamp, data}.

Each body is built here from the typed domain event, by this module's own code: never from the
audit record of the same change (renaming an audit key cannot change a public payload).

MLflow's own events carry exactly MLflow's `data` keys (mlflow/webhooks/types.py), so receivers
written for MLflow work unchanged; Quorum's events use the same envelope with their own keys.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from artifacts.events import DeploymentReported, GovernedCopyFinished, ValidationFinished
from inventory.events import ValidationRecorded, ValidationReviewOverdue
from registry import prompts
from registry.events import (
    AliasDeleted,
    AliasMoved,
    ModelCreated,
    ModelTagDeleted,
    ModelTagSet,
    StageChanged,
    VersionCreated,
    VersionDeleted,
    VersionTagDeleted,
    VersionTagSet,
)
from workflows.events import CommentCreated, RequestChanged


def _version(value: Any) -> str | None:
    return None if value is None else str(value)


Raised = list[tuple[str, dict[str, Any]]]  # (webhook event name, its `data`)


def _of_version(version: Any, **data: Any) -> dict[str, Any]:
    """A version's payload: its model's name and its number (a string, as MLflow sends it), then `data`."""
    return {"name": version.model.name, "version": _version(version.version), **data}


def _prompt_tags(tags: dict[str, str], *hidden: str) -> dict[str, str]:
    """A prompt's tags as MLflow's server sends them: without its internal prompt tags."""
    return {k: v for k, v in tags.items() if k not in prompts.PAYLOAD_HIDDEN_TAG_KEYS and k not in hidden}


def model_created(event: ModelCreated) -> Raised:
    model = event.model
    if event.prompt:
        tags = _prompt_tags(event.tags)
        return [
            ("prompt.created", {"name": model.name, "tags": tags, "description": model.description or None})
        ]
    return [
        (
            "registered_model.created",
            {"name": model.name, "tags": event.tags, "description": model.description or None},
        )
    ]


def version_created(event: VersionCreated) -> Raised:
    """A prompt version raises `prompt_version.created` (never `model_version.created`), as on MLflow."""
    version = event.version
    if event.prompt:
        data = _of_version(
            version,
            template=event.tags.get(prompts.PROMPT_TEXT_TAG_KEY),
            tags=_prompt_tags(event.tags, prompts.PROMPT_TEXT_TAG_KEY),
            description=version.description or None,
        )
        return [("prompt_version.created", data)]
    data = _of_version(
        version,
        source=version.source,
        run_id=version.run_id or None,
        tags=event.tags,
        description=version.description or None,
    )
    return [("model_version.created", data)]


def model_tag_set(event: ModelTagSet) -> Raised:
    """MLflow raises no event for a model's tags, only for a prompt's."""
    if not event.prompt:
        return []
    return [("prompt_tag.set", {"name": event.model.name, "key": event.key, "value": event.value})]


def model_tag_deleted(event: ModelTagDeleted) -> Raised:
    if not event.prompt:
        return []
    return [("prompt_tag.deleted", {"name": event.model.name, "key": event.key})]


def _entity(prompt: bool, model_entity: str, prompt_entity: str) -> str:
    return prompt_entity if prompt else model_entity


def version_tag_set(event: VersionTagSet) -> Raised:
    entity = _entity(event.prompt, "model_version_tag", "prompt_version_tag")
    return [(f"{entity}.set", _of_version(event.version, key=event.key, value=event.value))]


def version_tag_deleted(event: VersionTagDeleted) -> Raised:
    entity = _entity(event.prompt, "model_version_tag", "prompt_version_tag")
    return [(f"{entity}.deleted", _of_version(event.version, key=event.key))]


def alias_moved(event: AliasMoved) -> Raised:
    """MLflow raises `model_version_alias.created` on every set; Quorum adds `moved` when it pointed elsewhere."""
    name, current = event.model.name, event.current.version
    if event.prompt:  # MLflow's prompt alias event; `moved` is Quorum's, for models
        return [("prompt_alias.created", {"name": name, "alias": event.alias, "version": _version(current)})]
    raised: Raised = [
        ("model_version_alias.created", {"name": name, "alias": event.alias, "version": _version(current)})
    ]
    if event.previous is not None and event.previous != current:
        moved = {
            "name": name,
            "alias": event.alias,
            "from_version": _version(event.previous),
            "to_version": _version(current),
        }
        raised.append(("model_version_alias.moved", moved))
    return raised


def alias_deleted(event: AliasDeleted) -> Raised:
    entity = _entity(event.prompt, "model_version_alias", "prompt_alias")
    return [(f"{entity}.deleted", {"name": event.model.name, "alias": event.alias})]


def stage_changed(event: StageChanged) -> Raised:
    data = _of_version(
        event.version,
        from_stage=event.previous,
        to_stage=event.current,
        archived_versions=[str(v) for v in event.archived],
        reason=event.reason or None,
    )
    return [("model_version.stage_transitioned", data)]


def version_deleted(event: VersionDeleted) -> Raised:
    version = event.version
    return [("model_version.deleted", _of_version(version, stage=version.stage, aliases=event.aliases))]


REQUEST_CHANGES_RAISED = ("created", "approved", "rejected", "cancelled", "applied", "failed")


def request_changed(event: RequestChanged) -> Raised:
    if event.change not in REQUEST_CHANGES_RAISED:
        return []
    request = event.request
    data = {
        "name": request.model.name,
        "version": _version(request.version.version),
        "request_id": str(request.pk),
        "state": request.state,
        "target": request.target_label,
        "comment": event.comment or None,
        **_json(event.details),
    }
    return [(f"transition_request.{event.change}", data)]


def comment_created(event: CommentCreated) -> Raised:
    data = _of_version(
        event.version, comment_id=event.comment_id, request_id=event.request_id, comment=event.comment
    )
    return [("comment.created", data)]


def validation_finished(event: ValidationFinished) -> Raised:
    data = _of_version(event.version, outcome=event.outcome, **_json(event.details))
    return [("model_version.validation_finished", data)]


def governed_copy_finished(event: GovernedCopyFinished) -> Raised:
    outcome = "succeeded" if event.succeeded else "failed"
    data = _of_version(event.version, outcome=outcome, **_json(event.details))
    return [("model_version.governed_copy_finished", data)]


def deployment_reported(event: DeploymentReported) -> Raised:
    data = _of_version(
        event.version,
        deployment_id=str(event.deployment_id),
        environment=event.environment,
        endpoint=event.endpoint,
        alias=event.alias or None,
        digest=event.reported_digest,
        expected_digest=event.expected_digest or None,
        drift=event.drift,
        drift_reason=event.drift_reason or None,
    )
    raised = [("model_version.deployed", data)]
    if event.drift:
        raised.append(("model_version.deployment_drift", data))
    return raised


def independent_validation_recorded(event: ValidationRecorded) -> Raised:
    validation = event.validation
    data = _of_version(
        event.version,
        validation_id=validation.pk,
        outcome=validation.outcome,
        validator=validation.validator.get_username(),
        next_review_on=validation.next_review_on.isoformat() if validation.next_review_on else None,
    )
    return [("model_version.independent_validation_recorded", data)]


def validation_review_overdue(event: ValidationReviewOverdue) -> Raised:
    data = _of_version(
        event.version, validation_id=event.validation.pk, next_review_on=event.next_review_on.isoformat()
    )
    return [("model_version.validation_review_overdue", data)]


def _json(value: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON values (a receiver sees what the audit trail's normalizer would keep)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


# Which payloads each event raises: the one place that maps domain events to webhook events.
RAISED_BY: dict[type, Callable[[Any], Raised]] = {
    ModelCreated: model_created,
    ModelTagSet: model_tag_set,
    ModelTagDeleted: model_tag_deleted,
    VersionCreated: version_created,
    VersionTagSet: version_tag_set,
    VersionTagDeleted: version_tag_deleted,
    AliasMoved: alias_moved,
    AliasDeleted: alias_deleted,
    StageChanged: stage_changed,
    VersionDeleted: version_deleted,
    RequestChanged: request_changed,
    CommentCreated: comment_created,
    ValidationFinished: validation_finished,
    GovernedCopyFinished: governed_copy_finished,
    DeploymentReported: deployment_reported,
    ValidationRecorded: independent_validation_recorded,
    ValidationReviewOverdue: validation_review_overdue,
}


def envelope(event: str, data: dict[str, Any], *, actor: str = "", audit_seq: int | None = None) -> str:
    """The body sent, serialized once so every attempt signs and sends the same bytes."""
    entity, _, action = event.partition(".")
    body = {
        "entity": entity,
        "action": action,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": data,
    }
    if actor:
        body["actor"] = actor
    if audit_seq is not None:
        body["audit_seq"] = audit_seq
    return json.dumps(body, cls=DjangoJSONEncoder)


# What `test` sends for each event (MLflow sends its types' example() payloads).
EXAMPLES: dict[str, dict[str, Any]] = {
    "registered_model.created": {
        "name": "example_model",
        "tags": {"example_key": "example_value"},
        "description": "An example registered model",
    },
    "model_version.created": {
        "name": "example_model",
        "version": "1",
        "source": "models:/123",
        "run_id": "abcd1234abcd5678",
        "tags": {"example_key": "example_value"},
        "description": "An example model version",
    },
    "model_version_tag.set": {
        "name": "example_model",
        "version": "1",
        "key": "example_key",
        "value": "example_value",
    },
    "model_version_tag.deleted": {"name": "example_model", "version": "1", "key": "example_key"},
    "model_version_alias.created": {"name": "example_model", "alias": "example_alias", "version": "1"},
    "model_version_alias.deleted": {"name": "example_model", "alias": "example_alias"},
    # MLflow's example() payloads of the prompt events (mlflow/webhooks/types.py).
    "prompt.created": {
        "name": "example_prompt",
        "tags": {"example_key": "example_value"},
        "description": "An example prompt",
    },
    "prompt_version.created": {
        "name": "example_prompt",
        "version": "1",
        "template": "Hello {{name}}!",
        "tags": {"example_key": "example_value"},
        "description": "An example prompt version",
    },
    "prompt_tag.set": {"name": "example_prompt", "key": "example_key", "value": "example_value"},
    "prompt_tag.deleted": {"name": "example_prompt", "key": "example_key"},
    "prompt_version_tag.set": {
        "name": "example_prompt",
        "version": "1",
        "key": "example_key",
        "value": "example_value",
    },
    "prompt_version_tag.deleted": {"name": "example_prompt", "version": "1", "key": "example_key"},
    "prompt_alias.created": {"name": "example_prompt", "alias": "example_alias", "version": "1"},
    "prompt_alias.deleted": {"name": "example_prompt", "alias": "example_alias"},
    "model_version_alias.moved": {
        "name": "example_model",
        "alias": "champion",
        "from_version": "1",
        "to_version": "2",
    },
}


def example_data(event: str) -> dict[str, Any]:
    return EXAMPLES.get(event, {"name": "example_model", "version": "1", "example": True})
