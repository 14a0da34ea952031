"""Every write of the model inventory: one transaction each, the audit event inside."""

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

import audit
import events
from access.grants import Level, user_can, user_holds_global
from accounts.models import User
from artifacts import services as artifact_services
from audit.models import Action
from inventory import rules, selectors
from inventory.events import InventoryChanged, ValidationRecorded, ValidationReviewOverdue
from inventory.models import (
    CARD_SECTIONS,
    CardState,
    Finding,
    FindingSeverity,
    InventoryRecord,
    LifecycleStatus,
    ModelCard,
    RemediationStatus,
    Validation,
    ValidationOutcome,
)
from registry.errors import Conflict, InvalidParameter, NotFound, PermissionDenied
from registry.events import ModelCreated
from registry.models import ModelVersion
from registry.selectors import model_version_get
from registry.services import registered_model_for_update
from workflows import evidence as workflow_evidence
from workflows import selectors as workflow_selectors

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


VALIDATE_PERMISSION = "inventory.add_validation"
FINDINGS_MAX = 200


def _findings_parsed(raw: object) -> list[Finding]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > FINDINGS_MAX:
        raise InvalidParameter(
            f"findings must be a list of at most {FINDINGS_MAX} objects.", field="findings"
        )
    findings = []
    for item in raw:
        if not isinstance(item, dict) or set(item) - {"severity", "description", "remediation_status"}:
            raise InvalidParameter(
                "Each finding is an object with severity, description and remediation_status.",
                field="findings",
            )
        severity = item.get("severity")
        status = item.get("remediation_status", RemediationStatus.OPEN)
        description = item.get("description")
        if severity not in FindingSeverity.values:
            raise InvalidParameter(
                f"A finding's severity must be one of {', '.join(FindingSeverity.values)}.", field="findings"
            )
        if status not in RemediationStatus.values:
            raise InvalidParameter(
                f"A finding's remediation_status must be one of {', '.join(RemediationStatus.values)}.",
                field="findings",
            )
        if not isinstance(description, str) or not description.strip() or len(description) > 20_000:
            raise InvalidParameter(
                "A finding needs a description (at most 20000 characters).", field="findings"
            )
        findings.append(Finding(severity=severity, description=description, remediation_status=status))
    return findings


