"""Every write of the approval workflow: one transaction each, audit event inside.

Locking order, everywhere: the registered model row (SELECT ... FOR UPDATE), then the request row.
The model lock is what serializes two approvers finishing the same quorum and two requests for
the same target, so a request always re-checks its facts after taking it.

The artifact pipeline sits below the workflow: its evidence (digest, validation) is recorded on the
request and approvals and checked before applying; a Production promotion that needs validated
artifacts waits (state `applying`) for the version's governed copy, and the pipeline's
`GovernedCopyFinished` event (subscribed in `copy_verified_apply`) applies it once every object is
proven.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
import events
from access.grants import LEVEL_CODENAMES, Level, user_can, user_holds
from accounts.signing import SigningCredentials, SigningRefused, signer_full_name, signer_reauthenticate
from artifacts import services as artifact_services
from artifacts.events import GovernedCopyFinished, ValidationFinished
from audit.models import Action
from audit.services import superuser_action_record
from registry import ports, prompts
from registry import rules as registry_rules
from registry.errors import (
    AlreadyExists,
    Conflict,
    GovernanceRefused,
    InvalidParameter,
    NotFound,
    PermissionDenied,
    Refusal,
)
from registry.events import AliasMoved, StageChanged, VersionDeleted
from registry.models import ModelVersion, RegisteredModel, Stage
from registry.services import alias_apply, alias_remove_apply, registered_model_for_update, stage_apply
from workflows import evidence as request_evidence
from workflows import ports as workflow_ports
from workflows import rules, selectors
from workflows.events import CommentCreated, RequestChanged
from workflows.models import (
    OPEN_STATES,
    ActivityType,
    Approval,
    Decision,
    PromotionPolicy,
    RequestState,
    Signature,
    TargetKind,
    TransitionRequest,
    VersionActivity,
)

COMMENT_MAX = 10_000


def activity_record(
    *,
    version: ModelVersion,
    activity_type: ActivityType,
    user=None,
    request: TransitionRequest | None = None,
    from_stage: str = "",
    to_stage: str = "",
    comment: str = "",
    system_comment: str = "",
) -> VersionActivity:
    """Append one entry to a version's timeline (inside the caller's transaction)."""
    return VersionActivity.objects.create(
        version=version,
        request=request,
        activity_type=activity_type,
        user=user if getattr(user, "is_authenticated", False) else None,
        from_stage=from_stage,
        to_stage=to_stage,
        comment=comment,
        system_comment=system_comment,
    )


def version_evidence(version: ModelVersion) -> dict:
    """What is known about a version's artifacts (digest, validation) and its inventory (validation, card).

    A prompt version has no artifacts: it is its template, stored in the registry, so its evidence is
    the template's digest (approvals record it, and a changed digest fails the request as for models).
    """
    template = prompts.version_template(version)
    if template is not None:
        digest = prompts.template_digest(template)
        return {
            "pipeline": False,
            "kind": "prompt",
            "artifact_digest": digest,
            "template_digest": digest,
            # Complete by construction: the registry holds the whole template, nothing to validate.
            "validated": True,
            "validation_state": "prompt_template",
            **workflow_ports.version_evidence(version),
        }
    return {**request_evidence.pipeline_facts(version), **workflow_ports.version_evidence(version)}


def _text(value: object, field: str, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidParameter(f"Parameter '{field}' must be a string.", field=field)
    value = value.strip()
    if required and not value:
        raise InvalidParameter(f"A {field} is required.", field=field)
    if len(value) > COMMENT_MAX:
        raise InvalidParameter(f"The {field} is longer than {COMMENT_MAX} characters.", field=field)
    if "\x00" in value:
        raise InvalidParameter(f"The {field} cannot contain NUL characters.", field=field)
    return value


def _target_parsed(target_kind: str, target: object) -> str:
    if target_kind == TargetKind.STAGE:
        return registry_rules.parse_stage(target).value
    if target_kind == TargetKind.ALIAS:
        return registry_rules.validate_alias(target)
    raise InvalidParameter("Target kind must be 'stage' or 'alias'.", field="target_kind")


def _request_changed(actor, action: Action, request: TransitionRequest, *, reason: str = "", **extra) -> None:
    """Record a request's change in the audit trail, then say it happened (RequestChanged)."""
    audit.record(
        actor=actor,
        action=action,
        target=request,
        target_name=f"request #{request.pk}: {request.model.name}/v{request.version.version} -> "
        f"{request.target_label}",
        model_name=request.model.name,
        version=request.version.version,
        after={"state": request.state, "target": request.target_label, **extra},
        reason=reason,
    )
    change = Action(action).value.partition(".")[2]
    events.publish(RequestChanged(actor=actor, request=request, change=change, comment=reason, details=extra))


def _locked_request(actor, request_id: int, level: Level, doing: str) -> TransitionRequest:
    """Lock the request's model (visible to actor, else NotFound), then the request itself."""
    found = (
        selectors.transition_requests_visible_to(actor).filter(pk=request_id).values("model__name").first()
    )
    if found is None:
        raise NotFound(f"Transition request {request_id} not found")
    registered_model_for_update(actor, found["model__name"], level, doing)
    return (
        TransitionRequest.objects.select_for_update(of=("self",))
        .select_related("model", "version", "requester")
        .get(pk=request_id)
    )


# --- Policies ------------------------------------------------------------------------------


def _policy_described(row: PromotionPolicy | None) -> dict | None:
    if row is None:
        return None
    described = selectors.policy_row_values(row)
    return {k: v for k, v in described.items() if k not in ("target_kind", "target")}


