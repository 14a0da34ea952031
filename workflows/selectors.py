"""Reads of the approval workflow, filtered to what the user may see."""

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from access.grants import Level, user_can
from artifacts import services as artifact_services
from registry.errors import NotFound
from registry.models import ModelVersion, RegisteredModel
from registry.selectors import model_version_get, registered_models_visible_to
from workflows import rules
from workflows.models import (
    OPEN_STATES,
    Approval,
    PromotionPolicy,
    RequestState,
    Signature,
    TargetKind,
    TransitionRequest,
    VersionActivity,
)


def policy_row_values(row: PromotionPolicy) -> dict:
    """Every setting of a policy row under its rules.Policy name (the one list of policy fields is
    rules.Policy): the team by name, the approvals' lifetime in hours, meanings as lists."""
    values = {}
    for name in rules.POLICY_FIELD_NAMES:
        if name == "required_team":
            values[name] = row.required_team.name if row.required_team_id else None
        elif name == "approval_ttl":
            values["approval_ttl_hours"] = row.approval_ttl_hours
        else:
            values[name] = getattr(row, name)
    return values


def policy_as_rule(row: PromotionPolicy) -> rules.Policy:
    return rules.policy_from_values(policy_row_values(row))


def policy_layers(model: RegisteredModel) -> tuple[list[rules.Policy], list[rules.Policy]]:
    """The model's own policies and the organisation's defaults, in one query."""
    rows = PromotionPolicy.objects.filter(model__isnull=True) | PromotionPolicy.objects.filter(model=model)
    rows = list(rows.select_related("required_team__group"))
    return (
        [policy_as_rule(r) for r in rows if r.model_id == model.pk],
        [policy_as_rule(r) for r in rows if r.model_id is None],
    )


def policy_governing(model: RegisteredModel, target_kind: str, target: str) -> rules.Policy | None:
    """The policy in force for one target of `model` (None: ungoverned)."""
    return rules.policy_select(target_kind, target, *policy_layers(model))


def governed_aliases(own: list[rules.Policy], defaults: list[rules.Policy]) -> list[str]:
    """The alias names a policy governs for a model with these policy layers."""
    names = dict.fromkeys(
        p.target
        for p in (*own, *defaults, *rules.EMBEDDED_DEFAULT_POLICIES)
        if p.target_kind == rules.ALIAS_KIND
    )
    return [name for name in names if rules.policy_select(rules.ALIAS_KIND, name, own, defaults) is not None]


def policies_for(model: RegisteredModel | None) -> list[PromotionPolicy]:
    return list(PromotionPolicy.objects.filter(model=model).select_related("required_team__group"))


def organisation_floor(target_kind: str, target: str) -> rules.Policy | None:
    """The organisation's policy for one target (its default, else the embedded one): a model's floor."""
    return rules.policy_floor(target_kind, target, [policy_as_rule(r) for r in policies_for(None)])


def policies_effective(model: RegisteredModel | None) -> list[dict]:
    """Every target with a policy at any layer, with the policy in force and where it comes from."""
    own = [policy_as_rule(r) for r in policies_for(model)] if model is not None else []
    defaults = [policy_as_rule(r) for r in policies_for(None)]
    targets = dict.fromkeys(
        (p.target_kind, p.target) for p in (*rules.EMBEDDED_DEFAULT_POLICIES, *defaults, *own)
    )
    answer = []
    for kind, target in targets:
        policy, source = rules.policy_effective(kind, target, own, defaults)
        floor = rules.policy_floor(kind, target, defaults)
        mine = next((p for p in own if p.target_kind == kind and p.target == target), None)
        entry = {"target_kind": kind, "target": target, "source": source, "governed": policy is not None}
        if policy is not None:
            entry |= {
                k: v
                for k, v in rules.policy_values(policy).items()
                if k not in ("target_kind", "target", "governed", "floor_waived")
            }
        entry["floor_waived"] = bool(mine and mine.floor_waived)
        entry["raised_to_floor"] = bool(
            mine and not mine.floor_waived and rules.policy_loosenings(mine, floor)
        )
        answer.append(entry)
    return answer


