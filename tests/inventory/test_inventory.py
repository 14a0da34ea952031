"""The model inventory through the native API and the admin: MANAGE-only edits, audit, filters, report."""

import csv
import io

import pytest
from django.test import Client

from access.grants import Level
from audit.models import Action, AuditEvent
from inventory.models import InventoryRecord
from registry import services
from tests.fixtures_workflow import grant_levels, signing_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def scoring(cast):
    """'scoring' owned (MANAGE) by the owner; the editor has EDIT; the outsider sees nothing."""
    model = services.registered_model_create(actor=cast.owner, name="scoring")
    grant_levels(cast.editor, model, Level.EDIT)
    return model


def inventory_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.INVENTORY_CHANGED).order_by("seq"))


def patch(client_for, user, name: str, body: object):
    return client_for(user).patch(f"/api/v1/models/{name}/inventory", body, format="json")


def test_a_new_model_has_an_untiered_record_in_development(scoring, client_for, cast):
    r = client_for(cast.owner).get("/api/v1/models/scoring/inventory")
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["risk_tier"], body["lifecycle_status"], body["regulatory_tags"], body["developer"]) == (
        "",
        "development",
        [],
        None,
    )


def test_manage_holder_edits_the_record_and_the_change_is_audited(scoring, client_for, cast):
    r = patch(
        client_for,
        cast.owner,
        "scoring",
        {
            "risk_tier": "high",
            "intended_use": "retail credit decisions",
            "business_owner": "Head of Retail Credit",
            "developer": "editor",
            "third_party": False,
            "lifecycle_status": "in_use",
            "regulatory_tags": ["sr-26-2", "eu-ai-act-high-risk", "sr-26-2"],
        },
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["risk_tier"], body["developer"], body["lifecycle_status"]) == ("high", "editor", "in_use")
    assert body["regulatory_tags"] == ["eu-ai-act-high-risk", "sr-26-2"]  # deduplicated, sorted
    (event,) = inventory_events()
    assert (event.actor_username, event.model_name, event.registered_model_id) == (
        "owner",
        "scoring",
        scoring.pk,
    )
    assert event.before["risk_tier"] == "" and event.after["risk_tier"] == "high"
    assert event.after["developer"] == "editor"


