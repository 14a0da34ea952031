"""Every retention write: legal holds placed and released, the registry's retention port, the purge.

Each operation locks the model row (as every registry service does), writes, and records its audit
event in one transaction. The store's own locks (S3 Object Lock legal hold) follow on commit.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from access.grants import Level
from artifacts import services as artifact_services
from artifacts.stores import ObjectLock, StoreError
from audit.models import Action
from registry import ports
from registry import services as registry_services
from registry.errors import Conflict, GovernanceRefused, InvalidParameter, NotFound, Refusal
from registry.events import AliasMoved, StageChanged
from registry.models import ModelVersion, RegisteredModel
from retention import rules, selectors
from retention.models import CopyLockRecord, LegalHold

logger = logging.getLogger(__name__)

REASON_MAX = 4000
# A lock is lengthened only when the class grew, not by the days that passed since the copy.
RELOCK_MARGIN = timedelta(days=30)


class HoldRetention:
    """The registry's retention port, answered from the legal holds and the retention classes."""

    def deletion_refusal(
        self, model: RegisteredModel, version: ModelVersion | None, doing: str
    ) -> str | None:
        holds = selectors.holds_active_on(model, version)
        return rules.hold_refusal([(hold.pk, hold.covers) for hold in holds], doing)

    def keeps_record(self, version: ModelVersion) -> bool:
        chosen = selectors.version_retention(version).retention_class
        return rules.keeps_record(chosen)

    def copy_lock(self, version: ModelVersion) -> ports.CopyLock | None:
        facts = selectors.version_facts(version, heading_for=True)
        chosen = rules.retention_for(facts, selectors.retention_classes()).retention_class
        if chosen.years <= 0:
            return None  # kept no time: S3 refuses a retain-until date that is not in the future
        # Counted from the copy: a floor. The purge re-derives the date from the version's end.
        until = timezone.now() + rules.years_delta(chosen.years)
        held = selectors.holds_active_on(version.model, version).exists()
        return ports.CopyLock(retain_until=until, legal_hold=held)

    def copy_lock_recorded(
        self, version: ModelVersion, lock: ports.CopyLock, *, mode: str, applied: bool, detail: str
    ) -> None:
        CopyLockRecord.objects.update_or_create(
            version=version,
            defaults={
                "applied": applied,
                "mode": mode,
                "retain_until": lock.retain_until if applied else None,
                "legal_hold": lock.legal_hold and applied,
                "detail": detail,
            },
        )


# --- Legal holds ---------------------------------------------------------------------------


def _refused(actor: Any, model: RegisteredModel, attempted: str, reason: str, version: int | None) -> None:
    raise GovernanceRefused(
        reason,
        refusal=Refusal(
            actor=actor,
            action=Action.LEGAL_HOLD_REFUSED.value,
            target=model,
            model_name=model.name,
            attempted=attempted,
            reason=reason,
            version=version,
        ),
    )


def _model_for_hold(actor: Any, name: str, doing: str) -> RegisteredModel:
    """The model, locked, for the compliance role (it reaches every model). Others find only what they
    can see (hidden == missing), and are then refused (403, audited)."""
    compliance = selectors.is_compliance(actor)
    if compliance:
        model = RegisteredModel.objects.select_for_update().filter(name=name).first()
        if model is None:
            raise NotFound(f"Registered Model with name={name} not found")
    else:
        model = registry_services.registered_model_for_update(actor, name, Level.READ, doing)
    refusal = rules.hold_place_refusal(is_compliance=compliance)
    if refusal:
        _refused(actor, model, doing, refusal, None)
    return model


def _reason_clean(reason: object, field_name: str = "reason") -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidParameter(
            "A legal hold needs a reason (why the records must be kept).", field=field_name
        )
    if len(reason) > REASON_MAX:
        raise InvalidParameter(f"The reason is longer than {REASON_MAX} characters.", field=field_name)
    return reason.strip()


