"""Pure decisions of the model inventory (no I/O): risk tiers and what an inventory record may hold."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class RiskTier:
    """An organisation-configured risk tier and how often its models' validations are reviewed."""

    name: str
    review_interval_days: int


_TIER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):(\d{1,5})$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}$")
MAX_TAGS = 50


def tiers_parse(entries: Sequence[str]) -> tuple[RiskTier, ...]:
    """QUORUM_RISK_TIERS entries ("high:180") as tiers; a malformed entry raises ValueError."""
    tiers = []
    for entry in entries:
        match = _TIER.match(entry)
        if match is None or int(match.group(2)) < 1:
            raise ValueError(
                f"QUORUM_RISK_TIERS entry '{entry[:80]}' must be <name>:<review interval in days> (e.g. high:180)."
            )
        tiers.append(RiskTier(match.group(1), int(match.group(2))))
    if len({tier.name for tier in tiers}) != len(tiers):
        raise ValueError("QUORUM_RISK_TIERS names a tier twice.")
    return tuple(tiers)


def tier_refusal(tier: str, tiers: Sequence[RiskTier]) -> str | None:
    """Why `tier` is not a configured risk tier (empty is allowed: not yet tiered), or None."""
    if tier == "" or any(t.name == tier for t in tiers):
        return None
    return f"Risk tier '{tier[:64]}' is not configured; the tiers are: {', '.join(t.name for t in tiers)}."


def tags_refusal(tags: object) -> str | None:
    """Why `tags` is not a list of regulatory-scope tags, or None."""
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return "regulatory_tags must be a list of strings."
    if len(tags) > MAX_TAGS:
        return f"At most {MAX_TAGS} regulatory tags."
    for tag in tags:
        if not TAG.match(tag):
            return f"Regulatory tag '{tag[:100]}' must be 1-100 letters, digits or _ . : / -, starting alphanumeric."
    return None


def next_review(validated_on: date, tier: str, tiers: Sequence[RiskTier]) -> date | None:
    """When a validation done on `validated_on` must be reviewed, from the model's tier (None: untiered)."""
    for t in tiers:
        if t.name == tier:
            return validated_on + timedelta(days=t.review_interval_days)
    return None


def validator_refusal(
    *, validator_id: int, author_id: int | None, developer_id: int | None, requester_ids: Sequence[int]
) -> str | None:
    """Why this person may not validate this version (they are not independent of it), or None.

    The one independence rule: not the version's author, not the model's developer (inventory),
    not a requester of an open transition request for the version. It binds superusers too.
    """
    if validator_id == author_id:
        return "The validator must be independent: the version's author may not validate it."
    if validator_id == developer_id:
        return "The validator must be independent: the model's developer may not validate its versions."
    if validator_id in requester_ids:
        return (
            "The validator must be independent: you requested a transition of this version that is "
            "still open."
        )
    return None


PASSING = ("pass", "pass_with_conditions")


def validation_current(outcome: str, next_review_on: date | None, today: date) -> bool:
    """Whether a version's latest validation counts: it passed, and its review is not overdue."""
    return outcome in PASSING and (next_review_on is None or today <= next_review_on)


def validation_status(outcome: str | None, next_review_on: date | None, today: date) -> str:
    """A version's validation status in words: none, failed, overdue or current."""
    if outcome is None:
        return "none"
    if outcome not in PASSING:
        return "failed"
    return "current" if validation_current(outcome, next_review_on, today) else "overdue"


def card_approval_refusal(
    *, state: str, approver_id: int, contributor_ids: Sequence[int], author_id: int, digest: str | None
) -> str | None:
    """Why this person may not approve this model card now, or None."""
    if state != "submitted":
        return f"Only a submitted model card is approved; this one is {state}."
    if approver_id == author_id or approver_id in contributor_ids:
        return "A model card is approved by someone other than its author (you wrote part of it)."
    if not digest:
        return "The version's artifacts have no digest yet: the approval could not be bound to them."
    return None


def card_approved(state: str, approved_digest: str, current_digest: str | None) -> bool:
    """An approved card counts only for the artifacts it was approved for."""
    return state == "approved" and bool(approved_digest) and approved_digest == current_digest


PARAMS_SHOWN_MAX = 100
METRICS_SHOWN_MAX = 100


def _value_text(value: object) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def card_sections_from_run(run: dict) -> dict[str, str]:
    """A starting draft of the card's training-data and evaluation sections from a run's evidence
    (workflows.evidence: params, final metrics, dataset inputs); a section with nothing to say is left out."""
    name = run.get("run_name") or run.get("run_id") or "the run"
    source = f"run '{name}' ({run.get('run_id')})" + (f", {run['url']}" if run.get("url") else "")
    sections: dict[str, str] = {}
    datasets = run.get("datasets") or []
    params = run.get("params") or {}
    if datasets or params:
        lines = [f"Drafted from the tracking server's record of {source}; review before submitting."]
        if datasets:
            lines += ["", "Datasets the run logged as inputs:"]
            for dataset in datasets:
                facts = [
                    f"{label} {dataset[key]}"
                    for key, label in (
                        ("context", "context"),
                        ("source_type", "source"),
                        ("digest", "digest"),
                    )
                    if dataset.get(key)
                ]
                lines.append(
                    f"- {dataset.get('name') or '(unnamed)'}" + (f" ({', '.join(facts)})" if facts else "")
                )
        if params:
            lines += ["", "Training parameters:"]
            lines += [
                f"- {key}: {_value_text(value)}" for key, value in sorted(params.items())[:PARAMS_SHOWN_MAX]
            ]
        sections["training_data"] = "\n".join(lines)
    metrics = run.get("metrics") or {}
    if metrics:
        lines = [f"Final metrics of {source}; review before submitting.", ""]
        lines += [
            f"- {key}: {_value_text(value)}" for key, value in sorted(metrics.items())[:METRICS_SHOWN_MAX]
        ]
        sections["evaluation"] = "\n".join(lines)
    return sections


def card_state_draft_refusal(state: str | None) -> str | None:
    """Why a card in this state is not drafted from run evidence (None: no card yet, or a draft).

    An approved card is never drafted over (that would undo its review); a submitted one is under review.
    """
    if state == "approved":
        return (
            "An approved model card is never drafted over; edit it section by section (it returns to draft)."
        )
    if state == "submitted":
        return "The model card is submitted for review; it is not drafted over while reviewers read it."
    return None


def card_draft_refusal(
    *, state: str | None, current: dict[str, str], proposed: dict[str, str], overwrite: bool
) -> str | None:
    """Why a card may not be filled from run evidence now, or None: its state, nothing to draft, or
    text a person wrote that would be replaced without their asking (`overwrite`)."""
    refusal = card_state_draft_refusal(state)
    if refusal:
        return refusal
    if not proposed:
        return "The run's evidence has no parameters, metrics or datasets to draft the card from."
    written = sorted(section for section in proposed if current.get(section, "").strip())
    if written and not overwrite:
        return (
            f"Section(s) {', '.join(written)} already hold text; pass overwrite=true to replace them "
            "with the run's evidence."
        )
    return None