def test_edit_holder_and_outsider_cannot_change_the_record(scoring, client_for, cast):
    assert patch(client_for, cast.editor, "scoring", {"risk_tier": "low"}).status_code == 403
    hidden = patch(client_for, cast.outsider, "scoring", {"risk_tier": "low"})
    assert hidden.status_code == 404  # unseen == missing
    assert client_for(cast.outsider).get("/api/v1/models/scoring/inventory").status_code == 404
    assert client_for(None).patch("/api/v1/models/scoring/inventory", {}, format="json").status_code in (
        401,
        403,
    )
    assert InventoryRecord.objects.get(model=scoring).risk_tier == ""
    assert inventory_events() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"risk_tier": "extreme"}, "risk_tier"),
        ({"lifecycle_status": "archived"}, "lifecycle_status"),
        ({"developer": "nobody-by-that-name"}, "developer"),
        ({"developer": 7}, "developer"),
        ({"third_party": "yes"}, "third_party"),
        ({"regulatory_tags": "sr-26-2"}, "regulatory_tags"),
        ({"regulatory_tags": ["=HYPERLINK(1)"]}, "regulatory_tags"),
        ({"intended_use": ["x"]}, "intended_use"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(scoring, client_for, cast, body, field):
    r = patch(client_for, cast.owner, "scoring", body)
    assert r.status_code == 400, r.content
    assert r.json()["field"] == field
    assert inventory_events() == []


def test_a_body_that_is_not_an_object_is_a_400(scoring, client_for, cast):
    r = patch(client_for, cast.owner, "scoring", ["risk_tier", "high"])
    assert r.status_code == 400, r.content


def test_tiers_come_from_the_setting(scoring, client_for, cast, settings):
    settings.QUORUM_RISK_TIERS = ["material:90", "minor:1000"]
    assert patch(client_for, cast.owner, "scoring", {"risk_tier": "high"}).status_code == 400
    assert patch(client_for, cast.owner, "scoring", {"risk_tier": "material"}).status_code == 200
    report = client_for(cast.owner).get("/api/v1/inventory/report").json()
    assert report["tiers"] == [
        {"name": "material", "review_interval_days": 90},
        {"name": "minor", "review_interval_days": 1000},
    ]
    assert report["models"][0]["review_interval_days"] == 90


def test_list_filters_by_tier_status_and_tag_and_shows_only_visible_models(cast, client_for):
    for name, tier, status, tags in (
        ("alpha", "high", "in_use", ["sr-26-2"]),
        ("beta", "low", "in_use", ["eu-ai-act"]),
        ("gamma", "high", "retired", ["sr-26-2", "eu-ai-act"]),
    ):
        services.registered_model_create(actor=cast.owner, name=name)
        r = patch(
            client_for,
            cast.owner,
            name,
            {"risk_tier": tier, "lifecycle_status": status, "regulatory_tags": tags},
        )
        assert r.status_code == 200, r.content
    services.registered_model_create(actor=cast.outsider, name="outsiders-own")

    def names(query: str, user=cast.owner) -> list[str]:
        r = client_for(user).get(f"/api/v1/inventory{query}")
        assert r.status_code == 200, r.content
        return [row["model"] for row in r.json()["results"]]

    assert names("") == ["alpha", "beta", "gamma"]
    assert names("?tier=high") == ["alpha", "gamma"]
    assert names("?status=in_use") == ["alpha", "beta"]
    assert names("?tag=eu-ai-act") == ["beta", "gamma"]
    assert names("?tier=high&status=in_use&tag=sr-26-2") == ["alpha"]
    assert names("", user=cast.outsider) == ["outsiders-own"]
    assert client_for(cast.owner).get("/api/v1/inventory?status=gone").status_code == 400


def test_report_is_csv_and_json_with_the_production_version(governed, file_request, client_for):
    from workflows import services as workflow_services

    request = file_request(2, stage="Production")
    for approver in (governed.approver, governed.second_approver):
        workflow_services.transition_request_approve(
            actor=approver, request_id=request.pk, comment="ok", signing=signing_of(approver)
        )
    request.refresh_from_db()
    assert request.state == "applied", request.state_reason
    patch(
        client_for, governed.owner, "scoring", {"business_owner": "=cmd|' /C calc'!A0", "risk_tier": "medium"}
    )

    body = client_for(governed.owner).get("/api/v1/inventory/report?format=json").json()
    (row,) = body["models"]
    assert (row["model"], row["production_version"], row["risk_tier"]) == ("scoring", 2, "medium")

    r = client_for(governed.owner).get("/api/v1/inventory/report?format=csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert rows[0]["model"] == "scoring" and rows[0]["production_version"] == "2"
    assert rows[0]["business_owner"].startswith("'=")  # a spreadsheet does not run it
    assert client_for(governed.owner).get("/api/v1/inventory/report?format=xml").status_code == 404
    outsider_rows = client_for(governed.outsider).get("/api/v1/inventory/report").json()["models"]
    assert [r["model"] for r in outsider_rows] == ["scoring"]  # the outsider has READ here


def _admin_client(user) -> Client:
    type(user).objects.filter(pk=user.pk).update(is_staff=True)
    browser = Client()
    browser.force_login(type(user).objects.get(pk=user.pk))
    return browser


def test_admin_change_goes_through_the_audited_service_and_needs_manage(scoring, cast):
    record = InventoryRecord.objects.get(model=scoring)
    url = f"/admin/inventory/inventoryrecord/{record.pk}/change/"
    form = {
        "risk_tier": "low",
        "intended_use": "marketing propensity",
        "business_owner": "CMO",
        "lifecycle_status": "in_use",
        "developer_username": "editor",
        "tags_text": "gdpr, sr-26-2",
    }
    editor = _admin_client(cast.editor)
    assert editor.get("/admin/inventory/inventoryrecord/").status_code == 200
    assert editor.post(url, form).status_code == 403
    assert inventory_events() == []
    outsider = _admin_client(cast.outsider)
    assert outsider.get(url).status_code in (302, 404)  # not visible: the admin says it does not exist

    owner = _admin_client(cast.owner)
    r = owner.post(url, form)
    assert r.status_code == 302, r.content.decode()[:2000]
    record.refresh_from_db()
    assert (record.risk_tier, record.developer.username, record.regulatory_tags) == (
        "low",
        "editor",
        ["gdpr", "sr-26-2"],
    )
    (event,) = inventory_events()
    assert event.actor_username == "owner"
    bad = owner.post(url, {**form, "developer_username": "ghost"})
    assert bad.status_code == 200 and "No user named" in bad.content.decode()
    assert len(inventory_events()) == 1