def request_ttl():
    from datetime import timedelta

    return timedelta(hours=getattr(settings, "QUORUM_REQUEST_TTL_HOURS", 30 * 24))


def request_detail_queryset(qs: QuerySet[TransitionRequest]) -> QuerySet[TransitionRequest]:
    return qs.select_related("model", "version", "version__creator", "requester").prefetch_related(
        Prefetch(
            "approvals",
            queryset=Approval.objects.select_related("approver", "signature").order_by("created_at"),
        ),
        Prefetch("signatures", queryset=Signature.objects.order_by("signed_at", "pk")),
    )


def pending_stage_requests_of(
    user, name: str, version: int, stage: str | None = None, *, target_kind: str = TargetKind.STAGE
) -> QuerySet[TransitionRequest]:
    """Pending requests of one version the user can see (hidden or missing: NotFound), oldest first:
    stage requests (or `target_kind` alias requests) to `stage`, or every pending one when None."""
    row = model_version_get(user, name, version)
    found = TransitionRequest.objects.filter(version=row, state=RequestState.PENDING)
    if stage is not None:
        found = found.filter(target_kind=target_kind, target=stage)
    return request_detail_queryset(found).order_by("created_at")


def transition_requests_visible_to(user) -> QuerySet[TransitionRequest]:
    return request_detail_queryset(
        TransitionRequest.objects.filter(model__in=registered_models_visible_to(user).values("pk"))
    )


def transition_request_get(user, request_id: int) -> TransitionRequest:
    found = transition_requests_visible_to(user).filter(pk=request_id).first()
    if found is None:
        raise NotFound(f"Transition request {request_id} not found")
    return found


def rank_level(policy: rules.Policy) -> Level:
    return Level.APPROVE_PRODUCTION if policy.rank == rules.PRODUCTION_RANK else Level.APPROVE_STAGING


def approval_facts(request: TransitionRequest, policy: rules.Policy) -> list[rules.ApprovalFacts]:
    """Each approval with what holds for its approver now: permission and team membership re-checked."""
    level = rank_level(policy)
    facts = []
    for approval in request.approvals.all():
        approver = approval.approver
        in_team = bool(policy.required_team) and approver.groups.filter(name=policy.required_team).exists()
        signed = getattr(approval, "signature", None)
        facts.append(
            rules.ApprovalFacts(
                approver_id=approver.pk,
                approver_name=approver.get_username(),
                expires_at=approval.expires_at,
                holds_rank=user_can(approver, level, request.model),
                in_required_team=in_team,
                artifact_digest=approval.artifact_digest,
                is_service_account=approver.is_service_account,
                signature=rules.SignatureFacts(
                    meaning=signed.meaning, artifact_digest=signed.artifact_digest, intact=signed.intact
                )
                if signed is not None
                else None,
            )
        )
    return facts


def transition_policy(
    model: RegisteredModel, target_kind: str, target: str, from_stage: str, removes: bool = False
) -> rules.Policy | None:
    """The policy a request for this change answers to (None: nothing governs it)."""
    if target_kind == TargetKind.ALIAS:
        policy = policy_governing(model, target_kind, target)
        return rules.transition_policy(None, policy) if removes else policy
    entering = policy_governing(model, target_kind, target)
    leaving = policy_governing(model, target_kind, from_stage) if from_stage != target else None
    return rules.transition_policy(entering, leaving)


def request_policy(request: TransitionRequest) -> rules.Policy | None:
    return transition_policy(
        request.model, request.target_kind, request.target, request.from_stage, request.removes
    )


def version_keeps_history(version: ModelVersion) -> bool:
    """A version that was ever in a governed target (an applied request took it in or out, or it holds
    one now) keeps its history when deleted: it is never hard-deleted."""
    if TransitionRequest.objects.filter(version=version, state=RequestState.APPLIED).exists():
        return True
    if policy_governing(version.model, TargetKind.STAGE, version.stage) is not None:
        return True
    return any(
        policy_governing(version.model, TargetKind.ALIAS, alias) is not None
        for alias in version.aliases.values_list("alias", flat=True)
    )


