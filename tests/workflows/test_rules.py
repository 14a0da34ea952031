"""Unit tests of the pure workflow rules."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from workflows import rules

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
PROD = rules.Policy(
    "stage", "Production", required_approvals=2, rank="production", required_team="model-risk"
)


def facts(
    approver_id: int, *, hours_left: float = 10, rank: bool = True, team: bool = False, digest: str = ""
):
    return rules.ApprovalFacts(
        approver_id=approver_id,
        approver_name=f"user{approver_id}",
        expires_at=NOW + timedelta(hours=hours_left),
        holds_rank=rank,
        in_required_team=team,
        artifact_digest=digest,
    )


VALIDATED = {"pipeline": True, "validated": True}


def verdict(approvals, policy=PROD, evidence=None):
    evidence = VALIDATED if evidence is None else evidence
    return rules.quorum_verdict(
        policy, approvals, requester_id=1, creator_id=2, evidence=evidence, shown=evidence, now=NOW
    )


def test_embedded_defaults_govern_production_champion_and_staging():
    assert rules.policy_select("stage", "Production", [], []).required_approvals == 2
    assert rules.policy_select("alias", "champion", [], []).rank == "production"
    staging = rules.policy_select("stage", "Staging", [], [])
    assert (staging.required_approvals, staging.rank) == (1, "staging")
    assert rules.policy_select("stage", "Archived", [], []) is None
    assert rules.policy_select("alias", "challenger", [], []) is None


def test_defaults_layer_per_target_and_model_policy_wins():
    org = [rules.Policy("stage", "Production", required_approvals=3, rank="production")]
    assert rules.policy_select("stage", "Production", [], org).required_approvals == 3
    assert rules.policy_select("alias", "champion", [], org).required_approvals == 2  # still embedded
    # A model's own policy opening a target the organisation governs is raised to the floor (issue 19,
    # attack 2: this assertion used to say it opened it); only a superuser's waiver opens it.
    opened = [rules.Policy("stage", "Production", 1, "production", governed=False)]
    assert rules.policy_select("stage", "Production", opened, org).required_approvals == 3
    waived = [rules.Policy("stage", "Production", 1, "production", governed=False, floor_waived=True)]
    assert rules.policy_select("stage", "Production", waived, org) is None
    org_opens = [rules.Policy("alias", "champion", 1, "production", governed=False)]
    assert rules.policy_select("alias", "champion", [], org_opens) is None


def test_requester_and_creator_are_refused_by_default_and_allowed_when_the_policy_says_so():
    common = {"requester_id": 1, "creator_id": 2, "holds_rank": True, "already_approved": False}
    assert "Four-eyes" in rules.approver_refusal(PROD, approver_id=1, **common)
    assert "author" in rules.approver_refusal(PROD, approver_id=2, **common)
    assert rules.approver_refusal(PROD, approver_id=3, **common) is None
    lenient = rules.Policy(
        "stage", "Production", 2, "production", requester_may_approve=True, creator_may_approve=True
    )
    assert rules.approver_refusal(lenient, approver_id=1, **common) is None
    assert rules.approver_refusal(lenient, approver_id=2, **common) is None


def test_approver_without_the_rank_or_approving_twice_is_refused():
    common = {"requester_id": 1, "creator_id": 2}
    assert "APPROVE_PRODUCTION" in rules.approver_refusal(
        PROD, approver_id=3, holds_rank=False, already_approved=False, **common
    )
    assert "already" in rules.approver_refusal(
        PROD, approver_id=3, holds_rank=True, already_approved=True, **common
    )


def test_quorum_needs_n_distinct_unexpired_approvers_holding_the_rank_and_the_team():
    assert verdict([facts(3, team=True)]).missing == ("1 more approval (production rank)",)
    assert verdict([facts(3, team=True), facts(3, team=True)]).may_apply is False  # same person twice
    assert verdict([facts(3, team=True), facts(4, hours_left=-1)]).may_apply is False  # expired
    assert verdict([facts(3, team=True), facts(4, rank=False)]).may_apply is False  # lost permission
    assert verdict([facts(1, team=True), facts(4)]).may_apply is False  # requester's approval never counts
    no_team = verdict([facts(3), facts(4)])
    assert no_team.missing == ("an approval from team 'model-risk'",)
    ok = verdict([facts(3), facts(4, team=True)])
    assert ok.may_apply and ok.counted == ("user3", "user4")


def test_unknown_validation_blocks_a_policy_that_requires_it():
    both = [facts(3, team=True), facts(4)]
    unknown = verdict(both, evidence={"pipeline": False})
    assert not unknown.may_apply and "validated artifacts" in unknown.reason
    assert not verdict(both, evidence={}).may_apply
    assert verdict(both, evidence={"pipeline": True, "validated": True}).may_apply
    refused = verdict(both, evidence={"pipeline": True, "validated": False})
    assert not refused.may_apply and "validated artifacts" in refused.reason
    relaxed = rules.Policy("stage", "Production", 2, "production", require_validated_artifacts=False)
    assert verdict(both, policy=relaxed, evidence={"pipeline": True, "validated": None}).may_apply


def test_digest_change_is_detected_only_against_recorded_digests():
    assert rules.digest_change([facts(3, digest="aaa"), facts(4, digest="aaa")], "aaa") is None
    assert rules.digest_change([facts(3, digest="")], "bbb") is None
    assert "changed after user3" in rules.digest_change([facts(3, digest="aaa")], "bbb")


def test_direct_change_refusal_says_how_to_file_a_request():
    message = rules.direct_change_refusal(PROD, "stage", "Production", "fraud")
    assert "POST /api/v1/models/fraud/requests" in message
    assert "transition-requests/create" in message
    assert rules.direct_change_refusal(None, "stage", "Production", "fraud") is None


approval_facts = st.builds(
    rules.ApprovalFacts,
    approver_id=st.integers(min_value=1, max_value=6),
    approver_name=st.just("someone"),
    expires_at=st.sampled_from([NOW - timedelta(seconds=1), NOW, NOW + timedelta(hours=1)]),
    holds_rank=st.booleans(),
    in_required_team=st.booleans(),
)


@given(approvals=st.lists(approval_facts, max_size=8), required=st.integers(min_value=1, max_value=4))
def test_verdict_counts_only_valid_distinct_approvers(approvals, required):
    policy = rules.Policy("stage", "Production", required, "production", required_team="model-risk")
    result = rules.quorum_verdict(
        policy, approvals, requester_id=1, creator_id=2, evidence=VALIDATED, shown=VALIDATED, now=NOW
    )
    valid = [a for a in approvals if a.expires_at > NOW and a.holds_rank and a.approver_id not in (1, 2)]
    distinct = {a.approver_id for a in valid}
    counted = rules.approvals_counted(policy, approvals, requester_id=1, creator_id=2, now=NOW)
    assert {a.approver_id for a in counted} == distinct and len(counted) == len(distinct)
    team_ok = any(a.in_required_team for a in counted)
    assert result.may_apply == (len(distinct) >= required and team_ok)
    # One more valid approval from a new team member never turns an applicable verdict back.
    extra = rules.ApprovalFacts(9, "new", NOW + timedelta(hours=1), True, True)
    more = rules.quorum_verdict(
        policy,
        [*approvals, extra],
        requester_id=1,
        creator_id=2,
        evidence=VALIDATED,
        shown=VALIDATED,
        now=NOW,
    )
    assert more.may_apply or not result.may_apply


def test_floor_comparison_names_every_loosening_and_none_for_a_tightening():
    floor = rules.Policy("stage", "Production", 2, "production", required_team="risk")
    tighter = rules.Policy("stage", "Production", 3, "production", required_team="risk")
    assert rules.policy_loosenings(tighter, floor) == ()
    looser = rules.Policy(
        "stage",
        "Production",
        1,
        "staging",
        requester_may_approve=True,
        creator_may_approve=True,
        require_validated_artifacts=False,
        approval_ttl=timedelta(days=30),
        service_accounts_count=True,
    )
    assert len(rules.policy_loosenings(looser, floor)) == 8  # seven fields and the missing team
    assert rules.policy_loosenings(
        rules.Policy("stage", "Production", 5, "production", governed=False), floor
    )
    assert rules.policy_loosenings(looser, None) == ()  # no floor where the organisation does not govern


def test_a_policy_below_the_floor_is_raised_field_by_field():
    floor = rules.Policy("stage", "Production", 2, "production", required_team="risk")
    raised = rules.policy_floored(
        rules.Policy("stage", "Production", 4, "staging", requester_may_approve=True), floor
    )
    assert (raised.required_approvals, raised.rank, raised.requester_may_approve, raised.required_team) == (
        4,
        "production",
        False,
        "risk",
    )
    assert rules.policy_loosenings(raised, floor) == ()


def test_service_accounts_never_count_unless_the_policy_says_so():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = now + timedelta(hours=1)
    person = rules.ApprovalFacts(1, "alice", later, holds_rank=True, in_required_team=False)
    bot = rules.ApprovalFacts(
        2, "ci-bot", later, holds_rank=True, in_required_team=False, is_service_account=True
    )
    args = {
        "requester_id": 9,
        "creator_id": 8,
        "evidence": {"validated": True},
        "shown": {"validated": True},
        "now": now,
    }
    people_only = rules.Policy("stage", "Production", 2, "production")
    assert rules.quorum_verdict(people_only, [person, bot], **args).counted == ("alice",)
    counting = rules.Policy("stage", "Production", 2, "production", service_accounts_count=True)
    assert rules.quorum_verdict(counting, [person, bot], **args).may_apply
