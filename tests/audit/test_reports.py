"""Ready-made reports match a scripted history (API, management command and admin page)."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import transaction
from guardian.shortcuts import assign_perm

import audit
from accounts.permissions import LEVEL_CODENAMES, Level
from audit.models import Action
from registry import services
from registry.models import Stage

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, monkeypatch):
        self.now = datetime(2026, 3, 1, tzinfo=UTC)
        monkeypatch.setattr("django.utils.timezone.now", lambda: self.now)

    def at(self, text: str) -> "Clock":
        self.now = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return self


def request_event(actor, action: Action, number: int, version: int, target: str, reason: str = "", **extra):
    """An event as the approval workflow records it (registry.workflows.services._audit_request)."""
    with transaction.atomic():
        audit.record(
            actor=actor,
            action=action,
            target_type="registry.transitionrequest",
            target_id=number,
            target_name=f"request #{number}: fraud/v{version} -> {target}",
            model_name="fraud",
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
            actor="system", model=fraud, row=v[2], stage=Stage.PRODUCTION, archive_existing_versions=False
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
            actor=cast.owner, model=fraud, row=v[1], stage=Stage.STAGING, archive_existing_versions=False
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


REQUEST_1 = {
    "kind": "request",
    "request": "1",
    "model": "fraud",
    "version": 2,
    "target": "Production",
    "outcome": "applied",
    "requester": "editor",
    "requested_at": "2026-03-02T10:00:00.000000Z",
    "approvers": [
        {"user": "approver", "at": "2026-03-02T10:00:00.000000Z", "comment": "looks good"},
        {"user": "second_approver", "at": "2026-03-03T09:00:00.000000Z", "comment": "ok"},
    ],
    "decided_by": "system",
    "decided_at": "2026-03-03T09:05:00.000000Z",
    "comment": "approved by 2",
    "evidence_digest": "sha256:aaa",
    "seconds_to_apply": 83100.0,
}


def _promotions(rows):
    return [(r["kind"], r["request"], r["version"], r["target"], r["outcome"], r["decided_by"]) for r in rows]


def test_promotions_report_lists_requests_and_direct_promotions(history, cast, client_for):
    body = client_for(cast.owner).get("/api/v1/audit/reports/promotions").json()
    assert body["report"] == "promotions"
    assert _promotions(body["rows"]) == [
        ("request", "1", 2, "Production", "applied", "system"),
        ("request", "2", 3, "@champion", "rejected", "approver"),
        ("direct", None, 1, "Staging", "applied", "owner"),
        ("direct", None, 3, "@challenger", "applied", "owner"),
        ("request", "3", 1, "Production", "failed", "system"),
    ]
    assert body["rows"][0] == REQUEST_1
    assert body["rows"][1]["comment"] == "metrics regressed"
    assert body["rows"][1]["seconds_to_apply"] is None


def test_promotions_report_takes_a_period(history, cast, client_for):
    body = (
        client_for(cast.owner)
        .get("/api/v1/audit/reports/promotions", {"since": "2026-03-09", "until": "2026-03-11"})
        .json()
    )
    assert _promotions(body["rows"]) == [
        ("direct", None, 1, "Staging", "applied", "owner"),
        ("direct", None, 3, "@challenger", "applied", "owner"),
    ]


def test_reports_only_cover_models_the_reader_can_see(history, cast, client_for):
    assert client_for(cast.outsider).get("/api/v1/audit/reports/promotions").json()["rows"] == []


def test_promotions_per_week(history, cast, client_for):
    body = client_for(cast.owner).get("/api/v1/audit/reports/promotions-per-week").json()
    assert body["rows"] == [
        {"week": "2026-03-02", "applied": 1, "rejected": 1, "failed": 0},
        {"week": "2026-03-09", "applied": 2, "rejected": 0, "failed": 1},
    ]


def test_alias_history(history, cast, client_for):
    body = client_for(cast.owner).get("/api/v1/audit/reports/aliases", {"model": "fraud"}).json()
    assert [
        (r["at"][:10], r["alias"], r["from_version"], r["to_version"], r["actor"]) for r in body["rows"]
    ] == [("2026-03-11", "challenger", None, 3, "owner"), ("2026-03-13", "challenger", 3, None, "owner")]


def test_access_changes_report(history, cast, client_for):
    admin_rows = client_for(cast.admin).get("/api/v1/audit/reports/access-changes").json()["rows"]
    assert [(r["action"], r["actor"], r["target"]) for r in admin_rows] == [
        ("access.granted", "owner", "fraud"),
        ("token.created", "editor", "editor"),
    ]
    assert admin_rows[0]["after"] == {"user": "editor", "level": "EDIT"}
    # The token event is not about a model: only auditors see it.
    owner_rows = client_for(cast.owner).get("/api/v1/audit/reports/access-changes").json()["rows"]
    assert [r["action"] for r in owner_rows] == ["access.granted"]


def test_separation_of_duties_from_events_and_from_grants(history, cast, client_for):
    assign_perm(LEVEL_CODENAMES[Level.EDIT], cast.editor, history)
    assign_perm(LEVEL_CODENAMES[Level.APPROVE_PRODUCTION], cast.editor, history)
    assign_perm(LEVEL_CODENAMES[Level.APPROVE_PRODUCTION], cast.approver, history)
    rows = client_for(cast.admin).get("/api/v1/audit/reports/separation-of-duties").json()["rows"]
    assert [(r["kind"], r["user"], r["model"], r["version"]) for r in rows] == [
        ("authored_and_approved", "owner", "fraud", 1),
        ("holds_edit_and_approve_production", "editor", "fraud", None),
        ("holds_edit_and_approve_production", "owner", "fraud", None),
    ]
    assert "EDIT and APPROVE_PRODUCTION" in rows[1]["detail"]
    assert "MANAGE" in rows[2]["detail"]


def test_bad_period_is_a_400(history, cast, client_for):
    response = client_for(cast.owner).get("/api/v1/audit/reports/promotions", {"since": "March"})
    assert response.status_code == 400
    assert response.json()["field"] == "since"


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("audit_report", *args, stdout=out)
    return out.getvalue()


def test_command_writes_the_same_promotions_report_as_jsonl_and_csv(history, tmp_path):
    rows = [json.loads(line) for line in _command("promotions").splitlines()]
    assert rows[0] == REQUEST_1
    target = tmp_path / "promotions.csv"
    _command("promotions", "--format", "csv", "--output", str(target), "--since", "2026-03-09")
    table = list(csv.DictReader(target.open()))
    assert [(r["kind"], r["target"], r["outcome"]) for r in table] == [
        ("direct", "Staging", "applied"),
        ("direct", "'@challenger", "applied"),  # a leading @ would run as a spreadsheet formula
        ("request", "Production", "failed"),
    ]
    assert json.loads(table[2]["approvers"])[0]["user"] == "owner"


def test_command_exports_events_with_the_api_filters(history):
    lines = _command("events", "--model", "fraud", "--action", "alias.*").splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["alias.set", "alias.deleted"]
    text = _command(
        "events", "--format", "csv", "--actor", "approver", "--model", "fraud", "--model-version", "3"
    )
    assert [row["action"] for row in csv.DictReader(io.StringIO(text))] == ["request.rejected"]


def test_command_refuses_bad_filters(history):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown action"):
        _command("events", "--action", "nope")


def test_other_reports_from_the_command(history):
    weeks = [json.loads(line) for line in _command("promotions-per-week").splitlines()]
    assert [w["week"] for w in weeks] == ["2026-03-02", "2026-03-09"]
    aliases = [json.loads(line) for line in _command("aliases", "--model", "fraud").splitlines()]
    assert [a["to_version"] for a in aliases] == [3, None]
    access = [json.loads(line) for line in _command("access-changes").splitlines()]
    assert [a["action"] for a in access] == ["access.granted", "token.created"]
    sod = [json.loads(line) for line in _command("separation-of-duties", "--model", "fraud").splitlines()]
    assert [(s["kind"], s["user"]) for s in sod] == [
        ("authored_and_approved", "owner"),
        ("holds_edit_and_approve_production", "owner"),
    ]