def _required_text(value: object, field: str, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > 20_000:
        raise InvalidParameter(f"Field '{field}' must be text (at most 20000 characters).", field=field)
    return value


def validation_described(validation: Validation) -> dict[str, Any]:
    return {
        "id": validation.pk,
        "validator": validation.validator.get_username(),
        "scope": validation.scope,
        "conditions": validation.conditions,
        "outcome": validation.outcome,
        "risk_tier": validation.risk_tier,
        "validated_on": validation.validated_on.isoformat(),
        "next_review_on": validation.next_review_on.isoformat() if validation.next_review_on else None,
        "findings": [
            {"severity": f.severity, "description": f.description, "remediation_status": f.remediation_status}
            for f in validation.findings.all()
        ],
    }


@transaction.atomic
def validation_record(
    *,
    actor: Any,
    name: str,
    version: int,
    scope: object,
    outcome: object,
    findings: object = None,
    conditions: object = None,
) -> Validation:
    """Record the actor's independent validation of a version; its next review date comes from the tier.

    Needs READ on the model and the global inventory.add_validation permission (the validation
    function's), and independence (rules.validator_refusal). The model lock serializes it with
    requests being filed, so "not a requester of an open request" holds when it commits.
    """
    model = registered_model_for_update(actor, name, Level.READ, "Recording a validation")
    if not (actor.is_superuser or user_holds_global(actor, VALIDATE_PERMISSION)):
        raise PermissionDenied(f"Recording a validation needs the global {VALIDATE_PERMISSION} permission.")
    row = ModelVersion.objects.filter(model=model, version=version).first()
    if row is None:
        raise NotFound(f"Model Version (name={name}, version={version}) not found")
    if outcome not in ValidationOutcome.values:
        raise InvalidParameter(
            f"outcome must be one of {', '.join(ValidationOutcome.values)}.", field="outcome"
        )
    scope = _required_text(scope, "scope", required=True)
    conditions = _required_text(conditions, "conditions", required=False)
    if outcome == ValidationOutcome.PASS_WITH_CONDITIONS and not conditions.strip():
        raise InvalidParameter("A pass with conditions states its conditions of use.", field="conditions")
    parsed_findings = _findings_parsed(findings)
    record = InventoryRecord.objects.filter(model=model).first()
    refusal = rules.validator_refusal(
        validator_id=actor.pk,
        author_id=row.creator_id,
        developer_id=record.developer_id if record else None,
        requester_ids=workflow_selectors.open_request_requester_ids(row),
    )
    if refusal:
        raise PermissionDenied(refusal)
    today = timezone.localdate()
    tier = record.risk_tier if record else ""
    validation = Validation.objects.create(
        version=row,
        validator=actor,
        scope=scope,
        conditions=conditions,
        outcome=outcome,
        risk_tier=tier,
        validated_on=today,
        next_review_on=rules.next_review(today, tier, selectors.risk_tiers()),
    )
    for finding in parsed_findings:
        finding.validation = validation
    Finding.objects.bulk_create(parsed_findings)
    audit.record(
        actor=actor,
        action=Action.VALIDATION_RECORDED,
        target=validation,
        model_name=model.name,
        registered_model_id=model.pk,
        version=row.version,
        after=validation_described(validation),
    )
    events.publish(ValidationRecorded(actor=actor, validation=validation, version=row))
    return validation


class InventoryEvidence:
    """Fills the workflow's evidence port: is the version's latest validation current, its card approved?"""

    def version_evidence(self, version: ModelVersion) -> dict[str, Any]:
        card = ModelCard.objects.filter(version=version).first()
        digest = artifact_services.version_evidence(version).get("artifact_digest")
        approved = card is not None and rules.card_approved(card.state, card.approved_digest, digest)
        return {
            "card_approved": approved,
            "card_state": card.state if card else "none",
            **self._validation(version),
        }

    def _validation(self, version: ModelVersion) -> dict[str, Any]:
        latest = Validation.objects.filter(version=version).order_by("-validated_on", "-pk").first()
        today = timezone.localdate()
        if latest is None:
            return {"validation_current": False, "validation_status": "none"}
        return {
            "validation_current": rules.validation_current(latest.outcome, latest.next_review_on, today),
            "validation_status": rules.validation_status(latest.outcome, latest.next_review_on, today),
            "validation_id": latest.pk,
        }


@transaction.atomic
def validation_reviews_overdue_announce(*, today: date | None = None) -> list[Validation]:
    """Announce (audit event and webhook event, once each) every latest passing validation past its review."""
    today = today or timezone.localdate()
    announced = []
    for validation in (
        selectors.validations_overdue(today)
        .filter(overdue_notified_on__isnull=True)
        .select_for_update(of=("self",), skip_locked=True)
    ):
        validation.overdue_notified_on = today
        validation.save(update_fields=["overdue_notified_on"])
        version = validation.version
        audit.record(
            actor="system",
            action=Action.VALIDATION_REVIEW_OVERDUE,
            target=validation,
            model_name=version.model.name,
            registered_model_id=version.model_id,
            version=version.version,
            after={"next_review_on": validation.next_review_on.isoformat(), "validation_id": validation.pk},
        )
        events.publish(
            ValidationReviewOverdue(
                actor="system",
                validation=validation,
                version=version,
                next_review_on=validation.next_review_on,
            )
        )
        announced.append(validation)
    return announced


def card_described(card: ModelCard) -> dict[str, Any]:
    return {
        **{section: getattr(card, section) for section in CARD_SECTIONS},
        "state": card.state,
        "approved_by": card.approved_by.get_username() if card.approved_by_id else None,
        "approved_digest": card.approved_digest or None,
    }


def _card_locked(
    actor: Any, name: str, version: int, level: Level, doing: str
) -> tuple[ModelVersion, ModelCard | None]:
    model = registered_model_for_update(actor, name, level, doing)
    row = ModelVersion.objects.filter(model=model, version=version).first()
    if row is None:
        raise NotFound(f"Model Version (name={name}, version={version}) not found")
    return row, ModelCard.objects.select_for_update().filter(version=row).first()


def _card_audited(
    actor: Any, row: ModelVersion, card: ModelCard, before: dict | None, reason: str = ""
) -> None:
    audit.record(
        actor=actor,
        action=Action.MODEL_CARD_CHANGED,
        target=card,
        model_name=row.model.name,
        registered_model_id=row.model_id,
        version=row.version,
        before=before,
        after=card_described(card),
        reason=reason,
    )


@transaction.atomic
def model_card_update(*, actor: Any, name: str, version: int, sections: object) -> ModelCard:
    """Write sections of a version's card (EDIT); any edit of a submitted or approved card returns it to Draft."""
    if not isinstance(sections, dict):
        raise InvalidParameter("The request body must be a JSON object of card sections.")
    unknown = sorted(set(sections) - set(CARD_SECTIONS))
    if unknown:
        raise InvalidParameter(
            f"Unknown section '{unknown[0]}'; sections: {', '.join(CARD_SECTIONS)}.", field=unknown[0]
        )
    for section, text in sections.items():
        if not isinstance(text, str) or len(text) > 50_000:
            raise InvalidParameter(
                f"Section '{section}' must be text (at most 50000 characters).", field=section
            )
    row, card = _card_locked(actor, name, version, Level.EDIT, "Writing a model card")
    return _card_sections_write(actor, row, card, sections)


def _card_sections_write(
    actor: Any, row: ModelVersion, card: ModelCard | None, sections: dict[str, str], reason: str = ""
) -> ModelCard:
    """Write sections of a locked card (new if None), back to Draft, the writer a contributor; audited."""
    before = card_described(card) if card else None
    if card is None:
        card = ModelCard(version=row, author=actor)
    for section, text in sections.items():
        setattr(card, section, text)
    was = card.state
    card.state = CardState.DRAFT
    card.approved_by, card.approved_at, card.approved_digest = None, None, ""
    if was == CardState.APPROVED:
        card.contributor_ids = []  # a new round of review: the last approval no longer covers it
    if actor.pk not in card.contributor_ids:
        card.contributor_ids = [*card.contributor_ids, actor.pk]
    card.save()
    _card_audited(
        actor,
        row,
        card,
        before,
        reason="; ".join(
            part
            for part in (reason, "" if was == CardState.DRAFT else f"edited while {was}: back to draft")
            if part
        ),
    )
    return card


def model_card_draft_from_evidence(
    *, actor: Any, name: str, version: int, overwrite: bool = False
) -> ModelCard:
    """Fill a draft (or new) card's training-data and evaluation sections from the version's run evidence.

    The run is read from the tracking server first, outside any lock (it calls out); the write then
    re-checks, under the model lock, that the card is still a draft and that no section a person
    wrote would be replaced without `overwrite` (rules.card_draft_refusal).
    """
    if not isinstance(overwrite, bool):
        raise InvalidParameter("overwrite must be true or false.", field="overwrite")
    row = model_version_get(actor, name, version)
    if not user_can(actor, Level.EDIT, row.model):
        raise PermissionDenied(
            f"Writing a model card of registered model '{name}' needs the EDIT permission."
        )
    card = ModelCard.objects.filter(version=row).first()
    early = rules.card_state_draft_refusal(card.state if card else None)
    if early:  # refused before calling the tracking server; re-checked under the lock
        raise Conflict(early)
    run = workflow_evidence.version_evidence_collect(row)["run"]
    if run.get("state") != "ok":
        raise Conflict(f"The version's run evidence cannot be read: {run.get('reason')}")
    return _card_draft_write(actor, name, version, run, overwrite)


@transaction.atomic
def _card_draft_write(actor: Any, name: str, version: int, run: dict, overwrite: bool) -> ModelCard:
    row, card = _card_locked(actor, name, version, Level.EDIT, "Writing a model card")
    proposed = rules.card_sections_from_run(run)
    current = {section: getattr(card, section) for section in CARD_SECTIONS} if card else {}
    refusal = rules.card_draft_refusal(
        state=card.state if card else None, current=current, proposed=proposed, overwrite=overwrite
    )
    if refusal:
        raise Conflict(refusal)
    replaced = sorted(section for section in proposed if current.get(section, "").strip())
    reason = f"drafted {', '.join(sorted(proposed))} from run {run.get('run_id')}"
    if replaced:
        reason += f" (overwrote {', '.join(replaced)})"
    return _card_sections_write(actor, row, card, proposed, reason=reason)


@transaction.atomic
def model_card_submit(*, actor: Any, name: str, version: int) -> ModelCard:
    """Submit a draft card for review (EDIT)."""
    row, card = _card_locked(actor, name, version, Level.EDIT, "Submitting a model card")
    if card is None:
        raise NotFound(f"Version {version} of '{name}' has no model card.")
    if card.state != CardState.DRAFT:
        raise Conflict(f"Only a draft model card is submitted; this one is {card.state}.")
    before = card_described(card)
    card.state = CardState.SUBMITTED
    card.save(update_fields=["state", "updated_at"])
    _card_audited(actor, row, card, before)
    return card


@transaction.atomic
def model_card_approve(*, actor: Any, name: str, version: int) -> ModelCard:
    """Approve a submitted card (APPROVE_PRODUCTION, not an author), bound to the version's artifact digest."""
    row, card = _card_locked(actor, name, version, Level.READ, "Approving a model card")
    if card is None:
        raise NotFound(f"Version {version} of '{name}' has no model card.")
    if not user_can(actor, Level.APPROVE_PRODUCTION, row.model):
        raise PermissionDenied("Approving a model card needs the APPROVE_PRODUCTION permission on the model.")
    digest = artifact_services.version_evidence(row).get("artifact_digest")
    refusal = rules.card_approval_refusal(
        state=card.state,
        approver_id=actor.pk,
        contributor_ids=card.contributor_ids,
        author_id=card.author_id,
        digest=digest,
    )
    if refusal:
        raise (Conflict if card.state != CardState.SUBMITTED or not digest else PermissionDenied)(refusal)
    before = card_described(card)
    card.state = CardState.APPROVED
    card.approved_by, card.approved_at, card.approved_digest = actor, timezone.now(), digest
    card.save()
    _card_audited(actor, row, card, before)
    return card


@transaction.atomic
def evidence_pack_download_record(
    *, actor: Any, version: ModelVersion, archive_sha256: str, files: list[str], chain_proof: bool
) -> None:
    """Audit that `actor` downloaded the evidence pack of `version` (before the bytes leave)."""
    audit.record(
        actor=actor,
        action=Action.EVIDENCE_PACK_DOWNLOADED,
        target=version,
        model_name=version.model.name,
        registered_model_id=version.model_id,
        version=version.version,
        after={"sha256": archive_sha256, "files": files, "chain_proof": chain_proof},
    )
