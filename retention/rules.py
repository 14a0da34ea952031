"""Retention and legal hold: pure decisions, no I/O.

A version's retention class comes from what it ever reached (stages, aliases, governed aliases); the
class says how many years it is kept after its end (deleted or archived). A legal hold keeps it
whatever the class says, until lifted.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

STAGE_CONDITION = "stage="
ALIAS_CONDITION = "alias="
GOVERNED_ALIAS_CONDITION = "governed-alias"
DAYS_PER_YEAR = 365.25  # a retention period in years, leap days included
PLACE_PERMISSION = "retention.place_legal_hold"
OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


class RetentionConfigError(ValueError):
    """QUORUM_RETENTION_CLASSES does not parse."""


@dataclass(frozen=True)
class RetentionClass:
    """One organisation retention class: matching versions are kept `years` after their end."""

    name: str
    years: float
    stages: frozenset[str] = frozenset()
    aliases: frozenset[str] = frozenset()
    governed_alias: bool = False

    @property
    def matches_all(self) -> bool:
        return not (self.stages or self.aliases or self.governed_alias)


@dataclass(frozen=True)
class VersionFacts:
    """What a version ever reached, and when its life ended (None: still in use)."""

    stages: frozenset[str]
    aliases: frozenset[str]
    governed_aliases: frozenset[str]
    ended_at: datetime | None


@dataclass(frozen=True)
class Retention:
    """A version's class and the date before which nothing may purge it (None: not before it ends)."""

    retention_class: RetentionClass
    retain_until: datetime | None


def classes_parse(entries: list[str]) -> list[RetentionClass]:
    """Parse QUORUM_RETENTION_CLASSES (`<name>:<years>[:<condition>|…]`, first match wins)."""
    classes = []
    for entry in entries:
        parts = entry.split(":", 2)
        if len(parts) < 2 or not parts[0].strip():
            raise RetentionConfigError(f"Retention class '{entry}' is not <name>:<years>[:<conditions>].")
        name, raw_years = parts[0].strip(), parts[1].strip()
        try:
            years = float(raw_years)
        except ValueError:
            raise RetentionConfigError(f"Retention class '{name}': '{raw_years}' is not a number of years.")
        if years < 0:
            raise RetentionConfigError(f"Retention class '{name}': years cannot be negative.")
        stages, aliases, governed = set(), set(), False
        for condition in parts[2].split("|") if len(parts) == 3 else []:
            condition = condition.strip()
            if condition.startswith(STAGE_CONDITION) and condition[len(STAGE_CONDITION) :]:
                stages.add(condition[len(STAGE_CONDITION) :])
            elif condition.startswith(ALIAS_CONDITION) and condition[len(ALIAS_CONDITION) :]:
                aliases.add(condition[len(ALIAS_CONDITION) :])
            elif condition == GOVERNED_ALIAS_CONDITION:
                governed = True
            elif condition:
                raise RetentionConfigError(
                    f"Retention class '{name}': unknown condition '{condition}' (stage=<Stage>, "
                    f"alias=<alias> or {GOVERNED_ALIAS_CONDITION})."
                )
        classes.append(RetentionClass(name, years, frozenset(stages), frozenset(aliases), governed))
    if not classes or not classes[-1].matches_all:
        raise RetentionConfigError(
            "The last retention class must have no conditions, so that every version has a class."
        )
    return classes


def class_matches(retention_class: RetentionClass, facts: VersionFacts) -> bool:
    return (
        retention_class.matches_all
        or bool(retention_class.stages & facts.stages)
        or bool(retention_class.aliases & facts.aliases)
        or (retention_class.governed_alias and bool(facts.governed_aliases))
    )


def retention_for(facts: VersionFacts, classes: list[RetentionClass]) -> Retention:
    """The first class the facts match, and the version's retain-until date from its end."""
    chosen = next(item for item in classes if class_matches(item, facts))
    until = None if facts.ended_at is None else facts.ended_at + years_delta(chosen.years)
    return Retention(chosen, until)


def keeps_record(retention_class: RetentionClass) -> bool:
    """Whether a deleted version of this class stays as a tombstone until the purge: the classes the
    organisation names by what a version reached do; the catch-all (never anywhere) is deleted at once,
    as it always was, and its years count for archived versions."""
    return not retention_class.matches_all and retention_class.years > 0


def years_delta(years: float) -> timedelta:
    return timedelta(days=years * DAYS_PER_YEAR)


def purge_refusal(
    retention: Retention, *, held: bool, now: datetime, aliases: frozenset[str] = frozenset()
) -> str | None:
    """Why the purge keeps this (ended) version, or None when it may go. An archived version that still
    holds an alias stays: removing an alias is its own (possibly governed) change, never a purge's side effect."""
    if held:
        return "a legal hold covers it"
    if aliases:
        named = ", ".join(f"@{alias}" for alias in sorted(aliases))
        return f"it still holds {named}; remove the alias first"
    if retention.retain_until is None:
        return "it is still in use (neither deleted nor archived)"
    if now < retention.retain_until:
        return (
            f"its retention class '{retention.retention_class.name}' keeps it until "
            f"{retention.retain_until.date().isoformat()}"
        )
    return None


def hold_refusal(held_by: list[tuple[int, str]], doing: str) -> str | None:
    """Why a removal is refused while the given legal holds (id, what it covers) are in force."""
    if not held_by:
        return None
    named = "; ".join(f"legal hold #{pk} on {what}" for pk, what in held_by)
    return f"{doing} is refused: {named}. A compliance officer must release the hold first."


def hold_place_refusal(*, is_compliance: bool) -> str | None:
    """Why this actor may not place or release a legal hold, or None (superusers and the compliance role may)."""
    if is_compliance:
        return None
    return f"Placing or releasing a legal hold needs the {PLACE_PERMISSION} permission (a compliance role)."