@transaction.atomic
def promotion_policy_set(
    *,
    actor,
    name: str | None,
    target_kind: str,
    target: str,
    governed: bool = True,
    required_approvals: int = 2,
    rank: str = rules.PRODUCTION_RANK,
    requester_may_approve: bool = False,
    creator_may_approve: bool = False,
    required_team: str | None = None,
    require_validated_artifacts: bool | None = None,
    require_producer_signature: bool = False,
    refuse_pickle_severity: str = "",
    approval_ttl_hours: int = 72,
    service_accounts_count: bool = False,
    require_current_validation: bool = False,
    require_approved_card: bool = False,
    require_signature: bool | None = None,
    signature_meanings: list[str] | tuple[str, ...] = (),
    required_meanings: list[str] | tuple[str, ...] = (),
) -> PromotionPolicy:
    """Create or replace the policy of one target, for one model (MANAGE) or organisation-wide (superuser).

    A model's own policy may tighten the organisation's policy for the target (its floor), never
    loosen it: a loosening one is refused unless a superuser sets it, and then it is recorded as a
    waived floor (the audit event lists what it loosens; the separation-of-duties report shows it).
    """
    from accounts.models import Team

    target = _target_parsed(target_kind, target)
    if rank not in (rules.STAGING_RANK, rules.PRODUCTION_RANK):
        raise InvalidParameter("Rank must be 'staging' or 'production'.", field="rank")
    if not isinstance(required_approvals, int) or not 1 <= required_approvals <= 20:
        raise InvalidParameter("required_approvals must be between 1 and 20.", field="required_approvals")
    if refuse_pickle_severity not in ("", "suspicious", "dangerous"):
        raise InvalidParameter(
            "refuse_pickle_severity must be '', 'suspicious' or 'dangerous'.", field="refuse_pickle_severity"
        )
    if not isinstance(approval_ttl_hours, int) or not 1 <= approval_ttl_hours <= 24 * 365:
        raise InvalidParameter("approval_ttl_hours must be between 1 and 8760.", field="approval_ttl_hours")
    configured = settings.QUORUM_SIGNATURE_MEANINGS
    for field, meanings in (
        ("signature_meanings", signature_meanings),
        ("required_meanings", required_meanings),
    ):
        unknown = [m for m in meanings if m not in configured]
        if unknown:
            raise InvalidParameter(
                f"{field}: {', '.join(repr(m) for m in unknown)} is not a configured signature meaning "
                f"(QUORUM_SIGNATURE_MEANINGS: {', '.join(repr(m) for m in configured)}).",
                field=field,
            )
    if signature_meanings and any(m not in signature_meanings for m in required_meanings):
        raise InvalidParameter(
            "required_meanings must be among signature_meanings (a required meaning nobody may give "
            "could never be met).",
            field="required_meanings",
        )
    signature_meanings = list(dict.fromkeys(signature_meanings))
    required_meanings = list(dict.fromkeys(required_meanings))
    team = None
    if required_team:
        team = Team.objects.filter(group__name=required_team).first()
        if team is None:
            raise InvalidParameter(f"No team named '{required_team}'.", field="required_team")
    if name is None:
        if not actor.is_superuser:
            raise PermissionDenied("Changing the organisation-wide default policies needs a superuser.")
        model = None
    else:
        model = registered_model_for_update(actor, name, Level.MANAGE, "Changing promotion policies")
    if require_validated_artifacts is None:
        require_validated_artifacts = rank == rules.PRODUCTION_RANK
    if require_signature is None:
        require_signature = rank == rules.PRODUCTION_RANK
    values = {
        "governed": governed,
        "required_approvals": required_approvals,
        "rank": rank,
        "requester_may_approve": requester_may_approve,
        "creator_may_approve": creator_may_approve,
        "required_team": team,
        "require_validated_artifacts": require_validated_artifacts,
        "require_producer_signature": bool(require_producer_signature),
        "refuse_pickle_severity": refuse_pickle_severity,
        "approval_ttl_hours": approval_ttl_hours,
        "service_accounts_count": service_accounts_count,
        "require_current_validation": require_current_validation,
        "require_approved_card": require_approved_card,
        "require_signature": bool(require_signature),
        "signature_meanings": signature_meanings,
        "required_meanings": required_meanings,
        "floor_waived": False,
    }
    loosens: tuple[str, ...] = ()
    if model is not None:
        proposed = selectors.policy_as_rule(
            PromotionPolicy(model=model, target_kind=target_kind, target=target, **values)
        )
        loosens = rules.policy_loosenings(proposed, selectors.organisation_floor(target_kind, target))
        if loosens and not actor.is_superuser:
            raise PermissionDenied(
                f"A policy of '{model.name}' may tighten the organisation's policy for {target_kind} "
                f"'{target}', never loosen it; this one {'; '.join(loosens)}. Loosening it needs a "
                "superuser (it is audited)."
            )
        values["floor_waived"] = bool(loosens)
    previous = PromotionPolicy.objects.filter(model=model, target_kind=target_kind, target=target).first()
    before = _policy_described(previous)
    policy, _ = PromotionPolicy.objects.update_or_create(
        model=model, target_kind=target_kind, target=target, defaults=values
    )
    audit.record(
        actor=actor,
        action=Action.POLICY_CHANGED,
        target=policy,
        target_name=str(policy),
        model_name=model.name if model else "",
        before=before,
        after=_policy_described(policy)
        | {"target_kind": target_kind, "target": target, "loosens_floor": list(loosens)},
        reason=("Organisation floor waived by a superuser: " + "; ".join(loosens)) if loosens else "",
    )
    return policy


@transaction.atomic
def promotion_policy_delete(*, actor, name: str | None, target_kind: str, target: str) -> None:
    """Remove one target's policy: a model's (MANAGE) falls back to the organisation's; an
    organisation's (superuser) falls back to the embedded default."""
    target = _target_parsed(target_kind, target)
    if name is None:
        if not actor.is_superuser:
            raise PermissionDenied("Changing the organisation-wide default policies needs a superuser.")
        model = None
    else:
        model = registered_model_for_update(actor, name, Level.MANAGE, "Changing promotion policies")
    row = (
        PromotionPolicy.objects.select_for_update(of=("self",))
        .filter(model=model, target_kind=target_kind, target=target)
        .select_related("required_team__group")
        .first()
    )
    if row is None:
        scope = f"'{model.name}'" if model else "the organisation"
        raise NotFound(f"No policy of {scope} for {target_kind} '{target}'.")
    audit.record(
        actor=actor,
        action=Action.POLICY_CHANGED,
        target=row,
        target_name=str(row),
        model_name=model.name if model else "",
        before=_policy_described(row),
        after=None,
        reason="policy removed: the "
        + ("organisation's policy applies" if model else "embedded default applies"),
    )
    row.delete()


