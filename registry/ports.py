"""The core registry's ports: questions only a higher app can answer, filled by that app at start-up.

- Governance (filled by workflows): may this stage or alias change without an approved request, may a
  version leave it, and must a deleted version stay as a tombstone?
- Registration (filled by artifacts): which rows commit with a new version (its evidence manifest,
  validation job and outbox message), and what to do once they are written.
- Retention (filled by retention): may this model, version or alias be removed (a legal hold says
  no), and with which S3 Object Lock is a version's governed copy written?

An unfilled port fails closed: a governed-looking change is refused, a version cannot be
registered without its validation, and nothing is deleted while no retention app can say whether it
is held, never waved through.
"""

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from django.db import transaction
from django.db.models import Model

from registry.errors import ApprovalRequired, Conflict, GovernanceRefused, HoldRefused, Refusal
from registry.models import ModelVersion, RegisteredModel


class Governance(Protocol):
    def direct_change_refusal(self, model: RegisteredModel, target_kind: str, target: str) -> str | None:
        """Why setting this target directly is refused (a policy governs it), or None."""

    def is_governed(self, model: RegisteredModel, target_kind: str, target: str) -> bool:
        """Whether a promotion policy governs this target."""

    def leave_refusal(
        self, model: RegisteredModel, target_kind: str, target: str, version: int, doing: str
    ) -> str | None:
        """Why taking `version` out of this target directly (`doing`) is refused (a policy governs it;
        the message names the demotion or removal request to file), or None."""

    def keeps_history(self, version: ModelVersion) -> bool:
        """Whether `version` has a governance history (requests, approvals) that must outlive it."""

    def refusal_record(self, refusal: Refusal) -> None:
        """Audit a refused governance attempt, in its own transaction (the attempt's rolled back)."""


@dataclass(frozen=True)
class Companion:
    """An unsaved row written with a new version; `link` is its foreign key to the version or to an
    earlier companion (`link_to`: None for the version, else that companion's index)."""

    row: Model
    link: str
    link_to: int | None = None


class Registration(Protocol):
    def companions(self, version: ModelVersion, actor: Any) -> Sequence[Companion]:
        """The rows that commit with `version` (unsaved; the registry writes them with it)."""

    def written(self, companions: Sequence[Companion]) -> None:
        """Called inside the transaction once the rows have their ids (e.g. to publish on commit)."""


@dataclass(frozen=True)
class CopyLock:
    """How a governed copy's objects are locked in the store: kept at least until `retain_until`,
    and under a legal hold (`legal_hold`) until it is lifted."""

    retain_until: datetime
    legal_hold: bool = False


class Retention(Protocol):
    def deletion_refusal(
        self, model: RegisteredModel, version: ModelVersion | None, doing: str
    ) -> str | None:
        """Why `doing` (deleting the model or `version`, removing an alias from it, purging it, deleting
        its governed copy) is refused (a legal hold covers it), or None. `version` None: the whole model."""

    def keeps_record(self, version: ModelVersion) -> bool:
        """Whether a retention class the organisation names (ever in Production, say) keeps `version`
        after deletion: it is then a tombstone until the purge finds its retention over."""

    def copy_lock(self, version: ModelVersion) -> CopyLock | None:
        """The object lock a governed copy of `version` written now carries, or None for none."""

    def copy_lock_recorded(
        self, version: ModelVersion, lock: CopyLock, *, mode: str, applied: bool, detail: str
    ) -> None:
        """Remember whether the store locked the copy (a bucket without Object Lock cannot)."""


@dataclass
class _Ports:
    governance: Governance | None = None
    registration: Registration | None = None
    retention: Retention | None = None


_ports = _Ports()


def governance_install(implementation: Governance) -> None:
    _ports.governance = implementation


def registration_install(implementation: Registration) -> None:
    _ports.registration = implementation


def retention_install(implementation: Retention) -> None:
    _ports.retention = implementation


def retention() -> Retention | None:
    """The installed retention (None: no retention app; deletions are then refused, copies unlocked)."""
    return _ports.retention


