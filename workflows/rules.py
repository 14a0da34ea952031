"""Pure decisions of the approval workflow (no I/O): who may approve, and may a request apply now.

Everything here takes plain values (policies, approval facts, evidence) so it is trivially unit-tested;
services gather the facts under the right locks and act on the verdicts.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta

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
    # Issue 24: a trusted producer signature, and the pickle-scan severity that refuses a version.
    require_producer_signature: bool = False
    refuse_pickle_severity: str = ""
    approval_ttl: timedelta = timedelta(hours=72)
    # Organisation policies only (a model's own may not loosen it): service accounts' approvals count.
    service_accounts_count: bool = False
    # The version needs a current passing independent validation (evidence `validation_current`).
    require_current_validation: bool = False
    # The version needs an approved model card for its current artifacts (evidence `card_approved`).
    require_approved_card: bool = False
    # Issue 23: approvals (and rejections) are electronic signatures: the signer re-authenticates and
    # gives a meaning; `signature_meanings` are those accepted (empty: every configured meaning),
    # `required_meanings` each need a counted signature (from different people, one per person).
    require_signature: bool = False
    signature_meanings: tuple[str, ...] = ()
    required_meanings: tuple[str, ...] = ()
    # A superuser set this model policy although it loosens the organisation's floor (audited).
    floor_waived: bool = False


POLICY_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Policy))


def policy_values(policy: Policy) -> dict:
    """A policy's settings as stored and shown (JSON-ready): `approval_ttl_hours`, meanings as lists."""
    values = {}
    for name in POLICY_FIELD_NAMES:
        value = getattr(policy, name)
        if name == "approval_ttl":
            values["approval_ttl_hours"] = int(value.total_seconds() // 3600)
        else:
            values[name] = list(value) if isinstance(value, tuple) else value
    return values


def policy_from_values(values: dict) -> Policy:
    """The inverse of `policy_values` (a row's or the API's settings as the rules see them)."""
    given = dict(values)
    if "approval_ttl_hours" in given:
        given["approval_ttl"] = timedelta(hours=given.pop("approval_ttl_hours"))
    known = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if k in POLICY_FIELD_NAMES}
    return Policy(**known)


# The embedded default policy set: applies when the organisation has configured no default of its own.
EMBEDDED_DEFAULT_POLICIES: tuple[Policy, ...] = (
    Policy(
        STAGE_KIND, Stage.PRODUCTION.value, required_approvals=2, rank=PRODUCTION_RANK, require_signature=True
    ),
    Policy(ALIAS_KIND, "champion", required_approvals=2, rank=PRODUCTION_RANK, require_signature=True),
    Policy(
        STAGE_KIND,
        Stage.STAGING.value,
        required_approvals=1,
        rank=STAGING_RANK,
        require_validated_artifacts=False,
    ),
)


