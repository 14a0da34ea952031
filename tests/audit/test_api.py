"""GET /api/v1/audit/events and the streamed exports, as each member of the cast sees them."""

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction

import audit
from audit.chain import GENESIS_HASH, event_hash
from audit.models import Action, AuditEvent
from registry import services
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/audit/events"


@pytest.fixture
def auditor(db):
    user = make_user("auditor")
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def history(fraud, cast):
    """fraud (seq 1-4 by owner), a private model of outsider's (seq 5), a failed login (seq 6), a tag (seq 7)."""
    services.registered_model_create(actor=cast.outsider, name="secret")
    with transaction.atomic():
        audit.record(actor=None, action=Action.LOGIN_FAILED, target_name="owner")
    services.model_version_tag_set(actor=cast.owner, name="fraud", version=2, key="=cmd", value="@SUM(1)")
    return fraud


def _seqs(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [event["seq"] for event in response.json()["results"]]


def test_anonymous_callers_get_a_json_401(client_for):
    response = client_for(None).get(EVENTS)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_each_reader_sees_only_events_of_models_they_can_read(history, cast, client_for, auditor):
    assert _seqs(client_for(cast.owner).get(EVENTS)) == [1, 2, 3, 4, 7]
    assert _seqs(client_for(cast.outsider).get(EVENTS)) == [5]
    assert _seqs(client_for(cast.editor).get(EVENTS)) == []
    assert _seqs(client_for(auditor).get(EVENTS)) == [1, 2, 3, 4, 5, 6, 7]
    assert _seqs(client_for(cast.admin).get(EVENTS)) == [1, 2, 3, 4, 5, 6, 7]


def test_an_event_carries_who_what_when_and_the_chain(history, cast, client_for):
    event = client_for(cast.owner).get(EVENTS, {"after_seq": 6}).json()["results"][0]
    assert event["action"] == "model_version.tag_set"
    assert event["actor_username"] == "owner"
    assert event["target_name"] == "fraud/v2"
    assert event["after"] == {"=cmd": "@SUM(1)"}
    assert event["prev_hash"] == AuditEvent.objects.get(seq=6).hash
    assert event["hash"] == AuditEvent.objects.get(seq=7).hash


def test_history_follows_a_rename(history, cast, client_for):
    services.registered_model_rename(actor=cast.owner, name="fraud", new_name="fraud-2026")
    assert _seqs(client_for(cast.owner).get(EVENTS, {"model": "fraud-2026"})) == [1, 2, 3, 4, 7, 8]


def test_filters_combine(history, cast, client_for, auditor):
    api = client_for(auditor)
    assert _seqs(api.get(EVENTS, {"model": "fraud", "version": 2})) == [3, 7]
    assert _seqs(api.get(EVENTS, {"action": "registered_model.created"})) == [1, 5]
    assert _seqs(api.get(EVENTS, {"action": "registered_model.*,auth.login_failed"})) == [1, 5, 6]
    assert _seqs(api.get(EVENTS, {"action": ["auth.login_failed", "model_version.tag_set"]})) == [6, 7]
    assert _seqs(api.get(EVENTS, {"actor": "outsider"})) == [5]
    assert _seqs(api.get(EVENTS, {"actor": "anonymous"})) == [6]
    middle = AuditEvent.objects.get(seq=5).timestamp.isoformat()
    assert _seqs(api.get(EVENTS, {"since": middle})) == [5, 6, 7]
    assert _seqs(api.get(EVENTS, {"until": middle})) == [1, 2, 3, 4, 5]
    assert _seqs(api.get(EVENTS, {"since": "2000-01-01", "until": "2000-12-31"})) == []


def test_pages(history, client_for, auditor):
    body = client_for(auditor).get(EVENTS, {"limit": 3, "offset": 3}).json()
    assert body["count"] == 7
    assert [e["seq"] for e in body["results"]] == [4, 5, 6]
    assert "offset=6" in body["next"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "registry.nuked"}, "action"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45"}, "until"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "since"),
        ({"version": "2"}, "version"),
        ({"model": "fraud", "version": "two"}, "version"),
        ({"model": "fraud", "version": str(2**40)}, "version"),
        ({"after_seq": "-1"}, "after_seq"),
        ({"after_seq": str(2**70)}, "after_seq"),
        ({"actor": "own\x00er"}, None),  # NUL may be refused before the view, without a field
        ({"model": "fraud\x00"}, None),
        ({"action": "auth.login\x00"}, None),
        ({"model": "m" * 601}, "model"),
    ],
)
def test_bad_filters_get_a_clear_400(history, cast, client_for, params, field):
    response = client_for(cast.owner).get(EVENTS, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    if field is not None:
        assert body["field"] == field


def test_the_api_is_read_only(history, client_for, auditor, cast):
    api = client_for(cast.admin)
    assert api.post(EVENTS, {"action": "auth.login"}, format="json").status_code == 405
    assert api.delete(EVENTS).status_code == 405
    assert AuditEvent.objects.count() == 7


def _streamed(response) -> str:
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_jsonl_export_streams_the_visible_events_and_reverifies_on_its_own(
    history, cast, client_for, auditor
):
    lines = _streamed(client_for(auditor).get(f"{EVENTS}/export.jsonl")).splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["seq"] for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    previous = GENESIS_HASH
    for row in rows:  # what an auditor does with the file: recompute every hash and link
        assert row["prev_hash"] == previous
        assert event_hash(row) == row["hash"]
        previous = row["hash"]
    owner_rows = _streamed(
        client_for(cast.owner).get(f"{EVENTS}/export.jsonl", {"model": "fraud"})
    ).splitlines()
    assert [json.loads(line)["seq"] for line in owner_rows] == [1, 2, 3, 4, 7]


def test_csv_export_has_a_header_and_defuses_spreadsheet_formulas(history, cast, client_for):
    response = client_for(cast.owner).get(f"{EVENTS}/export.csv", {"action": "model_version.tag_set"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_streamed(response))))
    assert [row["seq"] for row in rows] == ["7"]
    assert json.loads(rows[0]["after"]) == {"=cmd": "@SUM(1)"}  # JSON text starts with '{': left alone
    assert rows[0]["target_name"] == "fraud/v2"


