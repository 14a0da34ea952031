"""Retention reads: what a version ever reached (from the audit trail and the alias history), its
class, and the legal holds a user may see."""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from access.grants import Level, user_holds_global
from audit.models import Action, AuditEvent
from registry.models import AliasAssignment, ModelVersion, RegisteredModel, Stage
from registry.selectors import registered_models_allowed
from retention import rules
from retention.models import LegalHold
from workflows import selectors as workflow_selectors
from workflows.models import OPEN_STATES, TargetKind, TransitionRequest


def retention_classes() -> list[rules.RetentionClass]:
    return rules.classes_parse(settings.QUORUM_RETENTION_CLASSES)


def _stage_events(version: ModelVersion) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            registered_model_id=version.model_id, action=Action.VERSION_STAGE_CHANGED
        ).order_by("seq", "pk")
    )


def _archived_at(version: ModelVersion, stage_events: list[AuditEvent]) -> datetime:
    """When the version was last archived: its own move to Archived, or another's promotion archiving it."""
    moments = [
        event.timestamp
        for event in stage_events
        if (event.version == version.version and (event.after or {}).get("stage") == Stage.ARCHIVED)
        or version.version in ((event.after or {}).get("archived_versions") or [])
    ]
    return max(moments) if moments else version.updated_at


def version_facts(version: ModelVersion, *, heading_for: bool = False) -> rules.VersionFacts:
    """What `version` ever reached: stages from the audit trail (every stage change is audited, direct
    or by request) and its current stage; aliases from the alias history and its current aliases.

    `heading_for`: count the targets of its open transition requests as reached (a governed copy is
    made for such a promotion, and is locked for the class it is headed for).
    """
    stage_events = _stage_events(version)
    stages = {
        (event.after or {}).get("stage", "") for event in stage_events if event.version == version.version
    }
    stages.add(version.stage)
    aliases = set(
        AliasAssignment.objects.filter(model_id=version.model_id, version_number=version.version).values_list(
            "alias", flat=True
        )
    )
    aliases |= set(version.aliases.values_list("alias", flat=True))
    if heading_for:
        for kind, target in TransitionRequest.objects.filter(
            version=version, state__in=OPEN_STATES, removes=False
        ).values_list("target_kind", "target"):
            (stages if kind == TargetKind.STAGE else aliases).add(target)
    governed = {
        alias
        for alias in aliases
        if workflow_selectors.policy_governing(version.model, TargetKind.ALIAS, alias) is not None
    }
    if version.deleted_at is not None:
        ended_at = version.deleted_at
    elif version.stage == Stage.ARCHIVED:
        ended_at = _archived_at(version, stage_events)
    else:
        ended_at = None
    stages.discard("")
    stages.discard(Stage.NONE)
    return rules.VersionFacts(frozenset(stages), frozenset(aliases), frozenset(governed), ended_at)


def version_retention(version: ModelVersion) -> rules.Retention:
    return rules.retention_for(version_facts(version), retention_classes())


def holds_active_on(model: RegisteredModel, version: ModelVersion | None) -> QuerySet[LegalHold]:
    """Legal holds in force that cover `version` (its own, or its model's); None: any on the model."""
    holds = LegalHold.objects.filter(model=model, released_at__isnull=True)
    if version is not None:
        holds = holds.filter(Q(version__isnull=True) | Q(version=version))
    return holds.select_related("model", "version").order_by("pk")


def is_compliance(user: Any) -> bool:
    """Superusers and holders of retention.place_legal_hold (the compliance role) place and lift holds."""
    return bool(getattr(user, "is_superuser", False)) or user_holds_global(user, rules.PLACE_PERMISSION)


def legal_holds_visible_to(user: Any) -> QuerySet[LegalHold]:
    """Every hold for the compliance role; others see the holds on models they can READ."""
    holds = LegalHold.objects.select_related("model", "version", "placed_by", "released_by")
    if not is_compliance(user):
        holds = holds.filter(model__in=registered_models_allowed(user, Level.READ))
    return holds.order_by("-placed_at", "-pk")


def purge_candidates() -> QuerySet[ModelVersion]:
    """Versions whose life ended (tombstones and archived versions): the only ones the purge considers."""
    return (
        ModelVersion.all_objects.filter(Q(deleted_at__isnull=False) | Q(stage=Stage.ARCHIVED))
        .select_related("model")
        .order_by("model__name", "version")
    )
