"""Hardening fixtures: a snapshot of everything a hostile request could change, and callers per surface."""

from collections.abc import Callable
from typing import Any

import pytest

from artifacts.models import ArtifactJob
from audit.models import AuditEvent, ChainHead
from registry.models import (
    AliasAssignment,
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from webhooks.models import Webhook
from workflows.models import Approval, PromotionPolicy, TransitionRequest, VersionActivity


def state_snapshot(*, with_audit: bool = True) -> dict[str, Any]:
    """Rows and values a refused request must leave exactly as they were (audit head included)."""
    head = ChainHead.objects.first()
    audit = {"audit_events": AuditEvent.objects.count(), "audit_head": head and (head.seq, head.hash)}
    return (audit if with_audit else {}) | {
        "models": sorted(RegisteredModel.objects.values_list("name", "description")),
        "model_tags": sorted(RegisteredModelTag.objects.values_list("model__name", "key", "value")),
        "versions": sorted(
            ModelVersion.objects.values_list("model__name", "version", "stage", "source", "description")
        ),
        "version_tags": sorted(
            ModelVersionTag.objects.values_list("version__model__name", "version__version", "key", "value")
        ),
        "aliases": sorted(ModelAlias.objects.values_list("model__name", "alias", "version__version")),
        "alias_assignments": AliasAssignment.objects.count(),
        "requests": sorted(TransitionRequest.objects.values_list("pk", "state")),
        "approvals": Approval.objects.count(),
        "activities": VersionActivity.objects.count(),
        "policies": PromotionPolicy.objects.count(),
        "jobs": ArtifactJob.objects.count(),
        "webhooks": Webhook.objects.count(),
    }


@pytest.fixture
def unchanged() -> Callable[[], Any]:
    """`with unchanged():` fails the test if anything in `state_snapshot()` differs afterwards.

    `unchanged(audit_only=Action.LOGIN_FAILED)`: refused sign-ins are audited on purpose, so the chain
    may grow by events of that action and nothing else.
    """
    from contextlib import contextmanager

    @contextmanager
    def check(audit_only: str | None = None):
        first_new = AuditEvent.objects.count()
        before = state_snapshot(with_audit=audit_only is None)
        yield
        after = state_snapshot(with_audit=audit_only is None)
        if audit_only is not None:
            new_actions = set(AuditEvent.objects.order_by("seq")[first_new:].values_list("action", flat=True))
            assert new_actions <= {audit_only}, new_actions
        differing = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
        assert differing == {}, f"a refused request changed state: {differing}"

    return check