def _hold_record(actor: Any, action: Action, hold: LegalHold, reason: str) -> None:
    after = {
        "hold": hold.pk,
        "covers": hold.covers,
        "reason": hold.reason,
        "released": hold.released_at.isoformat() if hold.released_at else None,
    }
    audit.record(
        actor=actor,
        action=action,
        target=hold.version or hold.model,
        model_name=hold.model.name,
        version=hold.version.version if hold.version_id else None,
        after=after,
        reason=reason,
    )


@ports.refusals_recorded
def legal_hold_place(*, actor: Any, name: str, version: int | None, reason: object) -> LegalHold:
    """Place a legal hold on a model (version None) or one version, tombstones included."""
    doing = f"Placing a legal hold on '{name}'" + (f" version {version}" if version is not None else "")
    model = _model_for_hold(actor, name, doing)
    text = _reason_clean(reason)
    row = None
    if version is not None:
        row = ModelVersion.all_objects.filter(model=model, version=version).first()
        if row is None:
            raise NotFound(f"Model Version (name={name}, version={version}) not found")
    hold = LegalHold.objects.create(model=model, version=row, reason=text, placed_by=actor)
    _hold_record(actor, Action.LEGAL_HOLD_PLACED, hold, text)
    transaction.on_commit(lambda: store_holds_sync(hold.pk))
    return hold


@ports.refusals_recorded
def legal_hold_release(*, actor: Any, hold_id: int, reason: object) -> LegalHold:
    """Lift a legal hold; what it covered may be removed again if no other hold covers it."""
    found = LegalHold.objects.select_related("model").filter(pk=hold_id).first()
    visible = found is not None and selectors.legal_holds_visible_to(actor).filter(pk=hold_id).exists()
    if not visible:
        raise NotFound(f"Legal hold {hold_id} not found")
    _model_for_hold(actor, found.model.name, f"Releasing legal hold #{hold_id}")
    hold = (
        LegalHold.objects.select_for_update(of=("self",)).select_related("model", "version").get(pk=hold_id)
    )
    text = _reason_clean(reason)
    if not hold.active:
        raise Conflict(f"Legal hold {hold_id} was already released on {hold.released_at.isoformat()}.")
    hold.released_at = timezone.now()
    hold.released_by = actor
    hold.release_reason = text
    hold.save(update_fields=["released_at", "released_by", "release_reason"])
    _hold_record(actor, Action.LEGAL_HOLD_RELEASED, hold, text)
    transaction.on_commit(lambda: store_holds_sync(hold.pk))
    return hold


def store_holds_sync(hold_id: int) -> None:
    """After a hold changed: turn the S3 legal hold of each covered governed copy on or off, as the
    holds now in force say. A store without Object Lock, or one that fails, is recorded, not raised:
    Quorum's own hold is what refuses removals."""
    hold = LegalHold.objects.select_related("model", "version").filter(pk=hold_id).first()
    if hold is None:
        return
    versions = [hold.version] if hold.version_id else list(ModelVersion.all_objects.filter(model=hold.model))
    for version in versions:
        held = selectors.holds_active_on(hold.model, version).exists()
        try:
            detail = artifact_services.governed_copy_legal_hold(version, held)
        except StoreError as exc:
            logger.warning("legal hold of %s not set in the store: %s", version, exc)
            detail = f"the store refused the legal hold: {exc}"
        CopyLockRecord.objects.filter(version=version).update(
            legal_hold=held and "legal hold ON" in detail, detail=detail
        )


def copy_retention_follow(event: StageChanged | AliasMoved) -> None:
    """Subscriber: a version reached a stage or alias. Once that commits, its governed copy's S3
    retention is lengthened if its class now keeps it longer (Staging, then Production: 5, then 10 years)."""
    version = event.version if isinstance(event, StageChanged) else event.current
    version_pk = version.pk
    transaction.on_commit(lambda: store_retention_extend(version_pk))