def removal_check(
    *, model: RegisteredModel, version: ModelVersion | None, doing: str, actor: Any = None
) -> None:
    """Refuse removing what a legal hold covers: the model, a version, an alias from it, its copy."""
    if _ports.retention is None:
        reason = (
            f"{doing} is refused: no retention is installed (the retention app is missing from "
            "INSTALLED_APPS), so nobody can tell whether a legal hold covers it."
        )
    else:
        reason = _ports.retention.deletion_refusal(model, version, doing)
    if reason:
        number = version.version if version is not None else None
        raise HoldRefused(
            reason,
            refusal=Refusal(
                actor=actor,
                action="retention.refused",
                target=model,
                model_name=model.name,
                attempted=doing,
                reason=reason,
                version=number,
            ),
        )


def _governance() -> Governance:
    if _ports.governance is None:
        raise ApprovalRequired(
            "Stage and alias changes are refused: no governance is installed (the workflows app is "
            "missing from INSTALLED_APPS)."
        )
    return _ports.governance


def registration() -> Registration:
    if _ports.registration is None:
        raise Conflict(
            "Versions cannot be registered: no artifact pipeline is installed (the artifacts app is "
            "missing from INSTALLED_APPS)."
        )
    return _ports.registration


def direct_change_check(
    *, model: RegisteredModel, target_kind: str, target: str, actor: Any = None, version: int | None = None
) -> None:
    """Refuse a direct set of a target a promotion policy governs: it needs an approved request."""
    refusal = _governance().direct_change_refusal(model, target_kind, target)
    if refusal:
        label = f"@{target}" if target_kind == "alias" else target
        raise ApprovalRequired(
            refusal, refusal=_refusal(actor, model, f"set {label} directly", refusal, version)
        )


def target_is_governed(*, model: RegisteredModel, target_kind: str, target: str) -> bool:
    return _governance().is_governed(model, target_kind, target)


def leave_check(
    *, model: RegisteredModel, target_kind: str, target: str, version: int, doing: str, actor: Any = None
) -> None:
    """Refuse taking a version out of a governed stage or alias directly: it needs an approved request."""
    refusal = _governance().leave_refusal(model, target_kind, target, version, doing)
    if refusal:
        raise ApprovalRequired(refusal, refusal=_refusal(actor, model, doing, refusal, version))


def version_keeps_history(version: ModelVersion) -> bool:
    """Whether deleting `version` must leave a tombstone (its governance history stays visible)."""
    return _governance().keeps_history(version)


def version_keeps_record(version: ModelVersion) -> bool:
    """Whether a deleted `version` stays a tombstone for its retention class (an unfilled port keeps it)."""
    return _ports.retention is None or _ports.retention.keeps_record(version)


def _refusal(actor: Any, model: RegisteredModel, attempted: str, reason: str, version: int | None) -> Refusal:
    return Refusal(
        actor=actor,
        action="",  # the governance's own: a refused transition
        target=model,
        model_name=model.name,
        attempted=attempted,
        reason=reason,
        version=version,
    )


Operation = TypeVar("Operation", bound=Callable[..., Any])


def refusals_recorded(operation: Operation) -> Operation:
    """`transaction.atomic` for an operation a governance rule may refuse: the refusal raises, the
    attempt rolls back, and then the refusal is recorded in a transaction of its own (so it is not
    rolled back with the attempt). Inside a caller's transaction it commits or not with that caller.
    Only authenticated actors' refusals are recorded: anonymous callers never grow the audit chain.
    """
    atomic = transaction.atomic(operation)

    @functools.wraps(operation)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return atomic(*args, **kwargs)
        except GovernanceRefused as exc:
            refusal = exc.refusal
            if (
                refusal is not None
                and _ports.governance is not None
                and getattr(refusal.actor, "is_authenticated", False)
            ):
                _ports.governance.refusal_record(refusal)
            raise

    return run  # type: ignore[return-value]