# --- Floors: a model's own policy may tighten the organisation's, never loosen it ---------------
#
# The one comparison of two policies, field by field: each entry says how strict a value is (a larger
# key is stricter) and, in words, what it means to go below the floor. `policy_loosenings` (may this
# model policy be set?) and `policy_floored` (what applies when it was set before the floor rose)
# both read this table, so they cannot disagree.
_RANK_ORDER = {STAGING_RANK: 0, PRODUCTION_RANK: 1}
# Refusing at "suspicious" refuses more versions than at "dangerous", which refuses more than off.
_PICKLE_REFUSAL_ORDER = {"": 0, "dangerous": 1, "suspicious": 2}
_PICKLE_SEVERITY_RANK = {"none": 0, "innocuous": 1, "suspicious": 2, "dangerous": 3}
_FLOOR_FIELDS: tuple[tuple[str, Callable[[object], object], str], ...] = (
    ("governed", lambda v: bool(v), "governed: false opens a target the organisation governs"),
    ("required_approvals", lambda v: v, "fewer approvals than the organisation requires"),
    ("rank", lambda v: _RANK_ORDER.get(v, 0), "a lower approval rank than the organisation's"),
    ("requester_may_approve", lambda v: not v, "lets the requester approve their own request"),
    ("creator_may_approve", lambda v: not v, "lets the version's author approve it"),
    (
        "require_validated_artifacts",
        lambda v: bool(v),
        "drops the validated-artifacts condition",
    ),
    ("require_producer_signature", lambda v: bool(v), "drops the trusted-signature condition"),
    (
        "refuse_pickle_severity",
        lambda v: _PICKLE_REFUSAL_ORDER.get(v, 0),
        "refuses fewer unsafe pickles than the organisation",
    ),
    ("approval_ttl", lambda v: -v.total_seconds(), "approvals stay valid longer than the organisation's"),
    ("service_accounts_count", lambda v: not v, "lets service accounts' approvals count"),
    ("require_current_validation", lambda v: bool(v), "drops the current-validation condition"),
    ("require_approved_card", lambda v: bool(v), "drops the approved-model-card condition"),
    ("require_signature", lambda v: bool(v), "drops the electronic-signature condition"),
)


def _meanings_loosenings(policy: Policy, floor: Policy) -> list[str]:
    """How the policy's signature meanings loosen the floor's: fewer required, or more accepted."""
    found = []
    dropped = [m for m in floor.required_meanings if m not in policy.required_meanings]
    if dropped:
        found.append("does not require the signature meaning(s) " + ", ".join(f"'{m}'" for m in dropped))
    if floor.signature_meanings and (
        not policy.signature_meanings or not set(policy.signature_meanings) <= set(floor.signature_meanings)
    ):
        found.append("accepts signature meanings the organisation does not")
    return found


def _meanings_floored(policy: Policy, floor: Policy) -> dict[str, tuple[str, ...]]:
    """The policy's meanings raised to the floor: every meaning either requires, and only those both
    accept (the floor's where they share none: an empty list would accept every meaning)."""
    required = tuple(dict.fromkeys((*floor.required_meanings, *policy.required_meanings)))
    accepted = policy.signature_meanings
    if floor.signature_meanings:
        shared = tuple(m for m in accepted if m in floor.signature_meanings)
        accepted = shared or floor.signature_meanings
    return {"required_meanings": required, "signature_meanings": accepted}


def policy_loosenings(policy: Policy, floor: Policy | None) -> tuple[str, ...]:
    """How a model's own `policy` loosens the organisation's `floor` for the same target (empty: it does not)."""
    if floor is None or not floor.governed:
        return ()
    if not policy.governed:
        return (_FLOOR_FIELDS[0][2],)
    found = [
        words
        for name, strictness, words in _FLOOR_FIELDS
        if strictness(getattr(policy, name)) < strictness(getattr(floor, name))
    ]
    if floor.required_team and policy.required_team != floor.required_team:
        found.append(f"does not require an approval from team '{floor.required_team}'")
    found.extend(_meanings_loosenings(policy, floor))
    return tuple(found)


def policy_floored(policy: Policy, floor: Policy | None) -> Policy:
    """`policy` raised to `floor` field by field (unless a superuser waived the floor for it)."""
    if floor is None or not floor.governed or policy.floor_waived:
        return policy
    raised = {}
    for name, strictness, _ in _FLOOR_FIELDS:
        mine, theirs = getattr(policy, name), getattr(floor, name)
        raised[name] = theirs if strictness(theirs) > strictness(mine) else mine
    if floor.required_team:
        raised["required_team"] = floor.required_team  # one team per policy: the organisation's wins
    raised |= _meanings_floored(policy, floor)
    return replace(policy, **raised)


def policy_floor(target_kind: str, target: str, default_policies: Sequence[Policy]) -> Policy | None:
    """The organisation's policy for a target: its own default, else the embedded one (None: no floor)."""
    for layer in (default_policies, EMBEDDED_DEFAULT_POLICIES):
        for policy in layer:
            if policy.target_kind == target_kind and policy.target == target:
                return policy
    return None


