"""The promotions report reads what the real approval workflow records (workflows)."""

import pytest
from guardian.shortcuts import assign_perm

from access.grants import LEVEL_CODENAMES, Level
from audit.models import AuditEvent
from audit.reports import promotions_report
from workflows import services as workflow

pytestmark = pytest.mark.django_db


def test_applied_and_rejected_staging_requests(fraud, cast):
    assign_perm(LEVEL_CODENAMES[Level.READ], cast.editor, fraud)
    assign_perm(LEVEL_CODENAMES[Level.READ], cast.approver, fraud)
    assign_perm(LEVEL_CODENAMES[Level.APPROVE_STAGING], cast.approver, fraud)
    editor = type(cast.editor).objects.get(pk=cast.editor.pk)
    approver = type(cast.approver).objects.get(pk=cast.approver.pk)
    first = workflow.transition_request_create(
        actor=editor, name="fraud", version=1, target_kind="stage", target="Staging", reason="ready"
    )
    workflow.transition_request_approve(actor=approver, request_id=first.pk, comment="tests pass")
    second = workflow.transition_request_create(
        actor=editor, name="fraud", version=2, target_kind="stage", target="Staging", reason="also"
    )
    workflow.transition_request_reject(actor=approver, request_id=second.pk, comment="not yet")

    rows = promotions_report(AuditEvent.objects.all())
    assert [(r["kind"], r["request"], r["version"], r["target"], r["outcome"]) for r in rows] == [
        ("request", str(first.pk), 1, "Staging", "applied"),
        ("request", str(second.pk), 2, "Staging", "rejected"),
    ]
    applied = rows[0]
    assert applied["requester"] == "editor"
    assert [(a["user"], a["comment"]) for a in applied["approvers"]] == [("approver", "tests pass")]
    assert applied["seconds_to_apply"] is not None
    assert rows[1]["decided_by"] == "approver"
    assert rows[1]["comment"] == "not yet"