def request_timeline(request: TransitionRequest) -> QuerySet[VersionActivity]:
    """The timeline of a request's version, also when the version is deleted (a tombstone)."""
    return VersionActivity.objects.filter(version_id=request.version_id).select_related("user", "request")


def request_verdict(request: TransitionRequest, evidence: dict | None = None) -> rules.Verdict:
    """What the request has and what it still needs, as of now (`evidence`: the pipeline's facts
    now, read when not given; the request's stored evidence is what its approvers were shown)."""
    policy = request_policy(request)
    if policy is None:
        return rules.Verdict(True, "The target is no longer governed.")
    if evidence is None:
        evidence = {"pipeline": True, **artifact_services.version_evidence(request.version)}
    return rules.quorum_verdict(
        policy,
        approval_facts(request, policy),
        requester_id=request.requester_id,
        creator_id=request.version.creator_id,
        evidence=evidence,
        shown=request.evidence,
        now=timezone.now(),
    )


def approve_refusal_for(user, request: TransitionRequest) -> str | None:
    """Why `user` may not approve `request` now, or None (used by views to show or hide buttons)."""
    if request.state != RequestState.PENDING:
        return f"The request is {request.state}."
    policy = request_policy(request)
    if policy is None:
        return "The target is no longer governed."
    return rules.approver_refusal(
        policy,
        approver_id=user.pk,
        requester_id=request.requester_id,
        creator_id=request.version.creator_id,
        holds_rank=user_can(user, rank_level(policy), request.model),
        already_approved=any(a.approver_id == user.pk for a in request.approvals.all()),
        is_service_account=getattr(user, "is_service_account", False),
    )


def reject_refusal_for(user, request: TransitionRequest) -> str | None:
    if request.state not in (RequestState.PENDING, RequestState.APPROVED):
        return f"The request is {request.state}."
    policy = request_policy(request)
    if policy is not None and not user_can(user, rank_level(policy), request.model):
        return f"Rejecting a {policy.rank}-rank request needs the {rank_level(policy).value} permission on the model."
    return None


def manages(user, request: TransitionRequest) -> bool:
    return user_can(user, Level.MANAGE, request.model)


def transition_requests_actionable_by(user) -> list[TransitionRequest]:
    """Pending requests `user` may approve now: the approver's queue."""
    pending = transition_requests_visible_to(user).filter(state=RequestState.PENDING).order_by("created_at")
    return [r for r in pending if approve_refusal_for(user, r) is None]


def version_timeline(user, name: str, version: int) -> tuple[ModelVersion, QuerySet[VersionActivity]]:
    row = model_version_get(user, name, version)
    return row, VersionActivity.objects.filter(version=row).select_related("user", "request")


def version_holding(request: TransitionRequest) -> ModelVersion | None:
    """The version that holds the request's target now (for side-by-side comparison)."""
    if request.target_kind == rules.ALIAS_KIND:
        alias = request.model.aliases.filter(alias=request.target).select_related("version").first()
        return alias.version if alias else None
    return (
        ModelVersion.objects.filter(model=request.model, stage=request.target)
        .exclude(pk=request.version_id)
        .order_by("-version")
        .first()
    )


def open_request_requester_ids(version: ModelVersion) -> list[int]:
    """Who requested a transition of `version` that is still open (pending, approved or applying)."""
    return list(
        TransitionRequest.objects.filter(version=version, state__in=OPEN_STATES, requester__isnull=False)
        .values_list("requester_id", flat=True)
        .distinct()
    )


def signature_latest_by(user, request_id: int) -> Signature | None:
    """The signature `user` last gave request `request_id` (None: unsigned), for a decision's answer."""
    return Signature.objects.filter(request_id=request_id, signer=user).order_by("-signed_at", "-pk").first()