# --- Requests ------------------------------------------------------------------------------


@transaction.atomic
def transition_request_create(
    *,
    actor,
    name: str,
    version: int,
    target_kind: str,
    target: object,
    reason: object,
    archive_existing_versions: bool = False,
    remove: bool = False,
) -> TransitionRequest:
    """File a request to move a version into or out of a governed stage, or to point a governed alias
    at it or (`remove`) take the alias away from it."""
    target = _target_parsed(target_kind, target)
    reason = _text(reason, "reason", required=True)
    version = registry_rules.parse_version_number(version)
    if not isinstance(remove, bool):
        raise InvalidParameter("Parameter 'remove' must be a boolean.", field="remove")
    if remove and target_kind != TargetKind.ALIAS:
        raise InvalidParameter(
            "'remove' applies to aliases; to take a version out of a stage, request stage Archived or None.",
            field="remove",
        )
    if target_kind == TargetKind.STAGE:
        registry_rules.stages_archived_by(Stage(target), bool(archive_existing_versions))
    # READ is enough to ask: levels are not a ladder, and the approvers decide.
    model = registered_model_for_update(actor, name, Level.READ, "Requesting a transition")
    row = ModelVersion.objects.select_for_update().filter(model=model, version=version).first()
    if row is None:
        raise NotFound(f"Model Version (name={name}, version={version}) not found")
    if target_kind == TargetKind.STAGE and row.stage == target:
        raise InvalidParameter(
            f"Version {version} of '{name}' is already in stage '{target}'.", field="stage"
        )
    points_here = (
        model.aliases.filter(alias=target, version=row).exists() if target_kind == TargetKind.ALIAS else False
    )
    if remove and not points_here:
        raise InvalidParameter(
            f"Alias '{target}' of '{name}' does not point to version {version}; nothing to remove.",
            field="alias",
        )
    if selectors.transition_policy(model, target_kind, target, row.stage, remove) is None:
        if target_kind == TargetKind.ALIAS:
            imitated = registry_rules.alias_imitated(
                target, selectors.governed_aliases(*selectors.policy_layers(model))
            )
            if imitated is not None:
                raise InvalidParameter(
                    registry_rules.alias_lookalike_refusal(target, imitated, name), field="alias"
                )
        raise InvalidParameter(
            f"The {target_kind} '{target}' of '{name}' is not governed by a promotion policy; "
            "set it directly instead of requesting it.",
            field=target_kind,
        )
    if points_here and not remove:
        raise InvalidParameter(
            f"Alias '{target}' of '{name}' already points to version {version}.", field="alias"
        )
    if TransitionRequest.objects.filter(
        version=row, target_kind=target_kind, target=target, state__in=OPEN_STATES
    ).exists():
        raise AlreadyExists(
            f"An open transition request for '{name}' version {version} to {target} already exists."
        )
    try:
        with transaction.atomic():
            request = TransitionRequest.objects.create(
                model=model,
                version=row,
                target_kind=target_kind,
                target=target,
                from_stage=row.stage,
                removes=remove,
                archive_existing_versions=bool(archive_existing_versions),
                requester=actor,
                reason=reason,
                evidence=version_evidence(row),
            )
    except IntegrityError:  # the partial unique index: another open request won a race we cannot see
        raise AlreadyExists(
            f"An open transition request for '{name}' version {version} to {target} already exists."
        )
    activity_record(
        version=row,
        request=request,
        activity_type=ActivityType.REQUESTED_TRANSITION,
        user=actor,
        from_stage=row.stage,
        to_stage=request.target_label,
        comment=reason,
    )
    _request_changed(actor, Action.REQUEST_CREATED, request, reason=reason, evidence=request.evidence)
    request_evidence.snapshot_take_on_commit(request.pk, "filed")
    return request


# --- Electronic signatures (issue 23) --------------------------------------------------------


def _signature_needed(policy: rules.Policy | None) -> bool:
    return policy is not None and (policy.require_signature or bool(policy.required_meanings))


def _signer_verified(
    actor, request_id: int, signing: SigningCredentials | None, http_request, *, rejecting: bool
) -> str | None:
    """Re-authenticate a signer before the decision's transaction, so that a failure's lockout count
    and its audit event commit although the decision does not; returns how they re-authenticated
    (None: no signature was given). The meaning is checked first: a typo costs no password attempt."""
    if signing is None:
        return None
    found = (
        selectors.transition_requests_visible_to(actor).filter(pk=request_id).select_related("model").first()
    )
    if found is None:
        raise NotFound(f"Transition request {request_id} not found")
    if not rejecting:
        refusal = rules.signature_meaning_refusal(
            selectors.request_policy(found), signing.meaning, settings.QUORUM_SIGNATURE_MEANINGS
        )
        if refusal:
            raise InvalidParameter(refusal, field="signature.meaning")
    try:
        return signer_reauthenticate(actor, signing, http_request)
    except SigningRefused as exc:
        with transaction.atomic():
            audit.record(
                actor=actor,
                action=Action.SIGNATURE_FAILED,
                target=found,
                target_name=str(found),
                model_name=found.model.name,
                after={"attempted": "reject" if rejecting else "approve", "counted": exc.counted},
                reason=exc.message,
            )
        raise GovernanceRefused(exc.message, field="signature") from None


def _signature_missing(actor, request: TransitionRequest, *, rejecting: bool) -> GovernanceRefused:
    doing = "rejection" if rejecting else "approval"
    message = (
        f"The policy governing request #{request.pk} ({request.from_stage} -> {request.target_label}) "
        f"requires electronic signatures: this {doing} must be "
        'signed. Send "signature": {"password": "<your password>", "otp": "<one-time code, if you '
        'have a second factor>"'
        + ("" if rejecting else ', "meaning": "<one of the policy\'s meanings>"')
        + "} with it (21 CFR Part 11: an API token alone cannot sign)."
    )
    attempted = f"{'reject' if rejecting else 'approve'} request #{request.pk} without a signature"
    return _approval_refused(actor, request, attempted, message, field="signature")


