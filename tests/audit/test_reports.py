"""Ready-made reports match a scripted history (API, management command and admin page)."""

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.db import transaction
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
        {"user": "approver", "at": "2026-03-02T10:00:00.000000Z", "comment": "looks good", "signature": ""},
        {"user": "second_approver", "at": "2026-03-03T09:00:00.000000Z", "comment": "ok", "signature": ""},
    ],
    "decided_by": "system",
    "decision_signature": "",
    "decided_at": "2026-03-03T09:05:00.000000Z",
    "comment": "approved by 2",
    "evidence_digest": "sha256:aaa",
    "seconds_to_apply": 83100.0,
}


def _promotions(rows):
    return [(r["kind"], r["request"], r["version"], r["target"], r["outcome"], r["decided_by"]) for r in rows]


def test_promotions_report_lists_requests_and_direct_changes_apart(history, cast, client_for):
    body = client_for(cast.owner).get("/api/v1/audit/reports/promotions").json()
    assert body["report"] == "promotions"
    # Only requests: a direct change moved a target no policy governs, it is no promotion.
    assert _promotions(body["rows"]) == [
        ("request", "1", 2, "Production", "applied", "system"),
        ("request", "2", 3, "alias:champion", "rejected", "approver"),
        ("request", "3", 1, "Production", "failed", "system"),
    ]
    direct = client_for(cast.owner).get("/api/v1/audit/reports/direct-changes").json()
    assert direct["report"] == "direct_changes"
    assert [(r["version"], r["target"], r["actor"]) for r in direct["rows"]] == [
        (1, "Staging", "owner"),
        (3, "alias:challenger", "owner"),
    ]
    assert body["rows"][0] == REQUEST_1
    assert body["rows"][1]["comment"] == "metrics regressed"
    assert body["rows"][1]["seconds_to_apply"] is None


def test_promotions_report_takes_a_period(history, cast, client_for):
    body = (
        client_for(cast.owner)
        .get("/api/v1/audit/reports/promotions", {"since": "2026-03-02", "until": "2026-03-04"})
        .json()
    )
    assert _promotions(body["rows"]) == [("request", "1", 2, "Production", "applied", "system")]


def test_reports_only_cover_models_the_reader_can_see(history, cast, client_for):
    assert client_for(cast.outsider).get("/api/v1/audit/reports/promotions").json()["rows"] == []


