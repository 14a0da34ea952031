"""A scripted two-week history of promotions of 'fraud', shared by the report and admin tests."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

import audit
from audit.models import Action
from registry import services
from registry.models import Stage


class Clock:
    def __init__(self, monkeypatch):
        self.now = datetime(2026, 3, 1, tzinfo=UTC)
        monkeypatch.setattr("django.utils.timezone.now", lambda: self.now)

    def at(self, text: str) -> "Clock":
        self.now = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return self


def request_event(
    actor,
    action: Action,
    number: int,
    version: int,
    target: str,
    reason: str = "",
    model_name: str = "fraud",
    **extra,
):
    """An event as the approval workflow records it (workflows.services._audit_request)."""
    with transaction.atomic():
        audit.record(
            actor=actor,
            action=action,
            target_type="registry.transitionrequest",
            target_id=number,
            target_name=f"request #{number}: {model_name}/v{version} -> {target}",
            model_name=model_name,
            version=version,
            after={"state": action.value.split(".")[1], "target": target, **extra},
            reason=reason,
        )


@pytest.fixture
def history(fraud, cast, monkeypatch):
    """Two weeks of promotions of 'fraud' (versions 1-3 by owner) in March 2026."""
    clock = Clock(monkeypatch)
    v = {n: fraud.versions.get(version=n) for n in (1, 2, 3)}
    # Week of 2 March: request 1 (v2 -> Production) applied after two approvals; request 2 rejected.
    clock.at("2026-03-02T10:00:00")
    request_event(
        cast.editor,
        Action.REQUEST_CREATED,
        1,
        2,
        "Production",
        "quarterly refresh",
        evidence={"artifact_digest": "sha256:aaa"},
    )
    request_event(cast.approver, Action.REQUEST_APPROVED, 1, 2, "Production", "looks good")
    clock.at("2026-03-03T09:00:00")
    request_event(cast.second_approver, Action.REQUEST_APPROVED, 1, 2, "Production", "ok")
    request_event(
        "system", Action.REQUEST_APPROVED, 1, 2, "Production", "handed to pipeline", handed_to="pipeline"
    )
    clock.at("2026-03-03T09:05:00")
    with transaction.atomic():
        services.stage_apply(
            actor="system",
            model=fraud,
            row=v[2],
            stage=Stage.PRODUCTION,
            archive_existing_versions=False,
            governed=True,
        )
        request_event("system", Action.REQUEST_APPLIED, 1, 2, "Production", "approved by 2")
    clock.at("2026-03-04T12:00:00")
    request_event(cast.owner, Action.REQUEST_CREATED, 2, 3, "@champion", "new champion")
    clock.at("2026-03-05T08:00:00")
    request_event(cast.approver, Action.REQUEST_REJECTED, 2, 3, "@champion", "metrics regressed")
    # Week of 9 March: two direct promotions, request 3 failed (approved by v1's own author), request 4 open.
    clock.at("2026-03-10T10:00:00")
    with transaction.atomic():
        services.stage_apply(
            actor=cast.owner,
            model=fraud,
            row=v[1],
            stage=Stage.STAGING,
            archive_existing_versions=False,
            governed=False,
        )
    clock.at("2026-03-11T10:00:00")
    services.alias_set(actor=cast.owner, name="fraud", alias="challenger", version=3)
    clock.at("2026-03-12T10:00:00")
    request_event(cast.editor, Action.REQUEST_CREATED, 3, 1, "Production", "promote v1")
    request_event(cast.owner, Action.REQUEST_APPROVED, 3, 1, "Production", "mine, fine")
    request_event("system", Action.REQUEST_FAILED, 3, 1, "Production", "governed copy failed")
    request_event(cast.editor, Action.REQUEST_CREATED, 4, 3, "Production", "still open")
    clock.at("2026-03-13T10:00:00")
    services.alias_delete(actor=cast.owner, name="fraud", alias="challenger")
    with transaction.atomic():
        audit.record(
            actor=cast.owner,
            action=Action.ACCESS_GRANTED,
            target=fraud,
            after={"user": "editor", "level": "EDIT"},
            reason="joins the team",
        )
        audit.record(actor=cast.editor, action=Action.TOKEN_CREATED, target=cast.editor, after={"name": "ci"})
    return fraud