def _approval_refused(
    actor, request: TransitionRequest, attempted: str, reason: str, *, field: str | None = None
) -> GovernanceRefused:
    """A refused decision, audited (approval.refused) once the attempt has rolled back."""
    return GovernanceRefused(
        reason,
        field=field,
        refusal=Refusal(
            actor=actor,
            action=Action.APPROVAL_REFUSED.value,
            target=request,
            model_name=request.model.name,
            attempted=attempted,
            reason=reason,
            version=request.version.version,
        ),
    )


def _signature_record(
    actor,
    request: TransitionRequest,
    *,
    decision: str,
    meaning: str,
    authentication: str,
    artifact_digest: str,
    approval: Approval | None = None,
) -> Signature:
    """Write the signature of a decision, bound by its hash to the request, version, digests and signer."""
    snapshot = request.snapshots.order_by("-taken_at", "-pk").first()
    signature = Signature(
        request=request,
        approval=approval,
        decision=decision,
        signer=actor,
        signer_username=actor.get_username(),
        signer_full_name=signer_full_name(actor),
        meaning=meaning,
        signed_at=timezone.now().replace(microsecond=0),
        authentication=authentication,
        model_name=request.model.name,
        version_number=request.version.version,
        target=request.target_label,
        artifact_digest=artifact_digest,
        evidence_digest=snapshot.content_digest if snapshot else "",
    )
    signature.record_hash = rules.signature_content_hash(signature.content())
    signature.save()
    return signature


def signature_described(signature: Signature) -> dict:
    """A signature as the audit event, API answers and reports show it."""
    return signature.content() | {"line": signature.line, "record_hash": signature.record_hash}


def transition_request_approve(
    *,
    actor,
    request_id: int,
    comment: object,
    archive_existing_versions: bool | None = None,
    signing: SigningCredentials | None = None,
    http_request=None,
) -> TransitionRequest:
    """Approve a request, signed when `signing` is given (required where the policy says); the
    approval that completes the quorum applies it (or hands it to the pipeline)."""
    authentication = _signer_verified(actor, request_id, signing, http_request, rejecting=False)
    return _transition_request_approve(
        actor=actor,
        request_id=request_id,
        comment=comment,
        archive_existing_versions=archive_existing_versions,
        meaning=signing.meaning if signing else "",
        authentication=authentication,
    )


@ports.refusals_recorded
def _transition_request_approve(
    *,
    actor,
    request_id: int,
    comment: object,
    archive_existing_versions: bool | None,
    meaning: str,
    authentication: str | None,
) -> TransitionRequest:
    comment = _text(comment, "comment", required=True)
    request = _locked_request(actor, request_id, Level.READ, "Approving a request")
    policy = selectors.request_policy(request)
    if request.state != RequestState.PENDING:
        raise Conflict(
            f"Transition request {request_id} is {request.state}; only pending requests are approved."
        )
    if timezone.now() - request.created_at > selectors.request_ttl():
        raise Conflict(f"Transition request {request_id} has expired; file a new one.")
    if policy is None:
        raise Conflict(
            f"The {request.target_kind} '{request.target}' is no longer governed; set it directly "
            "and cancel this request."
        )
    refusal = rules.approver_refusal(
        policy,
        approver_id=actor.pk,
        requester_id=request.requester_id,
        creator_id=request.version.creator_id,
        holds_rank=user_can(actor, selectors.rank_level(policy), request.model),
        already_approved=request.approvals.filter(approver=actor).exists(),
        is_service_account=actor.is_service_account,
    )
    if refusal:
        raise _approval_refused(
            actor, request, f"approve request #{request.pk} ({request.target_label})", refusal
        )
    if authentication is None and _signature_needed(policy):
        raise _signature_missing(actor, request, rejecting=False)
    if authentication is not None:
        refusal = rules.signature_meaning_refusal(policy, meaning, settings.QUORUM_SIGNATURE_MEANINGS)
        if refusal:  # the policy changed between the check and the lock
            raise InvalidParameter(refusal, field="signature.meaning")
    _superuser_power_record(actor, request, selectors.rank_level(policy), "Approving a transition request")
    evidence = version_evidence(request.version)
    if authentication is not None and not evidence.get("artifact_digest"):
        raise Conflict(
            f"Version {request.version.version}'s artifact digest is not known yet (validation has not "
            "finished): a signature binds to the digest of what was approved, so sign once it has."
        )
    approval = Approval.objects.create(
        request=request,
        approver=actor,
        comment=comment,
        artifact_digest=evidence.get("artifact_digest") or "",
        expires_at=timezone.now() + policy.approval_ttl,
    )
    signed = {}
    if authentication is not None:
        signature = _signature_record(
            actor,
            request,
            decision=Decision.APPROVE,
            meaning=meaning,
            authentication=authentication,
            artifact_digest=approval.artifact_digest,
            approval=approval,
        )
        signed = {"signature": signature_described(signature)}
    if archive_existing_versions:
        request.archive_existing_versions = True
        request.save(update_fields=["archive_existing_versions", "updated_at"])
    activity_record(
        version=request.version,
        request=request,
        activity_type=ActivityType.APPROVED_REQUEST,
        user=actor,
        from_stage=request.from_stage,
        to_stage=request.target_label,
        comment=comment,
    )
    _request_changed(actor, Action.REQUEST_APPROVED, request, reason=comment, **signed)
    return _request_advance(request, policy, evidence)


def _request_fail(request: TransitionRequest, why: str, *, by=None) -> TransitionRequest:
    """End a request as failed: by the system (`by` None, `why` its finding) or by a MANAGE holder
    (`by`, `why` their comment)."""
    request.state = RequestState.FAILED
    request.state_reason = why
    request.decided_at = timezone.now()
    _decision_holder_record(request)
    request.save(update_fields=["state", "state_reason", "decided_at", "replaced_version", "updated_at"])
    activity_record(
        version=request.version,
        request=request,
        activity_type=ActivityType.SYSTEM_TRANSITION,
        user=by,
        from_stage=request.from_stage,
        to_stage=request.target_label,
        comment=why if by is not None else "",
        system_comment=f"Request failed: {why}"
        if by is None
        else "Request marked failed by a MANAGE holder.",
    )
    _request_changed(by or "system", Action.REQUEST_FAILED, request, reason=why)
    return request