def store_retention_extend(version_pk: int) -> None:
    record = CopyLockRecord.objects.filter(version_id=version_pk, applied=True).select_related(
        "version__model"
    )
    record = record.first()
    if record is None:
        return
    lock = HoldRetention().copy_lock(record.version)
    if lock is None or (record.retain_until and lock.retain_until <= record.retain_until + RELOCK_MARGIN):
        return  # same class: the copy's lock already covers it
    mode = record.mode or settings.QUORUM_OBJECT_LOCK_MODE
    try:
        detail = artifact_services.governed_copy_relock(
            record.version, ObjectLock(mode, lock.retain_until, lock.legal_hold)
        )
    except StoreError as exc:
        logger.warning("retention of %s's governed copy not lengthened: %s", record.version, exc)
        CopyLockRecord.objects.filter(pk=record.pk).update(
            detail=f"the store refused a longer retention: {exc}"
        )
        return
    CopyLockRecord.objects.filter(pk=record.pk).update(retain_until=lock.retain_until, detail=detail)


# --- Purge ---------------------------------------------------------------------------------


@dataclass
class PurgeReport:
    """What a purge removed (or would remove, dry run), kept and failed to remove, and why."""

    dry_run: bool
    removed: list[dict] = field(default_factory=list)
    kept: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)


def _describe(version: ModelVersion, retention: rules.Retention) -> dict:
    return {
        "model": version.model.name,
        "version": version.version,
        "state": "deleted" if version.deleted_at else "archived",
        "class": retention.retention_class.name,
        "retain_until": retention.retain_until.isoformat() if retention.retain_until else None,
    }


def _verdict(version: ModelVersion, now: datetime) -> tuple[rules.Retention, str | None]:
    retention = selectors.version_retention(version)
    held = selectors.holds_active_on(version.model, version).exists()
    aliases = frozenset(version.aliases.values_list("alias", flat=True))
    return retention, rules.purge_refusal(retention, held=held, now=now, aliases=aliases)


@transaction.atomic
def _purge_one(version_pk: int, now: datetime) -> dict | str:
    """Remove one version under the model lock, re-checked there; its record, or why it stayed."""
    model_pk = ModelVersion.all_objects.filter(pk=version_pk).values_list("model_id", flat=True).first()
    if model_pk is None:
        return "gone already"
    RegisteredModel.objects.select_for_update().get(pk=model_pk)
    version = ModelVersion.all_objects.select_for_update().select_related("model").get(pk=version_pk)
    retention, refusal = _verdict(version, now)
    if refusal:
        return refusal
    removed = artifact_services.governed_copy_purge(actor="system", version=version)
    record = {**_describe(version, retention), "governed_objects_removed": removed}
    audit.record(
        actor="system",
        action=Action.RETENTION_PURGED,
        target=version,
        model_name=version.model.name,
        version=version.version,
        before=record,
        reason=f"retention class '{retention.retention_class.name}' expired",
    )
    registry_services.model_version_purge(actor="system", row=version)
    return record


def retention_purge(*, dry_run: bool = False, now: datetime | None = None) -> PurgeReport:
    """Remove the ended versions (tombstones, archived) whose retention expired and that no hold
    covers, with their governed copies; one audit event per removed version and one summary."""
    now = now or timezone.now()
    report = PurgeReport(dry_run=dry_run)
    for version in selectors.purge_candidates():
        retention, refusal = _verdict(version, now)
        described = _describe(version, retention)
        if refusal:
            report.kept.append({**described, "why": refusal})
            continue
        if dry_run:
            report.removed.append(described)
            continue
        try:
            outcome = _purge_one(version.pk, now)
        except (StoreError, GovernanceRefused) as exc:
            report.failed.append({**described, "why": str(exc)})
            continue
        if isinstance(outcome, str):
            report.kept.append({**described, "why": outcome})
        else:
            report.removed.append(outcome)
    if not dry_run:
        with transaction.atomic():
            audit.record(
                actor="system",
                action=Action.RETENTION_PURGE_RUN,
                target_type="retention.purge",
                target_name="retention purge",
                after={
                    "removed": [f"{item['model']}/v{item['version']}" for item in report.removed],
                    "kept": len(report.kept),
                    "failed": [f"{item['model']}/v{item['version']}" for item in report.failed],
                },
            )
    return report
