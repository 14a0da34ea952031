"""What the core registry says happened: one typed event per domain operation, published inside its
transaction (events.publish). Subscribers build their own records from these, never from each other's.
"""

from dataclasses import dataclass, field

from events import DomainEvent
from registry.models import ModelVersion, RegisteredModel


@dataclass(frozen=True, kw_only=True)
class ModelCreated(DomainEvent):
    model: RegisteredModel
    tags: dict[str, str] = field(default_factory=dict)
    prompt: bool = False  # of a prompt (registry/prompts.py), not of a model


@dataclass(frozen=True, kw_only=True)
class ModelUpdated(DomainEvent):
    model: RegisteredModel
    previous_description: str


@dataclass(frozen=True, kw_only=True)
class ModelTagSet(DomainEvent):
    model: RegisteredModel
    key: str
    value: str
    previous: str | None
    prompt: bool = False  # of a prompt (registry/prompts.py), not of a model


@dataclass(frozen=True, kw_only=True)
class ModelTagDeleted(DomainEvent):
    model: RegisteredModel
    key: str
    value: str
    prompt: bool = False  # of a prompt (registry/prompts.py), not of a model


@dataclass(frozen=True, kw_only=True)
class VersionUpdated(DomainEvent):
    version: ModelVersion
    previous_description: str


@dataclass(frozen=True, kw_only=True)
class SuperuserPowerUsed(DomainEvent):
    """A superuser did what only superuser status allows: no grant of theirs gives `needed`."""

    doing: str
    target: RegisteredModel | None
    needed: str


@dataclass(frozen=True, kw_only=True)
class VersionTagSet(DomainEvent):
    version: ModelVersion
    key: str
    value: str
    previous: str | None
    prompt: bool = False  # of a prompt (registry/prompts.py), not of a model


@dataclass(frozen=True, kw_only=True)
class VersionTagDeleted(DomainEvent):
    version: ModelVersion
    key: str
    value: str
    prompt: bool = False  # of a prompt (registry/prompts.py), not of a model


@dataclass(frozen=True, kw_only=True)
class ModelRenamed(DomainEvent):
    model: RegisteredModel
    previous_name: str


@dataclass(frozen=True, kw_only=True)
class ModelDeleted(DomainEvent):
    model: RegisteredModel
    versions: list[int]
    aliases: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class VersionCreated(DomainEvent):
    version: ModelVersion
    tags: dict[str, str] = field(default_factory=dict)
    prompt: bool = False  # of a prompt (registry/prompts.py), not of a model


@dataclass(frozen=True, kw_only=True)
class VersionDeleted(DomainEvent):
    """`version` was deleted (the instance keeps its fields; its row is gone, or stays as a tombstone
    when `tombstone`: its governance history outlives it)."""

    version: ModelVersion
    aliases: list[str]
    tombstone: bool = False


@dataclass(frozen=True, kw_only=True)
class StageChanged(DomainEvent):
    """A version entered `current`; `governed`: through an approved request, not set directly."""

    version: ModelVersion
    previous: str
    current: str
    archived: list[int]
    governed: bool
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class AliasMoved(DomainEvent):
    """`alias` now points at `current` (from version number `previous`, None when it is new)."""

    model: RegisteredModel
    alias: str
    previous: int | None
    current: ModelVersion
    governed: bool
    reason: str = ""
    prompt: bool = False  # of a prompt (registry/prompts.py), not of a model


@dataclass(frozen=True, kw_only=True)
class AliasDeleted(DomainEvent):
    """`alias` no longer points at version number `version`; `governed`: an approved removal request."""

    model: RegisteredModel
    alias: str
    version: int
    governed: bool = False
    reason: str = ""
    prompt: bool = False  # of a prompt (registry/prompts.py), not of a model