def _stale_state(request: TransitionRequest) -> str | None:
    """Why the locked version no longer matches what was requested and approved, or None."""
    row = request.version
    row.refresh_from_db(fields=["stage", "deleted_at"])
    if row.deleted_at is not None:
        return f"Version {row.version} was deleted after the request was filed."
    if row.stage != request.from_stage and request.target_kind == TargetKind.STAGE:
        return (
            f"Version {row.version} moved from {request.from_stage} to {row.stage} after the request "
            "was filed; file a new request."
        )
    if request.removes and not request.model.aliases.filter(alias=request.target, version=row).exists():
        return (
            f"Alias '{request.target}' no longer points to version {row.version}; there is nothing to remove."
        )
    return None


def _superuser_power_record(actor, request: TransitionRequest, level: Level, doing: str) -> None:
    """Audit a superuser deciding a request with no approve grant of their own (superuser power only)."""
    # Without even a READ grant, reaching the request already recorded superuser power once for
    # this operation; record it here only when the approve level is what superuser status supplies.
    if (
        actor.is_superuser
        and user_holds(actor, Level.READ, request.model)
        and not user_holds(actor, level, request.model)
    ):
        superuser_action_record(actor=actor, doing=doing, target=request.model, needed=LEVEL_CODENAMES[level])


def _request_recheck(request: TransitionRequest, policy: rules.Policy, evidence: dict):
    """Re-read the facts under the lock: (why the request must fail, or None; the quorum verdict)."""
    facts = selectors.approval_facts(request, policy)
    changed = rules.digest_change(facts, evidence.get("artifact_digest"))
    if changed:
        return changed, None
    verdict = rules.quorum_verdict(
        policy,
        facts,
        requester_id=request.requester_id,
        creator_id=request.version.creator_id,
        evidence=evidence,
        shown=request.evidence,
        now=timezone.now(),
    )
    return None, verdict


def _request_advance(request: TransitionRequest, policy: rules.Policy, evidence: dict) -> TransitionRequest:
    """Under the model lock: fail, hand over, apply, or leave pending, as the facts now say."""
    failure, verdict = _request_recheck(request, policy, evidence)
    if failure:
        return _request_fail(request, failure)
    if not verdict.may_apply:
        return request
    stale = _stale_state(request)
    if stale:
        return _request_fail(request, stale)
    request.state = RequestState.APPROVED
    request.save(update_fields=["state", "updated_at"])
    if _needs_governed_copy(request, policy):
        artifact_services.governed_copy_queue_for_request(version=request.version, request_id=request.pk)
        request.state = RequestState.APPLYING
        request.save(update_fields=["state", "updated_at"])
        _request_changed(
            "system", Action.REQUEST_APPROVED, request, reason=verdict.reason, handed_to="pipeline"
        )
        return request
    return _request_apply_locked(request, verdict.reason)


def _needs_governed_copy(request: TransitionRequest, policy: rules.Policy) -> bool:
    """A Production-ranked promotion of validated artifacts applies only once they are in the governed store."""
    if not policy.require_validated_artifacts or policy.rank != rules.PRODUCTION_RANK:
        return False
    if request.evidence.get("kind") == "prompt":
        return False  # a prompt's template lives in the registry: there is nothing to copy
    return not artifact_services.governed_copy_exists(request.version)


def copy_verified_apply(event: GovernedCopyFinished) -> None:
    """Subscriber: a governed copy is proven; apply the requests that waited for it (each on its own)."""
    if not event.succeeded:
        return  # the requests stay applying; a retried copy applies them
    waiting = {event.request_id} if event.request_id else set()
    waiting.update(
        TransitionRequest.objects.filter(version=event.version, state=RequestState.APPLYING).values_list(
            "pk", flat=True
        )
    )
    for request_id in sorted(waiting):
        try:
            with transaction.atomic():
                transition_request_apply(request_id)
        except (NotFound, Conflict, PermissionDenied, InvalidParameter) as exc:
            # The request moved on while the copy ran (cancelled, rejected): the copy stands on its own.
            artifact_services.artifact_job_note(
                event.job_id,
                f"Governed copy done; transition request {request_id} was not applied: {exc.message}",
            )


def validation_finished_evidence_refresh(event: ValidationFinished) -> None:
    """Subscriber: the version's evidence changed; once validation's transaction commits, its open
    requests take the new facts (each refresh audited) and their full snapshots are taken again."""
    version_id, outcome = event.version.pk, event.outcome
    # Its own transaction after the commit: locks model, then requests, in the order every other
    # request change takes them (validation holds the version's lock).
    transaction.on_commit(lambda: evidence_refresh(version_id=version_id, outcome=outcome))


@transaction.atomic
def evidence_refresh(*, version_id: int, outcome: str) -> int:
    """Give the version's open requests the pipeline's current facts where theirs are stale; how many."""
    model_pk = ModelVersion.objects.filter(pk=version_id).values_list("model_id", flat=True).first()
    if model_pk is None:
        return 0
    RegisteredModel.objects.select_for_update().get(pk=model_pk)
    requests = list(
        TransitionRequest.objects.select_for_update(of=("self",))
        .select_related("model", "version")
        .filter(version_id=version_id, state__in=OPEN_STATES)
    )
    refreshed = 0
    for request in requests:
        live = version_evidence(request.version)
    for request in requests:
        stale = rules.evidence_staleness(request.evidence, live)
        if stale is None:
            continue
        before = request.evidence
        request.evidence = live
        request.save(update_fields=["evidence", "updated_at"])
        activity_record(
            version=request.version,
            request=request,
            activity_type=ActivityType.SYSTEM_TRANSITION,
            from_stage=request.from_stage,
            to_stage=request.target_label,
            system_comment=f"Evidence refreshed: validation finished ({outcome}).",
        )
        _request_changed(
            "system",
            Action.REQUEST_EVIDENCE_REFRESHED,
            request,
            reason=f"Validation finished ({outcome}); {stale}.",
            evidence_before=before,
            evidence=live,
        )
        request_evidence.snapshot_take_on_commit(request.pk, f"validation finished ({outcome})")
        refreshed += 1
        policy = selectors.request_policy(request)
        if policy is not None and request.state == RequestState.PENDING:
            # Approvals that waited for current evidence apply now, under the same lock.
            _request_advance(request, policy, live)
    return refreshed