POLICY_SOURCE_MODEL = "model"
POLICY_SOURCE_ORGANISATION = "organisation"
POLICY_SOURCE_BUILT_IN = "built-in"


def policy_effective(
    target_kind: str,
    target: str,
    model_policies: Sequence[Policy],
    default_policies: Sequence[Policy],
) -> tuple[Policy | None, str]:
    """The policy in force for a target and where it comes from (model, organisation, built-in)."""
    floor = policy_floor(target_kind, target, default_policies)
    for policy in model_policies:
        if policy.target_kind == target_kind and policy.target == target:
            effective = policy_floored(policy, floor)
            return (effective if effective.governed else None), POLICY_SOURCE_MODEL
    if floor is None:
        return None, POLICY_SOURCE_BUILT_IN
    in_defaults = any(p.target_kind == target_kind and p.target == target for p in default_policies)
    source = POLICY_SOURCE_ORGANISATION if in_defaults else POLICY_SOURCE_BUILT_IN
    return (floor if floor.governed else None), source


def policy_select(
    target_kind: str,
    target: str,
    model_policies: Sequence[Policy],
    default_policies: Sequence[Policy],
) -> Policy | None:
    """The policy governing a target: the model's own raised to the organisation's floor, else the
    organisation's default, else embedded.

    Each layer is consulted per target, so configuring one default never silently opens another
    target; a policy with governed=False opens its target explicitly (a model's own only where the
    organisation does not govern it, or a superuser waived the floor). None means ungoverned.
    """
    return policy_effective(target_kind, target, model_policies, default_policies)[0]


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


def leave_refusal(
    policy: Policy | None, target_kind: str, target: str, model_name: str, version: int, doing: str
) -> str | None:
    """Why taking a version out of a governed target directly is refused, naming the request to file."""
    if policy is None:
        return None
    if target_kind == STAGE_KIND:
        what = f"stage '{target}'"
        how = (
            f'a demotion request: POST /api/v1/models/{model_name}/requests {{"version": {version}, '
            f'"stage": "Archived", "reason": "..."}} (or "None"), or POST '
            "/api/2.0/mlflow/transition-requests/create with stage Archived"
        )
    else:
        what = f"alias '{target}'"
        how = (
            f'a removal request: POST /api/v1/models/{model_name}/requests {{"version": {version}, '
            f'"alias": "{target}", "remove": true, "reason": "..."}}'
        )
    return (
        f"{doing} is refused: version {version} holds the {what} of registered model '{model_name}', "
        f"which a promotion policy governs ({policy.required_approvals} approval(s), {policy.rank} "
        f"rank). Leaving it is governed like entering it: file {how}; it applies once approved."
    )


def transition_policy(entering: Policy | None, leaving: Policy | None) -> Policy | None:
    """The policy a stage request answers to: the target's (entering) and the current stage's (leaving).

    Both apply, field by field at the stricter (so demoting Production to Staging still needs
    production-rank approvers); a pure demotion or removal needs no validated artifacts (a version
    whose artifacts are bad must still be retired).
    """
    if leaving is None:
        return entering
    if entering is None:
        return replace(
            leaving,
            require_validated_artifacts=False,
            require_current_validation=False,
            require_approved_card=False,
        )
    return policy_floored(replace(entering, floor_waived=False), leaving)