def test_promotions_per_week(history, cast, client_for):
    body = client_for(cast.owner).get("/api/v1/audit/reports/promotions-per-week").json()
    # The two direct changes of ungoverned targets in the week of 9 March are counted apart.
    assert body["rows"] == [
        {"week": "2026-03-02", "applied": 1, "rejected": 1, "failed": 0, "direct": 0},
        {"week": "2026-03-09", "applied": 0, "rejected": 0, "failed": 1, "direct": 2},
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
    _command("promotions", "--format", "csv", "--output", str(target))
    table = list(csv.DictReader(target.open()))
    assert [(r["kind"], r["target"], r["outcome"]) for r in table] == [
        ("request", "Production", "applied"),
        ("request", "alias:champion", "rejected"),  # as written: no formula escape needed
        ("request", "Production", "failed"),
    ]
    # One approver per column group, each cell a plain value a spreadsheet shows as written.
    assert (table[0]["approver_1"], table[0]["approver_2"], table[0]["approver_2_comment"]) == (
        "approver",
        "second_approver",
        "ok",
    )
    assert table[0]["approver_1_at"] == "2026-03-02T10:00:00.000000Z"
    assert "approvers" not in table[0]
    assert (table[2]["approver_1"], table[2]["approver_2"]) == ("owner", "")


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
    direct = [json.loads(line) for line in _command("direct-changes").splitlines()]
    assert [d["target"] for d in direct] == ["Staging", "alias:challenger"]
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


# --- Issue 21: filters that filter (API, command, admin: one definition), CSV as written ---------


@pytest.fixture
def other_model(history, cast):
    """A second model with a request applied, a grant and a direct alias move: what a model filter drops."""
    from datetime import UTC, datetime

    import audit
    from audit.models import Action
    from registry import services
    from tests.audit.scripted import request_event

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.utils.timezone.now", lambda: datetime(2026, 3, 4, tzinfo=UTC))
        other = services.registered_model_create(actor=cast.owner, name="churn")
        for number in (1, 2):
            services.model_version_create(
                actor=cast.owner, name="churn", source=f"s3://bucket/churn/{number}"
            )
        services.alias_set(actor=cast.owner, name="churn", alias="shadow", version=1)
        with transaction.atomic():  # as accounts.services.grant_add records it
            audit.record(
                actor=cast.owner,
                action=Action.ACCESS_GRANTED,
                target=other,
                model_name="churn",
                after={"user": "x"},
            )
        request_event(cast.editor, Action.REQUEST_CREATED, 9, 2, "Staging", model_name="churn")
        request_event("system", Action.REQUEST_APPLIED, 9, 2, "Staging", model_name="churn")
    return other


@pytest.mark.parametrize(
    "report",
    [
        "promotions",
        "direct-changes",
        "promotions-per-week",
        "aliases",
        "access-changes",
        "separation-of-duties",
    ],
)
def test_model_filter_filters_every_report_in_the_api(other_model, cast, client_for, report):
    browser = client_for(cast.admin)
    everything = browser.get(f"/api/v1/audit/reports/{report}").json()["rows"]
    fraud_only = browser.get(f"/api/v1/audit/reports/{report}", {"model": "fraud"}).json()
    churn_only = browser.get(f"/api/v1/audit/reports/{report}", {"model": "churn"}).json()
    assert fraud_only["model"] == "fraud"
    if report == "promotions-per-week":
        total = sum(w["applied"] + w["rejected"] + w["failed"] + w["direct"] for w in everything)
        fraud_total = sum(
            w["applied"] + w["rejected"] + w["failed"] + w["direct"] for w in fraud_only["rows"]
        )
        assert fraud_total < total
        return
    # (the scripted history records fraud's grant without a model name; its target names it)
    assert all("fraud" in (row["model"], row.get("target")) for row in fraud_only["rows"])
    assert all(row["model"] == "churn" for row in churn_only["rows"])
    if report != "separation-of-duties":
        assert churn_only["rows"], f"{report}: the churn events are in the report"
        assert len(fraud_only["rows"]) + len(churn_only["rows"]) <= len(everything)


def test_model_filter_filters_promotions_and_access_changes_from_the_command(other_model):
    promotions = [json.loads(line) for line in _command("promotions", "--model", "churn").splitlines()]
    assert [(p["model"], p["target"]) for p in promotions] == [("churn", "Staging")]
    access = [json.loads(line) for line in _command("access-changes", "--model", "fraud").splitlines()]
    assert [(a["action"], a["target"]) for a in access] == [("access.granted", "fraud")]
    text = _command("promotions", "--model", "fraud", "--format", "csv")
    assert {row["model"] for row in csv.DictReader(io.StringIO(text))} == {"fraud"}


def test_reports_refuse_filters_they_do_not_take(history, cast, client_for):
    from django.core.management.base import CommandError

    response = client_for(cast.admin).get("/api/v1/audit/reports/promotions", {"actor": "owner"})
    assert response.status_code == 400
    assert response.json()["field"] == "actor"
    with pytest.raises(CommandError, match="drop actor"):
        _command("promotions", "--actor", "owner")


def test_csv_still_escapes_cells_that_would_run_as_formulas(history, cast):
    """Injection safety stays for values that really start with = + - @ (a comment, an actor's text)."""
    from audit.models import Action
    from tests.audit.scripted import request_event

    request_event(cast.editor, Action.REQUEST_CREATED, 7, 2, "Staging", '=HYPERLINK("http://x")')
    request_event(cast.approver, Action.REQUEST_APPROVED, 7, 2, "Staging", "@SUM(A1)")
    request_event(cast.approver, Action.REQUEST_REJECTED, 7, 2, "Staging", "+1")
    table = list(csv.DictReader(io.StringIO(_command("promotions", "--format", "csv"))))
    row = next(r for r in table if r["request"] == "7")
    assert row["comment"] == "'+1"
    assert row["approver_1_comment"] == "'@SUM(A1)"
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in table for cell in r.values())