def direct_change_timeline(event: StageChanged | AliasMoved) -> None:
    """Subscriber: put a direct (ungoverned) stage or alias change on the version's timeline."""
    if event.governed:
        return
    if isinstance(event, StageChanged):
        version, before, after = event.version, event.previous, event.current
    else:
        version, before, after = event.current, event.current.stage, f"@{event.alias}"
    activity_record(
        version=version,
        activity_type=ActivityType.APPLIED_TRANSITION,
        user=event.actor,
        from_stage=before,
        to_stage=after,
        system_comment="Applied directly (target not governed).",
    )


class PolicyGovernance:
    """The registry's governance port, answered from the promotion policies."""

    def direct_change_refusal(self, model: RegisteredModel, target_kind: str, target: str) -> str | None:
        own, defaults = selectors.policy_layers(model)
        policy = rules.policy_select(target_kind, target, own, defaults)
        if policy is None and target_kind == TargetKind.ALIAS:
            imitated = registry_rules.alias_imitated(target, selectors.governed_aliases(own, defaults))
            if imitated is not None:
                return registry_rules.alias_lookalike_refusal(target, imitated, model.name)
        return rules.direct_change_refusal(policy, target_kind, target, model.name)

    def is_governed(self, model: RegisteredModel, target_kind: str, target: str) -> bool:
        return selectors.policy_governing(model, target_kind, target) is not None

    def leave_refusal(
        self, model: RegisteredModel, target_kind: str, target: str, version: int, doing: str
    ) -> str | None:
        return rules.leave_refusal(
            selectors.policy_governing(model, target_kind, target),
            target_kind,
            target,
            model.name,
            version,
            doing,
        )

    def keeps_history(self, version: ModelVersion) -> bool:
        return selectors.version_keeps_history(version)

    def refusal_record(self, refusal: Refusal) -> None:
        # Its own transaction: the attempt's was rolled back (issue 20: refused attempts are audited).
        with transaction.atomic():
            audit.record(
                actor=refusal.actor,
                action=Action(refusal.action) if refusal.action else Action.TRANSITION_REFUSED,
                target=refusal.target,
                target_name=str(refusal.target),
                model_name=refusal.model_name,
                version=refusal.version,
                after={"attempted": refusal.attempted, "refused": True},
                reason=refusal.reason,
            )


def version_deleted_requests_close(event: VersionDeleted) -> None:
    """Subscriber: a deleted version's open requests end (cancelled by the system); its history stays."""
    open_requests = (
        TransitionRequest.objects.select_for_update(of=("self",))
        .select_related("model", "version")
        .filter(version_id=event.version.pk, state__in=OPEN_STATES)
    )
    for request in open_requests:
        _request_close(
            request,
            RequestState.CANCELLED,
            actor="system",
            reason=f"Version {event.version.version} was deleted.",
            activity_type=ActivityType.SYSTEM_TRANSITION,
            action=Action.REQUEST_CANCELLED,
        )


def _decision_holder_record(request: TransitionRequest) -> None:
    """Remember what the target held when the request was decided (before an apply moves it), and
    take the decided request's evidence snapshot beside that version once this commits."""
    request.replaced_version = selectors.version_holding(request)
    request_evidence.snapshot_take_on_commit(request.pk, "decided")


def _request_apply_locked(request: TransitionRequest, why: str) -> TransitionRequest:
    model: RegisteredModel = request.model
    row = request.version
    _decision_holder_record(request)
    if request.target_kind == TargetKind.STAGE:
        target = Stage(request.target)
        archived = []
        if request.archive_existing_versions:
            archived = list(
                ModelVersion.objects.filter(
                    model=model, stage__in=registry_rules.stages_archived_by(target, True)
                ).exclude(pk=row.pk)
            )
        stage_apply(
            actor="system",
            model=model,
            row=row,
            stage=target,
            archive_existing_versions=request.archive_existing_versions,
            governed=True,
            reason=f"transition request #{request.pk}: {why}",
        )
        for other in archived:
            activity_record(
                version=other,
                request=request,
                activity_type=ActivityType.SYSTEM_TRANSITION,
                from_stage=other.stage,
                to_stage=Stage.ARCHIVED.value,
                system_comment=f"Archived because version {row.version} entered {target.value}.",
            )
    elif request.removes:
        alias_remove_apply(actor="system", model=model, alias=request.target, reason=f"request #{request.pk}")
    else:
        alias_apply(
            actor="system", model=model, alias=request.target, row=row, reason=f"request #{request.pk}"
        )
    request.state = RequestState.APPLIED
    request.state_reason = why
    request.decided_at = timezone.now()
    request.save(update_fields=["state", "state_reason", "decided_at", "replaced_version", "updated_at"])
    activity_record(
        version=row,
        request=request,
        activity_type=ActivityType.APPLIED_TRANSITION,
        from_stage=request.from_stage,
        to_stage=request.target_label,
        system_comment=why,
    )
    _request_changed("system", Action.REQUEST_APPLIED, request, reason=why)
    if not request.removes and artifact_services.version_evidence(row).get("validated") is True:
        _promotion_attest(request, why)
    return request


def _attested_signature(approval: Approval) -> dict | None:
    signed = getattr(approval, "signature", None)
    if signed is None:
        return None
    return {
        "meaning": signed.meaning,
        "signed_at": signed.signed_at.isoformat(),
        "record_hash": signed.record_hash,
    }