def approver_refusal(
    policy: Policy,
    *,
    approver_id: int,
    requester_id: int | None,
    creator_id: int | None,
    holds_rank: bool,
    already_approved: bool,
    is_service_account: bool = False,
) -> str | None:
    """Why this person may not approve this request, or None if they may."""
    if already_approved:
        return "You have already approved this request; each person approves once."
    if is_service_account and not policy.service_accounts_count:
        return (
            "Service accounts do not approve: approvals are people's decisions (an organisation "
            "policy may let service accounts count, explicitly)."
        )
    if approver_id == requester_id and not policy.requester_may_approve:
        return "Four-eyes rule: the requester may not approve their own request."
    if approver_id == creator_id and not policy.creator_may_approve:
        return "The author of the version may not approve its promotion."
    if not holds_rank:
        level = "APPROVE_PRODUCTION" if policy.rank == PRODUCTION_RANK else "APPROVE_STAGING"
        return f"Approving a {policy.rank}-rank target needs the {level} permission on the model."
    return None


# --- Electronic signatures (issue 23, 21 CFR Part 11) -----------------------------------------

# A rejection's signature means this; approvals' meanings come from the organisation's list.
REJECTION_MEANING = "Rejected"


@dataclass(frozen=True)
class SignatureFacts:
    """An approval's electronic signature as the rules see it."""

    meaning: str
    artifact_digest: str
    intact: bool  # its record hash recomputes from its stored fields (nobody edited the row)


def signature_content_hash(content: dict) -> str:
    """The hash binding a signature to what was signed: SHA-256 of its canonical JSON."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def signature_line(full_name: str, username: str, signed_at: datetime, meaning: str) -> str:
    """How a signature reads wherever its record is shown (21 CFR 11.50: name, time, meaning)."""
    when = signed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"Signed by {full_name} ({username}) on {when}: {meaning}"


def signature_meanings_accepted(policy: Policy | None, configured: Sequence[str]) -> list[str]:
    """The meanings a signer may give under `policy`: its own list (every configured one when it
    names none), never one the organisation has not configured."""
    return [m for m in (policy.signature_meanings if policy else ()) or configured if m in configured]


def signature_meaning_refusal(policy: Policy | None, meaning: str, configured: Sequence[str]) -> str | None:
    """Why an approval may not be signed with `meaning` under `policy`, or None."""
    accepted = signature_meanings_accepted(policy, configured)
    if meaning in accepted:
        return None
    if not meaning:
        return "A signature needs a meaning: one of " + ", ".join(f"'{m}'" for m in accepted) + "."
    return (
        f"'{meaning}' is not a signature meaning this policy accepts; use one of "
        + ", ".join(f"'{m}'" for m in accepted)
        + "."
    )


def signature_refusal(
    policy: Policy, signature: SignatureFacts | None, current_digest: str | None
) -> str | None:
    """Why an approval's signature does not count under `policy` now (None: it counts, or none is
    needed). A signature over other artifacts than the version's current ones no longer counts."""
    if not policy.require_signature:
        return None
    if signature is None:
        return "it is not an electronic signature"
    if not signature.intact:
        return "its signature record does not match its hash"
    if current_digest and signature.artifact_digest != current_digest:
        return "it signed other artifacts than the version's current ones"
    if policy.signature_meanings and signature.meaning not in policy.signature_meanings:
        return f"its meaning '{signature.meaning}' is not one the policy accepts"
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
    is_service_account: bool = False
    signature: SignatureFacts | None = None


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
    current_digest: str | None = None,
) -> list[ApprovalFacts]:
    """Approvals that still count: unexpired, by distinct people (not service accounts, unless the
    organisation's policy says so) who still hold the rank's permission, and electronically signed
    for the version's current artifacts where the policy requires signatures."""
    seen: set[int] = set()
    counted = []
    for approval in approvals:
        if approval.approver_id in seen or approval.expires_at <= now or not approval.holds_rank:
            continue
        if signature_refusal(policy, approval.signature, current_digest):
            continue
        if approval.is_service_account and not policy.service_accounts_count:
            continue  # a pipeline's token is not a second pair of eyes
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
    missing = []
    if policy.require_validated_artifacts and evidence.get("validated") is not True:
        missing.append("validated artifacts (the artifact pipeline has not validated this version)")
    if policy.require_producer_signature:
        signature = evidence.get("producer_signature") or {}
        if signature.get("state") != "verified":
            missing.append(
                "a producer signature verified by a trusted signer's key "
                f"(this version's is {signature.get('state', 'absent')})"
            )
    if policy.refuse_pickle_severity:
        scan = evidence.get("pickle_scan") or {}
        # An unscanned version is refused: unknown never passes for clean.
        highest = scan.get("highest", "dangerous")
        if _PICKLE_SEVERITY_RANK.get(highest, 3) >= _PICKLE_SEVERITY_RANK[policy.refuse_pickle_severity]:
            missing.append(f"no {policy.refuse_pickle_severity} pickle globals (the scan found {highest})")
    return "; ".join(missing) or None


