"""Registry objects as MLflow's JSON: snake_case, int64 ms timestamps, version as a string, defaults omitted."""

from datetime import datetime
from typing import Any

from registry.models import ModelVersion, RegisteredModel


def timestamp_ms(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value is not None else 0


def _tags(rows) -> list[dict[str, str]]:
    return [{"key": tag.key, "value": tag.value} for tag in sorted(rows, key=lambda t: t.key)]


def model_version_json(
    version: ModelVersion, *, download_uri: str | None = None, with_aliases: bool = True
) -> dict[str, Any]:
    """A ModelVersion message. `status` is always sent: its proto default would make the client poll."""
    body: dict[str, Any] = {
        "name": version.model.name,
        "version": str(version.version),
        "creation_timestamp": timestamp_ms(version.created_at),
        "last_updated_timestamp": timestamp_ms(version.updated_at),
        "current_stage": version.stage,
        "description": version.description,
        "source": version.source,
        "run_id": version.run_id,
        "status": version.status,
        "run_link": version.run_link,
    }
    if version.creator_id is not None and version.creator is not None:
        body["user_id"] = version.creator.get_username()
    if version.status_message:
        body["status_message"] = version.status_message
    tags = _tags(version.tags.all())
    if tags:
        body["tags"] = tags
    if with_aliases:
        aliases = sorted(alias.alias for alias in version.aliases.all())
        if aliases:
            body["aliases"] = aliases
    if version.logged_model_id:
        body["model_id"] = version.logged_model_id
    return body


def registered_model_json(model: RegisteredModel, latest: list[ModelVersion]) -> dict[str, Any]:
    """A RegisteredModel message with its tags, aliases and latest version per stage."""
    body: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": timestamp_ms(model.created_at),
        "last_updated_timestamp": timestamp_ms(model.updated_at),
    }
    if model.creator_id is not None and model.creator is not None:
        body["user_id"] = model.creator.get_username()
    if model.description:
        body["description"] = model.description
    if latest:
        body["latest_versions"] = [model_version_json(v, with_aliases=False) for v in latest]
    tags = _tags(model.tags.all())
    if tags:
        body["tags"] = tags
    aliases = sorted(model.aliases.all(), key=lambda a: a.alias)
    if aliases:
        body["aliases"] = [{"alias": a.alias, "version": str(a.version.version)} for a in aliases]
    return body