def test_csv_export_of_nothing_is_just_the_header(cast, client_for):
    text = _streamed(client_for(cast.editor).get(f"{EVENTS}/export.csv"))
    assert text.splitlines() == [text.splitlines()[0]]
    assert text.startswith("seq,timestamp,actor_id")


def test_unknown_export_format_is_a_400(cast, client_for):
    response = client_for(cast.owner).get(f"{EVENTS}/export.xlsx")
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_checkpoints_are_listed_to_auditors_only(history, hmac_key, client_for, cast, auditor):
    from audit.services import checkpoint_create

    checkpoint_create(actor=cast.admin)
    body = client_for(auditor).get("/api/v1/audit/checkpoints").json()
    assert [c["seq"] for c in body["results"]] == [7]
    response = client_for(cast.owner).get("/api/v1/audit/checkpoints")
    assert response.status_code == 403
    assert response.json()["error_code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("report", ["aliases", "separation-of-duties", "promotions"])
def test_reports_refuse_bad_parameters_with_a_400(history, cast, client_for, report):
    response = client_for(cast.owner).get(f"/api/v1/audit/reports/{report}", {"model": "x\x00", "since": "x"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_listing_takes_a_fixed_number_of_queries(history, cast, client_for, django_assert_max_num_queries):
    for n in range(20):
        services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key=f"k{n}", value="v")
    api = client_for(cast.owner)
    with django_assert_max_num_queries(6):
        response = api.get(EVENTS, {"limit": 100})
    assert len(response.json()["results"]) == 25