def independent_validation_refusal(policy: Policy, evidence: dict) -> str | None:
    """Why the version lacks the current passing independent validation the policy requires, or None.

    As with artifacts, only an explicit `validation_current: True` satisfies it (no inventory
    installed, or nothing known, blocks).
    """
    if not policy.require_current_validation or evidence.get("validation_current") is True:
        return None
    return "a current passing independent validation of this version"


def quorum_verdict(
    policy: Policy,
    approvals: Sequence[ApprovalFacts],
    *,
    requester_id: int | None,
    creator_id: int | None,
    evidence: dict,
    shown: dict | None,
    now: datetime,
) -> Verdict:
    """May a request under `policy`, with these approvals and this evidence, apply now?

    `evidence`: the pipeline's facts now; `shown`: those the request's approvers were shown. Stale
    evidence never applies: it waits for the refresh (issue 21)."""
    digest = evidence.get("artifact_digest")
    counted = approvals_counted(
        policy, approvals, requester_id=requester_id, creator_id=creator_id, now=now, current_digest=digest
    )
    names = tuple(a.approver_name for a in counted)
    missing: list[str] = []
    short = policy.required_approvals - len(counted)
    if short > 0:
        missing.append(f"{short} more approval{'s' if short > 1 else ''} ({policy.rank} rank)")
        unsigned = [
            a.approver_name
            for a in approvals
            if a.expires_at > now and signature_refusal(policy, a.signature, digest) is not None
        ]
        if unsigned:
            missing.append(
                "approvals that are valid electronic signatures (not counted: " + ", ".join(unsigned) + ")"
            )
    meanings = {a.signature.meaning for a in counted if a.signature is not None}
    for meaning in policy.required_meanings:
        if meaning not in meanings:
            missing.append(f"a signature meaning '{meaning}'")
    if policy.required_team and not any(a.in_required_team for a in counted):
        missing.append(f"an approval from team '{policy.required_team}'")
    validation = validation_refusal(policy, evidence)
    if validation:
        missing.append(validation)
    independent = independent_validation_refusal(policy, evidence)
    if independent:
        missing.append(independent)
    if policy.require_approved_card and evidence.get("card_approved") is not True:
        missing.append("an approved model card for this version's artifacts")
    stale = evidence_refusal(shown, evidence)
    if stale:
        missing.append(stale)
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


# --- Evidence approvers decide on (issue 21) ----------------------------------------------

# The facts of the artifact pipeline that make evidence current: what approvers were shown must
# still be what the version's validation says, or it is stale.
EVIDENCE_CURRENCY_KEYS = ("validated", "artifact_digest", "validation_state", "tampered_at")


def evidence_staleness(shown: dict | None, live: dict) -> str | None:
    """Why the evidence a request shows is not the version's evidence now, or None when it is current.

    The one rule of what counts as current: the validation state, its digest and tampering must be
    what the pipeline says now. Evidence never taken is stale.
    """
    if not shown:
        return "no evidence was taken for this request"
    changed = [key for key in EVIDENCE_CURRENCY_KEYS if shown.get(key) != live.get(key)]
    if not changed:
        return None
    return "the version's " + ", ".join(k.replace("_", " ") for k in changed) + " changed since it was taken"


