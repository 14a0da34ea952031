"""Grants per model to users and teams, listings, entitlement reports, operator commands, audit."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts import services
from accounts.models import User
from audit.models import Action, AuditEvent
from tests.fixtures_access import access_user

pytestmark = pytest.mark.django_db

GRANTS = "/api/v1/models/fraud/grants"


def test_manager_grants_and_revokes_read_and_each_change_is_audited(api_as, access_cast) -> None:
    manager = api_as("manager")
    assert api_as("outsider").get("/api/v1/models/fraud").status_code == 404
    granted = manager.post(GRANTS, {"user": "outsider", "level": "READ"}, format="json")
    assert granted.status_code == 201, granted.content
    assert {"kind": "user", "name": "outsider", "level": "READ"} in granted.json()["grants"]
    assert api_as("outsider").get("/api/v1/models/fraud").status_code == 200
    event = AuditEvent.objects.filter(action=Action.ACCESS_GRANTED).latest("seq")
    assert event.actor_username == "manager" and event.model_name == "fraud"
    assert event.after == {"model": "fraud", "user": "outsider", "level": "READ"}

    again = manager.post(GRANTS, {"user": "outsider", "level": "READ"}, format="json")
    assert again.status_code == 200

    revoked = manager.delete(f"{GRANTS}/users/outsider/READ")
    assert revoked.status_code == 204
    assert api_as("outsider").get("/api/v1/models/fraud").status_code == 404
    event = AuditEvent.objects.filter(action=Action.ACCESS_REVOKED).latest("seq")
    assert event.before == {"model": "fraud", "user": "outsider", "level": "READ"}


def test_idempotent_grant_writes_no_second_event(api_as, access_cast) -> None:
    manager = api_as("manager")
    manager.post(GRANTS, {"user": "outsider", "level": "EDIT"}, format="json")
    before = AuditEvent.objects.filter(action=Action.ACCESS_GRANTED).count()
    assert manager.post(GRANTS, {"user": "outsider", "level": "EDIT"}, format="json").status_code == 200
    assert AuditEvent.objects.filter(action=Action.ACCESS_GRANTED).count() == before


def test_levels_are_not_a_ladder_but_manage_implies_all(api_as, access_cast) -> None:
    approver = api_as("production_approver")
    denied = approver.patch("/api/v1/models/fraud", {"description": "x"}, format="json")
    assert denied.status_code == 403 and "EDIT" in denied.json()["message"]
    api_as("manager").post(GRANTS, {"user": "outsider", "level": "MANAGE"}, format="json")
    outsider = api_as("outsider")
    assert outsider.patch("/api/v1/models/fraud", {"description": "x"}, format="json").status_code == 200
    assert outsider.get(GRANTS).status_code == 200


def test_team_grants_follow_membership(api_as, access_cast) -> None:
    assert api_as("production_approver").get("/api/v1/models/fraud").status_code == 200
    services.team_member_remove(
        actor=services.OPERATOR, team_name="model-risk", username="production-approver"
    )
    assert api_as("production_approver").get("/api/v1/models/fraud").status_code == 404
    added = api_as("superuser").post(
        "/api/v1/teams/model-risk/members", {"username": "outsider"}, format="json"
    )
    assert added.status_code == 200 and added.json()["members"] == ["outsider"]
    assert api_as("outsider").get("/api/v1/models/fraud").status_code == 200
    changes = AuditEvent.objects.filter(action=Action.TEAM_CHANGED).order_by("seq")
    assert [e.after.get("member_removed") or e.after.get("member_added") for e in changes][-2:] == [
        "production-approver",
        "outsider",
    ]


def test_only_superusers_or_team_admins_change_teams(api_as, access_cast) -> None:
    denied = api_as("manager").post(
        "/api/v1/teams/model-risk/members", {"username": "outsider"}, format="json"
    )
    assert denied.status_code == 403
    assert api_as("manager").post("/api/v1/teams", {"name": "x"}, format="json").status_code == 403
    assert api_as("superuser").get("/api/v1/teams/nope").status_code == 404


def test_grant_listing_shows_who_holds_what_and_through_which_team(api_as, access_cast) -> None:
    body = api_as("manager").get(GRANTS).json()
    assert {"kind": "team", "name": "model-risk", "level": "APPROVE_PRODUCTION"} in body["grants"]
    assert {"kind": "user", "name": "manager", "level": "MANAGE"} in body["grants"]
    effective = {(r["user"], r["level"], r["via"], r["team"]) for r in body["effective"]}
    assert ("production-approver", "APPROVE_PRODUCTION", "team", "model-risk") in effective
    assert ("manager", "APPROVE_STAGING", "direct", "") in effective  # MANAGE implies it
    assert ("root", "MANAGE", "superuser", "") in effective
    assert not any(user == "outsider" for user, *_ in effective)


BAD_GRANTS = [
    ({"user": "outsider", "level": "OWNER"}, "level"),
    ({"user": "nobody", "level": "READ"}, "user"),
    ({"team": "nobody", "level": "READ"}, "team"),
    ({"user": "outsider", "team": "model-risk", "level": "READ"}, None),
    ({"level": "READ"}, None),
    ({"user": 7, "level": "READ"}, "user"),
]


def test_bad_grant_requests_get_400(api_as, access_cast) -> None:
    manager = api_as("manager")
    for body, field in BAD_GRANTS:
        response = manager.post(GRANTS, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        if field:
            assert field in json.dumps(response.json()), body


def test_revoking_something_not_granted_is_404_and_bad_kind_is_404(api_as, access_cast) -> None:
    manager = api_as("manager")
    assert manager.delete(f"{GRANTS}/users/outsider/READ").status_code == 404
    assert manager.delete(f"{GRANTS}/robots/outsider/READ").status_code == 404
    assert manager.delete(f"{GRANTS}/users/outsider/OWNER").status_code == 400


def test_the_last_manage_grant_cannot_be_revoked(api_as, access_cast) -> None:
    manager = api_as("manager")
    refused = manager.delete(f"{GRANTS}/users/manager/MANAGE")
    assert refused.status_code == 409
    manager.post(GRANTS, {"team": "model-risk", "level": "MANAGE"}, format="json")
    assert manager.delete(f"{GRANTS}/users/manager/MANAGE").status_code == 204


def test_what_can_alice_do(api_as, access_cast) -> None:
    mine = api_as("editor").get("/api/v1/users/me/access").json()
    assert {(r["model"], r["level"], r["via"]) for r in mine["entitlements"]} == {
        ("fraud", "READ", "direct"),
        ("fraud", "EDIT", "direct"),
    }
    seen_by_manager = api_as("manager").get("/api/v1/users/production-approver/access").json()["entitlements"]
    assert {(r["level"], r["via"], r["team"]) for r in seen_by_manager} == {
        ("READ", "team", "model-risk"),
        ("APPROVE_PRODUCTION", "team", "model-risk"),
    }
    # Someone who manages nothing learns nothing about others.
    assert api_as("reader").get("/api/v1/users/editor/access").json()["entitlements"] == []
    assert api_as("reader").get("/api/v1/users/nobody/access").status_code == 404


def test_entitlement_report_json_and_csv(api_as, access_cast) -> None:
    report = api_as("manager").get("/api/v1/access-report").json()
    assert [m["model"] for m in report["models"]] == ["fraud"]
    levels = report["models"][0]["levels"]
    assert {r["user"] for r in levels["READ"]} >= {
        "reader",
        "editor",
        "staging-approver",
        "production-approver",
    }
    # The global manager holds MANAGE on every model through a global grant, so it is listed too.
    assert {r["user"] for r in levels["APPROVE_PRODUCTION"]} == {
        "production-approver",
        "manager",
        "root",
        "global-manager",
    }
    assert {(r["user"], r["via"]) for r in levels["MANAGE"]} >= {("global-manager", "global")}
    csv_response = api_as("manager").get("/api/v1/access-report?output=csv")
    assert csv_response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_response.content.decode())))
    assert {"model": "fraud", "level": "EDIT", "user": "editor", "via": "direct"}.items() <= rows[
        [i for i, r in enumerate(rows) if r["user"] == "editor" and r["level"] == "EDIT"][0]
    ].items()
    everything = api_as("superuser").get("/api/v1/access-report").json()
    assert [m["model"] for m in everything["models"]] == ["fraud", "secret-model"]
    assert api_as("manager").get("/api/v1/access-report?output=xml").status_code == 400


def test_grant_revoke_and_report_commands(access_cast) -> None:
    out = io.StringIO()
    call_command("grant", "--user", "outsider", "--model", "fraud", "--level", "read", stdout=out)
    assert "Granted READ" in out.getvalue()
    assert User.objects.get(username="outsider").has_perm("registry.view_registeredmodel", access_cast.fraud)
    event = AuditEvent.objects.filter(action=Action.ACCESS_GRANTED).latest("seq")
    assert (event.actor_kind, event.actor_detail) == ("system", "manage.py grant")

    call_command(
        "grant", "--team", "model-risk", "--model", "fraud", "--level", "APPROVE_STAGING", stdout=out
    )
    report = io.StringIO()
    call_command(
        "access_report",
        "--format",
        "json",
        "--model",
        "fraud",
        "--user",
        "production-approver",
        stdout=report,
    )
    levels = json.loads(report.getvalue())["models"][0]["levels"]
    assert [r["team"] for r in levels["APPROVE_STAGING"]] == ["model-risk"]

    call_command("revoke", "--user", "outsider", "--model", "fraud", "--level", "READ", stdout=out)
    assert not User.objects.get(username="outsider").has_perm(
        "registry.view_registeredmodel", access_cast.fraud
    )
    csv_out = io.StringIO()
    call_command("access_report", stdout=csv_out)
    assert csv_out.getvalue().startswith("model,level,user,service_account,via,team,granted_level\n")
    assert "secret-model" in csv_out.getvalue()


FAILING_COMMANDS = [
    ["grant", "--user", "outsider", "--model", "fraud", "--level", "OWNER"],
    ["grant", "--user", "nobody", "--model", "fraud", "--level", "READ"],
    ["grant", "--user", "outsider", "--model", "no-such-model", "--level", "READ"],
    ["revoke", "--user", "outsider", "--model", "fraud", "--level", "READ"],
    ["access_report", "--model", "no-such-model"],
    ["access_report", "--user", "nobody"],
    ["team", "add", "no-team", "outsider"],
]


def test_commands_fail_clearly(access_cast) -> None:
    for args in FAILING_COMMANDS:
        with pytest.raises(CommandError):
            call_command(*args, stdout=io.StringIO())


def test_team_and_user_commands(access_cast) -> None:
    call_command("team", "create", "validators", "--description", "MRM", stdout=io.StringIO())
    call_command("create_user", "ci-bot", "--service-account", stdout=io.StringIO())
    call_command("team", "add", "validators", "ci-bot", stdout=io.StringIO())
    bot = User.objects.get(username="ci-bot")
    assert bot.is_service_account and not bot.has_usable_password()
    assert list(bot.groups.values_list("name", flat=True)) == ["validators"]
    assert AuditEvent.objects.filter(action=Action.USER_CREATED, target_name="ci-bot").exists()


def test_superuser_power_is_audited_once_and_only_when_it_was_needed(api_as, access_cast) -> None:
    def superuser_events() -> int:
        return AuditEvent.objects.filter(action=Action.SUPERUSER_ACTION).count()

    assert (
        api_as("manager")
        .post("/api/v1/models/fraud/rename", {"new_name": "fraud-a"}, format="json")
        .status_code
        == 200
    )
    assert superuser_events() == 0
    assert (
        api_as("superuser")
        .post("/api/v1/models/fraud-a/rename", {"new_name": "fraud"}, format="json")
        .status_code
        == 200
    )
    event = AuditEvent.objects.get(action=Action.SUPERUSER_ACTION)
    assert event.actor_username == "root" and event.model_name == "fraud-a"
    assert event.after["permission_not_granted"] == "manage_registeredmodel"
    # Reads are not audited as superuser actions.
    api_as("superuser").get("/api/v1/models/secret-model")
    assert superuser_events() == 1
    # With a real grant, no superuser event.
    services.grant_add(
        actor=services.OPERATOR,
        model_name="fraud",
        principal=services.Principal("user", "root"),
        level="MANAGE",
    )
    api_as("superuser").post("/api/v1/models/fraud/rename", {"new_name": "fraud-b"}, format="json")
    assert superuser_events() == 1
    api_as("superuser").post("/api/v1/models", {"name": "root-model"}, format="json")
    assert superuser_events() == 2


def test_list_endpoints_run_a_bounded_number_of_queries(
    api_as, access_cast, django_assert_max_num_queries
) -> None:
    """Guardian's N+1: the query count must not grow with the number of visible models or rows."""
    from registry import services as registry

    for number in range(25):
        name = f"bulk-{number:02d}"
        registry.registered_model_create(
            actor=access_cast.manager, name=name, tags=[{"key": "k", "value": "v"}]
        )
        registry.model_version_create(actor=access_cast.manager, name=name, source=f"s3://bucket/{name}/1")
        services.grant_add(
            actor=services.OPERATOR,
            model_name=name,
            principal=services.Principal("team", "model-risk")
            if number % 2
            else services.Principal("user", "reader"),
            level="READ",
        )
    member = access_user("member-of-risk")
    services.team_member_add(actor=services.OPERATOR, team_name="model-risk", username=member.username)
    endpoints = [
        "/api/v1/models?limit=100",
        "/api/v1/versions?limit=100",
        "/api/v1/access-report",
        "/api/v1/users/me/access",
        "/api/2.0/mlflow/registered-models/search?max_results=100",
        "/api/2.0/mlflow/model-versions/search?max_results=100",
    ]
    for role in ("reader", "production_approver", "manager"):
        client = api_as(role)
        for url in endpoints:
            with django_assert_max_num_queries(14):
                assert client.get(url).status_code == 200, url
    # And the count is the same for 1 and 26 visible models.
    few, many = api_as("staging_approver"), api_as("reader")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for url in endpoints[:2] + endpoints[4:]:
        with CaptureQueriesContext(connection) as small:
            few.get(url)
        with CaptureQueriesContext(connection) as large:
            many.get(url)
        assert len(large.captured_queries) == len(small.captured_queries), url
