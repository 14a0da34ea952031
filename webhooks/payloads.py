"""The JSON bodies of webhook events, in MLflow 3's envelope: {entity, action, timestamp, data}.

MLflow's own events carry exactly MLflow's `data` keys (mlflow/webhooks/types.py), so receivers
written for MLflow work unchanged; Quorum's events use the same envelope with their own keys.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _version(value: Any) -> str | None:
    return None if value is None else str(value)


def event_data(event: str, audit_event: Any, *, description: str | None = None) -> dict[str, Any]:
    """The `data` of one event, from the audit event that raised it (which already has secrets scrubbed)."""
    before, after = _dict(audit_event.before), _dict(audit_event.after)
    name, version = audit_event.model_name, _version(audit_event.version)
    if event == "registered_model.created":
        return {
            "name": name,
            "tags": after.get("tags") or {},
            "description": after.get("description") or None,
        }
    if event == "model_version.created":
        return {
            "name": name,
            "version": version,
            "source": after.get("source", ""),
            "run_id": after.get("run_id") or None,
            "tags": after.get("tags") or {},
            "description": description or None,
        }
    if event == "model_version_tag.set":
        key, value = next(iter(after.items()), ("", ""))
        return {"name": name, "version": version, "key": key, "value": value}
    if event == "model_version_tag.deleted":
        return {"name": name, "version": version, "key": next(iter(before), "")}
    if event == "model_version_alias.created":
        return {"name": name, "alias": after.get("alias", ""), "version": version}
    if event == "model_version_alias.deleted":
        return {"name": name, "alias": before.get("alias", "")}
    if event == "model_version_alias.moved":
        return {
            "name": name,
            "alias": after.get("alias", ""),
            "from_version": _version(before.get("version")),
            "to_version": _version(after.get("version")),
        }
    if event == "model_version.stage_transitioned":
        return {
            "name": name,
            "version": version,
            "from_stage": before.get("stage"),
            "to_stage": after.get("stage"),
            "archived_versions": [str(v) for v in after.get("archived_versions") or []],
            "reason": audit_event.reason or None,
        }
    if event == "model_version.deleted":
        return {
            "name": name,
            "version": version,
            "stage": before.get("stage"),
            "aliases": before.get("aliases") or [],
        }
    if event.startswith("transition_request."):
        extra = {k: v for k, v in after.items() if k not in ("state", "target")}
        return {
            "name": name,
            "version": version,
            "request_id": audit_event.target_id,
            "state": after.get("state"),
            "target": after.get("target"),
            "comment": audit_event.reason or None,
            **extra,
        }
    if event == "comment.created":
        return {
            "name": name,
            "version": version,
            "comment_id": after.get("comment_id"),
            "request_id": after.get("request_id"),
            "comment": after.get("comment", ""),
        }
    if event == "model_version.validation_finished":
        if audit_event.action == "artifacts.failed":
            outcome = "failed"
        else:
            outcome = "validated" if after.get("validated") else "unvalidated"
        return {"name": name, "version": version, "outcome": outcome, **after}
    if event == "model_version.governed_copy_finished":
        outcome = "failed" if audit_event.action == "artifacts.failed" else "succeeded"
        return {"name": name, "version": version, "outcome": outcome, **after}
    return {"name": name, "version": version}


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
    "model_version_alias.moved": {
        "name": "example_model",
        "alias": "champion",
        "from_version": "1",
        "to_version": "2",
    },
}


def example_data(event: str) -> dict[str, Any]:
    return EXAMPLES.get(event, {"name": "example_model", "version": "1", "example": True})
