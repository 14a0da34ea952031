"""Ready-made reports match a scripted history (API, management command and admin page)."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from guardian.shortcuts import assign_perm

from access.grants import LEVEL_CODENAMES, Level

pytestmark = pytest.mark.django_db


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


def test_command_refuses_nul_in_filters(history):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="NUL"):
        _command("events", "--actor", "own\x00er")
