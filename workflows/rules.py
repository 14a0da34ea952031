"""Pure decisions of the approval workflow (no I/O): who may approve, and may a request apply now.

Everything here takes plain values (policies, approval facts, evidence) so it is trivially unit-tested;
services gather the facts under the right locks and act on the verdicts.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from registry.models import Stage

STAGING_RANK = "staging"
PRODUCTION_RANK = "production"
STAGE_KIND = "stage"
ALIAS_KIND = "alias"


@dataclass(frozen=True)
class Policy:
    """A promotion policy as rules see it (from a PromotionPolicy row or the embedded default)."""

    target_kind: str
    target: str
    required_approvals: int
    rank: str
    governed: bool = True
    requester_may_approve: bool = False
    creator_may_approve: bool = False
    required_team: str | None = None
    require_validated_artifacts: bool = True
    approval_ttl: timedelta = timedelta(hours=72)


# The embedded default policy set: applies when the organisation has configured no default of its own.
EMBEDDED_DEFAULT_POLICIES: tuple[Policy, ...] = (
    Policy(STAGE_KIND, Stage.PRODUCTION.value, required_approvals=2, rank=PRODUCTION_RANK),
    Policy(ALIAS_KIND, "champion", required_approvals=2, rank=PRODUCTION_RANK),
    Policy(
        STAGE_KIND,
        Stage.STAGING.value,
        required_approvals=1,
        rank=STAGING_RANK,
        require_validated_artifacts=False,
    ),
)


def policy_select(
    target_kind: str,
    target: str,
    model_policies: Sequence[Policy],
    default_policies: Sequence[Policy],
) -> Policy | None:
    """The policy governing a target: the model's own, else the organisation's default, else embedded.

    Each layer is consulted per target, so configuring one default never silently opens another
    target; a policy with governed=False opens its target explicitly. None means ungoverned.
    """
    for layer in (model_policies, default_policies, EMBEDDED_DEFAULT_POLICIES):
        for policy in layer:
            if policy.target_kind == target_kind and policy.target == target:
                return policy if policy.governed else None
    return None


def direct_change_refusal(
    policy: Policy | None, target_kind: str, target: str, model_name: str
) -> str | None:
    """Why a direct set of this target is refused (it is governed), or None if it may go ahead."""
    if policy is None:
        return None
    what = f"stage '{target}'" if target_kind == STAGE_KIND else f"alias '{target}'"
    return (
        f"{what.capitalize()} of registered model '{model_name}' is governed by a promotion policy "
        f"({policy.required_approvals} approval(s), {policy.rank} rank): it changes only through an "
        f"approved transition request. File one with POST /api/v1/models/{model_name}/requests "
        f'{{"version": <n>, "{target_kind}": "{target}", "reason": "..."}}'
        + (" or POST /api/2.0/mlflow/transition-requests/create." if target_kind == STAGE_KIND else ".")
    )


def approver_refusal(
    policy: Policy,
    *,
    approver_id: int,
    requester_id: int | None,
    creator_id: int | None,
    holds_rank: bool,
    already_approved: bool,
) -> str | None:
    """Why this person may not approve this request, or None if they may."""
    if already_approved:
        return "You have already approved this request; each person approves once."
    if approver_id == requester_id and not policy.requester_may_approve:
        return "Four-eyes rule: the requester may not approve their own request."
    if approver_id == creator_id and not policy.creator_may_approve:
        return "The author of the version may not approve its promotion."
    if not holds_rank:
        level = "APPROVE_PRODUCTION" if policy.rank == PRODUCTION_RANK else "APPROVE_STAGING"
        return f"Approving a {policy.rank}-rank target needs the {level} permission on the model."
    return None


@dataclass(frozen=True)
class ApprovalFacts:
    """An approval with what is true of its approver *now* (permission and team are re-checked)."""

    approver_id: int
    approver_name: str
    expires_at: datetime
    holds_rank: bool
    in_required_team: bool
    artifact_digest: str = ""


@dataclass(frozen=True)
class Verdict:
    """Whether a request may apply now; `missing` says what is still needed, in words."""

    may_apply: bool
    reason: str
    counted: tuple[str, ...] = ()
    missing: tuple[str, ...] = field(default_factory=tuple)


def approvals_counted(
    policy: Policy,
    approvals: Sequence[ApprovalFacts],
    *,
    requester_id: int | None,
    creator_id: int | None,
    now: datetime,
) -> list[ApprovalFacts]:
    """Approvals that still count: unexpired, by distinct people who still hold the rank's permission."""
    seen: set[int] = set()
    counted = []
    for approval in approvals:
        if approval.approver_id in seen or approval.expires_at <= now or not approval.holds_rank:
            continue
        if approval.approver_id == requester_id and not policy.requester_may_approve:
            continue
        if approval.approver_id == creator_id and not policy.creator_may_approve:
            continue
        seen.add(approval.approver_id)
        counted.append(approval)
    return counted


def validation_refusal(policy: Policy, evidence: dict) -> str | None:
    """Why the version's artifacts do not satisfy the policy, or None.

    Only an explicit `validated: True` satisfies a policy that requires validation: evidence that is
    missing or unknown blocks, it never passes for validated.
    """
    if not policy.require_validated_artifacts:
        return None
    if evidence.get("validated") is True:
        return None
    return "validated artifacts (the artifact pipeline has not validated this version)"


def quorum_verdict(
    policy: Policy,
    approvals: Sequence[ApprovalFacts],
    *,
    requester_id: int | None,
    creator_id: int | None,
    evidence: dict,
    now: datetime,
) -> Verdict:
    """May a request under `policy`, with these approvals and this evidence, apply now?"""
    counted = approvals_counted(policy, approvals, requester_id=requester_id, creator_id=creator_id, now=now)
    names = tuple(a.approver_name for a in counted)
    missing: list[str] = []
    short = policy.required_approvals - len(counted)
    if short > 0:
        missing.append(f"{short} more approval{'s' if short > 1 else ''} ({policy.rank} rank)")
    if policy.required_team and not any(a.in_required_team for a in counted):
        missing.append(f"an approval from team '{policy.required_team}'")
    validation = validation_refusal(policy, evidence)
    if validation:
        missing.append(validation)
    if missing:
        return Verdict(False, "Still needed: " + "; ".join(missing) + ".", names, tuple(missing))
    return Verdict(True, f"Approved by {', '.join(names)}.", names, ())


def digest_change(approvals: Sequence[ApprovalFacts], current_digest: str | None) -> str | None:
    """Why the request must fail because the artifacts changed after someone approved them, or None."""
    if not current_digest:
        return None
    for approval in approvals:
        if approval.artifact_digest and approval.artifact_digest != current_digest:
            return (
                f"The version's artifact digest changed after {approval.approver_name} approved it "
                f"({approval.artifact_digest[:12]}… -> {current_digest[:12]}…); file a new request."
            )
    return None