def _promotion_attest(request: TransitionRequest, why: str) -> None:
    """Quorum's signed statement that this version was promoted, by whom and under which policy (issue 24)."""
    policy = selectors.policy_governing(request.model, request.target_kind, request.target)
    approvals = request.approvals.select_related("approver", "signature").order_by("created_at", "pk")
    artifact_services.promotion_attest(
        version=request.version,
        request_id=request.pk,
        predicate={
            "request": request.pk,
            "model": request.model.name,
            "version": request.version.version,
            "target": {"kind": request.target_kind, "name": request.target},
            "requester": request.requester.username if request.requester_id else None,
            "reason": request.reason,
            "approvers": [
                {
                    "username": a.approver.username,
                    "full_name": a.approver.get_full_name(),
                    "approved_at": a.created_at.isoformat(),
                    "comment": a.comment,
                    "artifact_digest": a.artifact_digest,
                    "signature": _attested_signature(a),
                }
                for a in approvals
            ],
            "policy": {
                "required_approvals": policy.required_approvals if policy else 0,
                "rank": policy.rank if policy else None,
                "require_validated_artifacts": bool(policy and policy.require_validated_artifacts),
                "require_producer_signature": bool(policy and policy.require_producer_signature),
                "refuse_pickle_severity": policy.refuse_pickle_severity if policy else "",
                "require_signature": bool(policy and policy.require_signature),
                "required_meanings": list(policy.required_meanings) if policy else [],
            },
            "manifest_digest": request.version.artifact_manifest.digest,
            "applied_at": request.decided_at.isoformat(),
            "outcome": why,
        },
    )


@transaction.atomic
def transition_request_apply(request_id: int) -> TransitionRequest:
    """Apply a request the artifact pipeline held (state `applying`) once its governed copy is proven.

    Re-checks everything under the model lock: approvals that lapsed or lost their permission during
    the copy send the request back to pending; a changed digest fails it.
    """
    model_pk = TransitionRequest.objects.filter(pk=request_id).values_list("model_id", flat=True).first()
    if model_pk is None:
        raise NotFound(f"Transition request {request_id} not found")
    RegisteredModel.objects.select_for_update().get(pk=model_pk)
    request = (
        TransitionRequest.objects.select_for_update(of=("self",))
        .select_related("model", "version")
        .get(pk=request_id)
    )
    if request.state == RequestState.APPLIED:
        return request  # a duplicate delivery after success
    if request.state not in (RequestState.APPLYING, RequestState.APPROVED):
        raise Conflict(f"Transition request {request_id} is {request.state}; it cannot be applied.")
    policy = selectors.request_policy(request)
    if policy is None:
        return _request_apply_locked(request, "The target is no longer governed.")
    evidence = version_evidence(request.version)
    failure, verdict = _request_recheck(request, policy, evidence)
    if failure:
        return _request_fail(request, failure)
    if not verdict.may_apply:
        request.state = RequestState.PENDING
        request.state_reason = verdict.reason
        request.save(update_fields=["state", "state_reason", "updated_at"])
        _request_changed(
            "system", Action.REQUEST_FAILED, request, reason=f"Back to pending: {verdict.reason}"
        )
        return request
    stale = _stale_state(request)
    if stale:
        return _request_fail(request, stale)
    return _request_apply_locked(request, verdict.reason)


def _request_close(
    request: TransitionRequest,
    state: RequestState,
    *,
    actor,
    reason: str,
    activity_type: ActivityType,
    action: Action,
    when=None,
    **extra,
) -> TransitionRequest:
    """End a request (rejected, cancelled, expired): state, timeline entry and audit event together."""
    request.state = state
    request.state_reason = reason
    request.decided_at = when or timezone.now()
    _decision_holder_record(request)
    request.save(update_fields=["state", "state_reason", "decided_at", "replaced_version", "updated_at"])
    by_system = actor == "system"
    activity_record(
        version=request.version,
        request=request,
        activity_type=activity_type,
        user=None if by_system else actor,
        from_stage=request.from_stage,
        to_stage=request.target_label,
        comment="" if by_system else reason,
        system_comment="Request expired." if state == RequestState.EXPIRED else "",
    )
    _request_changed(actor, action, request, reason=reason, **extra)
    return request


def transition_request_reject(
    *, actor, request_id: int, comment: object, signing: SigningCredentials | None = None, http_request=None
) -> TransitionRequest:
    """End a request: anyone who could approve it may reject it, with a comment (signed when
    `signing` is given, and where the policy requires signatures)."""
    authentication = _signer_verified(actor, request_id, signing, http_request, rejecting=True)
    return _transition_request_reject(
        actor=actor, request_id=request_id, comment=comment, authentication=authentication
    )


@ports.refusals_recorded
def _transition_request_reject(
    *, actor, request_id: int, comment: object, authentication: str | None
) -> TransitionRequest:
    comment = _text(comment, "comment", required=True)
    request = _locked_request(actor, request_id, Level.READ, "Rejecting a request")
    if request.state not in (RequestState.PENDING, RequestState.APPROVED):
        raise Conflict(f"Transition request {request_id} is {request.state}; it can no longer be rejected.")
    refusal = selectors.reject_refusal_for(actor, request)
    if refusal:
        raise PermissionDenied(refusal)
    policy = selectors.request_policy(request)
    if authentication is None and _signature_needed(policy):
        raise _signature_missing(actor, request, rejecting=True)
    if policy is not None:
        _superuser_power_record(
            actor, request, selectors.rank_level(policy), "Rejecting a transition request"
        )
    signed = {}
    if authentication is not None:
        signature = _signature_record(
            actor,
            request,
            decision=Decision.REJECT,
            meaning=rules.REJECTION_MEANING,
            authentication=authentication,
            artifact_digest=version_evidence(request.version).get("artifact_digest") or "",
        )
        signed = {"signature": signature_described(signature)}
    return _request_close(
        request,
        RequestState.REJECTED,
        actor=actor,
        reason=comment,
        activity_type=ActivityType.REJECTED_REQUEST,
        action=Action.REQUEST_REJECTED,
        **signed,
    )


@transaction.atomic
def transition_request_cancel(*, actor, request_id: int, comment: object = "") -> TransitionRequest:
    """Withdraw a request: its requester or a MANAGE holder; one stuck in `applying` (its governed copy
    failed) only a MANAGE holder, with a reason."""
    comment = _text(comment, "comment", required=False)
    request = _locked_request(actor, request_id, Level.READ, "Cancelling a request")
    manages = user_can(actor, Level.MANAGE, request.model)
    if request.requester_id != actor.pk and not manages:
        raise PermissionDenied("Only the requester or a MANAGE holder can cancel a transition request.")
    if request.state == RequestState.APPLYING:
        _stuck_request_check(actor, request, comment, manages, "cancel")
    elif request.state not in (RequestState.PENDING, RequestState.APPROVED):
        raise Conflict(f"Transition request {request_id} is {request.state}; it can no longer be cancelled.")
    return _request_close(
        request,
        RequestState.CANCELLED,
        actor=actor,
        reason=comment,
        activity_type=ActivityType.CANCELLED_REQUEST,
        action=Action.REQUEST_CANCELLED,
    )