def evidence_refusal(shown: dict | None, live: dict) -> str | None:
    """What a request still needs because its evidence is stale, or None (blocks apply, in words)."""
    why = evidence_staleness(shown, live)
    return f"current evidence ({why}; it is refreshed when validation finishes)" if why else None


# Metric names where lower is better; others are taken as higher-is-better only when they say so.
_LOWER_BETTER = ("loss", "error", "mse", "rmse", "mae", "mape", "latency", "log_loss", "brier")
_HIGHER_BETTER = ("accuracy", "auc", "score", "r2", "f1", "precision", "recall", "ap", "gain", "lift")


def metric_better_direction(key: str) -> str | None:
    """'higher' or 'lower' when the metric's name says which is better, else None (not guessed)."""
    words = [w for w in key.lower().replace("-", "_").replace(".", "_").split("_") if w]
    if any(w in _LOWER_BETTER for w in words):
        return "lower"
    if any(w in _HIGHER_BETTER for w in words):
        return "higher"
    return None


def _requirement_name(line: str) -> str:
    for separator in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", ";", " "):
        line = line.split(separator, 1)[0]
    return line.strip().lower()


def requirements_diff(candidate: list[str], holder: list[str]) -> dict[str, list]:
    """Added, removed and changed requirement lines, by package name."""
    new = {_requirement_name(line): line for line in candidate}
    old = {_requirement_name(line): line for line in holder}
    return {
        "added": sorted(new[n] for n in new.keys() - old.keys()),
        "removed": sorted(old[n] for n in old.keys() - new.keys()),
        "changed": sorted([old[n], new[n]] for n in new.keys() & old.keys() if new[n] != old[n]),
    }


def evidence_comparison(candidate: dict, holder: dict | None) -> dict:
    """The candidate's evidence beside the holder's: metric deltas with direction, differing params,
    dependency, signature and flavor changes. `holder` None: the target holds no version."""
    run = candidate.get("run") or {}
    other_run = (holder or {}).get("run") or {}
    metrics = []
    their_metrics = other_run.get("metrics") or {}
    for key in sorted(set(run.get("metrics") or {}) | set(their_metrics)):
        mine, theirs = (run.get("metrics") or {}).get(key), their_metrics.get(key)
        row: dict = {"key": key, "candidate": mine, "holder": theirs, "delta": None, "direction": None}
        if isinstance(mine, int | float) and isinstance(theirs, int | float):
            row["delta"] = mine - theirs
            row["direction"] = "up" if mine > theirs else "down" if mine < theirs else "same"
            better = metric_better_direction(key)
            if better and row["direction"] != "same":
                row["better"] = (row["direction"] == "up") == (better == "higher")
        metrics.append(row)
    params_mine, params_theirs = run.get("params") or {}, other_run.get("params") or {}
    params = [
        {"key": key, "candidate": params_mine.get(key), "holder": params_theirs.get(key)}
        for key in sorted(set(params_mine) | set(params_theirs))
        if params_mine.get(key) != params_theirs.get(key)
    ]
    model, other_model = candidate.get("model") or {}, (holder or {}).get("model") or {}
    return {
        "holder_version": (holder or {}).get("version"),
        "metrics": metrics,
        "params_differing": params,
        "params_same": sorted(
            k for k in params_mine if k in params_theirs and params_mine[k] == params_theirs[k]
        ),
        "requirements": requirements_diff(
            model.get("requirements") or [], other_model.get("requirements") or []
        ),
        "signature_changed": holder is not None and model.get("signature") != other_model.get("signature"),
        "flavors_changed": holder is not None and model.get("flavors") != other_model.get("flavors"),
        "python_env_changed": holder is not None and model.get("python_env") != other_model.get("python_env"),
    }
