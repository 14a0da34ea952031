"""Fixtures for the approval-workflow tests: a governed model with readers, approvers and a request."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from guardian.shortcuts import assign_perm

from access.grants import LEVEL_CODENAMES, Level
from registry import services
from registry.models import RegisteredModel


def grant_levels(user, model: RegisteredModel, *levels: Level):
    """Give `user` READ plus `levels` on `model`; returns a fresh instance (no stale permission cache)."""
    for level in (Level.READ, *levels):
        assign_perm(LEVEL_CODENAMES[level], user, model)
    return type(user).objects.get(pk=user.pk)


@dataclass
class Governed:
    """'scoring' owned by cast.owner, versions 1-3 created by the editor; two production approvers."""

    model: RegisteredModel
    editor: object  # EDIT: requests transitions; author of the versions
    owner: object  # MANAGE
    approver: object  # APPROVE_PRODUCTION + APPROVE_STAGING
    second_approver: object  # APPROVE_PRODUCTION + APPROVE_STAGING
    outsider: object  # READ only


@pytest.fixture
def governed(cast) -> Governed:
    model = services.registered_model_create(actor=cast.owner, name="scoring", description="credit scoring")
    editor = grant_levels(cast.editor, model, Level.EDIT)
    for number in (1, 2, 3):
        services.model_version_create(
            actor=editor,
            name="scoring",
            source=f"s3://bucket/scoring/{number}",
            tags=[{"key": "metric.auc", "value": f"0.8{number}"}],
        )
    both = (Level.APPROVE_PRODUCTION, Level.APPROVE_STAGING)
    return Governed(
        model=model,
        editor=editor,
        owner=cast.owner,
        approver=grant_levels(cast.approver, model, *both),
        second_approver=grant_levels(cast.second_approver, model, *both),
        outsider=grant_levels(cast.outsider, model),
    )


@pytest.fixture
def file_request(governed) -> Callable:
    """file_request(version=2, stage='Production' | alias='champion', by=editor) -> TransitionRequest."""
    from registry.workflows import services as workflow_services

    def build(version: int = 2, *, stage: str | None = None, alias: str | None = None, by=None, **extra):
        kind, target = ("alias", alias) if alias else ("stage", stage or "Production")
        return workflow_services.transition_request_create(
            actor=by or governed.editor,
            name="scoring",
            version=version,
            target_kind=kind,
            target=target,
            reason=extra.pop("reason", "better AUC on the holdout set"),
            **extra,
        )

    return build