def _stuck_request_check(actor, request: TransitionRequest, reason: str, manages: bool, doing: str) -> None:
    """Ending a request the artifact pipeline holds (`applying`) is a MANAGE holder's call, with a reason."""
    if not manages:
        raise PermissionDenied(
            f"Transition request {request.pk} is applying (waiting for its governed copy); only a MANAGE "
            f"holder can {doing} it."
        )
    if not reason:
        raise InvalidParameter(
            f"A comment saying why is required to {doing} an applying request.", field="comment"
        )


@transaction.atomic
def transition_request_fail(*, actor, request_id: int, comment: object) -> TransitionRequest:
    """Mark a request stuck in `applying` (its governed copy failed) as failed: a MANAGE holder, with a
    reason. It then no longer holds its target: a new request for the same version and target may be
    filed. A later successful copy does not apply it (the copy stands on its own)."""
    comment = _text(comment, "comment", required=True)
    request = _locked_request(actor, request_id, Level.READ, "Failing a request")
    if request.state not in (RequestState.APPLYING, RequestState.APPROVED):
        raise Conflict(
            f"Transition request {request_id} is {request.state}; only a request waiting to apply "
            "(applying or approved) can be marked failed."
        )
    _stuck_request_check(actor, request, comment, user_can(actor, Level.MANAGE, request.model), "fail")
    _superuser_power_record(actor, request, Level.MANAGE, "Failing a transition request")
    return _request_fail(request, comment, by=actor)


@transaction.atomic
def transition_requests_expire(*, now=None) -> int:
    """Mark pending requests older than the request TTL as expired; returns how many."""
    now = now or timezone.now()
    cutoff = now - selectors.request_ttl()
    expired = 0
    for request in (
        TransitionRequest.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("model", "version")
        .filter(state=RequestState.PENDING, created_at__lt=cutoff)
    ):
        _request_close(
            request,
            RequestState.EXPIRED,
            actor="system",
            reason=f"Pending for longer than {selectors.request_ttl()}.",
            activity_type=ActivityType.SYSTEM_TRANSITION,
            action=Action.REQUEST_EXPIRED,
            when=now,
        )
        expired += 1
    return expired


# --- Comments ------------------------------------------------------------------------------


@transaction.atomic
def version_comment_create(
    *, actor, name: str, version: int, comment: object, request_id: int | None = None
) -> VersionActivity:
    """Comment on a version's timeline (optionally on one of its requests); READ is enough."""
    comment = _text(comment, "comment", required=True)
    version = registry_rules.parse_version_number(version)
    model = registered_model_for_update(actor, name, Level.READ, "Commenting")
    row = ModelVersion.objects.filter(model=model, version=version).first()
    if row is None:
        raise NotFound(f"Model Version (name={name}, version={version}) not found")
    row.model = model  # at hand and locked: what is recorded of the comment needs no query
    request = None
    if request_id is not None:
        request = TransitionRequest.objects.filter(pk=request_id, version=row).first()
        if request is None:
            raise NotFound(f"Transition request {request_id} not found on {name} version {version}")
    entry = activity_record(
        version=row, request=request, activity_type=ActivityType.NEW_COMMENT, user=actor, comment=comment
    )
    audit.record(
        actor=actor,
        action=Action.REQUEST_COMMENTED,
        target=row,
        model_name=name,
        version=version,
        after={"comment_id": entry.pk, "request_id": request_id, "comment": comment},
        reason=comment,
    )
    events.publish(
        CommentCreated(actor=actor, version=row, comment_id=entry.pk, request_id=request_id, comment=comment)
    )
    return entry


def _locked_comment(actor, comment_id: object) -> VersionActivity:
    if isinstance(comment_id, str) and comment_id.strip().isdigit():
        comment_id = int(comment_id)
    if not isinstance(comment_id, int) or isinstance(comment_id, bool):
        raise InvalidParameter("Parameter 'id' must be a comment id.", field="id")
    found = (
        VersionActivity.objects.filter(pk=comment_id, activity_type=ActivityType.NEW_COMMENT)
        .values("version__model__name")
        .first()
    )
    from registry.selectors import registered_models_visible_to

    if (
        found is None
        or not registered_models_visible_to(actor).filter(name=found["version__model__name"]).exists()
    ):
        raise NotFound(f"Comment {comment_id} not found")
    registered_model_for_update(actor, found["version__model__name"], Level.READ, "Changing a comment")
    return (
        VersionActivity.objects.select_for_update(of=("self",))
        .select_related("version__model")
        .get(pk=comment_id)
    )


@transaction.atomic
def version_comment_update(*, actor, comment_id: object, comment: object) -> VersionActivity:
    comment = _text(comment, "comment", required=True)
    entry = _locked_comment(actor, comment_id)
    if entry.user_id != actor.pk:
        raise PermissionDenied("Only the author of a comment can edit it.")
    before = entry.comment
    entry.comment = comment
    entry.save(update_fields=["comment", "updated_at"])
    audit.record(
        actor=actor,
        action=Action.REQUEST_COMMENTED,
        target=entry.version,
        model_name=entry.version.model.name,
        version=entry.version.version,
        before={"comment_id": entry.pk, "comment": before},
        after={"comment_id": entry.pk, "comment": comment},
    )
    return entry


@transaction.atomic
def version_comment_delete(*, actor, comment_id: object) -> None:
    entry = _locked_comment(actor, comment_id)
    if entry.user_id != actor.pk and not user_can(actor, Level.MANAGE, entry.version.model):
        raise PermissionDenied("Only the author of a comment or a MANAGE holder can delete it.")
    audit.record(
        actor=actor,
        action=Action.REQUEST_COMMENTED,
        target=entry.version,
        model_name=entry.version.model.name,
        version=entry.version.version,
        before={"comment_id": entry.pk, "comment": entry.comment},
        after=None,
        reason="comment deleted",
    )
    entry.delete()
