"""The model inventory page and the model card review in the admin, in a real browser (headless
chromium via Playwright, as tests/workflows/test_browser.py): the author submits, another user
approves, the approved state shows; the author cannot approve their own card."""

import io
import json
import zipfile

import pytest

from audit.models import Action, AuditEvent
from inventory.models import InventoryRecord, ModelCard
from tests.accounts.test_admin_browser import _sign_in, page  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CARDS = "/admin/inventory/modelcard/"
INVENTORY = "/admin/inventory/inventoryrecord/"


def staff(*users):
    for user in users:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


def password(user) -> str:
    return f"{user.username}-pw-123!"


def run_action(page, base: str, action: str) -> str:  # noqa: F811
    """Tick every card on the list, run the admin action, return the messages it shows."""
    page.goto(f"{base}{CARDS}")
    page.check("#action-toggle")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    return page.inner_text("ul.messagelist")


def test_inventory_page_lists_filters_and_edits_a_record(live_server, page, governed):  # noqa: F811
    staff(governed.owner, governed.outsider)
    _sign_in(page, live_server.url, "owner", password(governed.owner), INVENTORY)
    page.wait_for_selector("#result_list")
    assert "scoring" in page.inner_text("#result_list")
    page.click("#result_list >> text=scoring")
    page.wait_for_selector("#id_risk_tier")
    page.select_option("#id_risk_tier", "high")
    page.fill("#id_business_owner", "Retail credit")
    page.fill("#id_tags_text", "sr-26-2, eu-ai-act")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")
    record = InventoryRecord.objects.get(model=governed.model)
    assert (record.risk_tier, record.business_owner, record.regulatory_tags) == (
        "high",
        "Retail credit",
        ["eu-ai-act", "sr-26-2"],
    )
    assert AuditEvent.objects.filter(action=Action.INVENTORY_CHANGED, actor_username="owner").exists()
    row = page.inner_text("#result_list")
    assert "high" in row and "Retail credit" in row and "eu-ai-act, sr-26-2" in row
    page.goto(f"{live_server.url}{INVENTORY}?risk_tier=medium")
    assert "scoring" not in page.inner_text("#changelist")
    page.goto(f"{live_server.url}{INVENTORY}?risk_tier=high")
    assert "scoring" in page.inner_text("#result_list")

    # A reader sees the record but has no form to change it (MANAGE only).
    page.context.clear_cookies()
    _sign_in(page, live_server.url, "outsider", password(governed.outsider), INVENTORY)
    page.wait_for_selector("#result_list")
    page.click("#result_list >> text=scoring")
    page.wait_for_selector("#content")
    assert page.query_selector("input[name=_save]") is None
    assert page.query_selector("#id_risk_tier") is None


def test_card_review_author_submits_another_approves_and_the_author_cannot(
    live_server,
    page,  # noqa: F811
    governed,
    client_for,
):
    staff(governed.editor, governed.approver)
    r = client_for(governed.editor).patch(
        "/api/v1/models/scoring/versions/2/card",
        {"intended_use": "Retail pre-screening", "limitations": "Thin-file applicants"},
        format="json",
    )
    assert r.status_code == 200
    # The author is also an approver on the model: independence, not the permission, refuses them.
    from access.grants import Level
    from tests.fixtures_workflow import grant_levels

    grant_levels(governed.editor, governed.model, Level.EDIT, Level.APPROVE_PRODUCTION)

    _sign_in(page, live_server.url, "editor", password(governed.editor), CARDS)
    page.wait_for_selector("#result_list")
    assert "Draft" in page.inner_text("#result_list")
    # Drafting from the run's evidence is an action too; this version names no run, and it says so.
    assert "names no run" in run_action(page, live_server.url, "draft_cards_from_evidence")
    assert ModelCard.objects.get().limitations == "Thin-file applicants"
    assert "Submitted 1 model card(s)" in run_action(page, live_server.url, "submit_cards")
    assert "Submitted" in page.inner_text("#result_list")
    shown = run_action(page, live_server.url, "approve_cards")
    assert "someone other than its author" in shown
    assert ModelCard.objects.get().state == "submitted"

    page.context.clear_cookies()
    _sign_in(page, live_server.url, "approver", password(governed.approver), CARDS)
    page.wait_for_selector("#result_list")
    assert "Approved 1 model card(s)" in run_action(page, live_server.url, "approve_cards")
    row = page.inner_text("#result_list")
    assert "Approved" in row and "approver" in row
    card = ModelCard.objects.get()
    assert (card.state, card.approved_by.username) == ("approved", "approver")

    page.click("#result_list tbody a")  # the card's page: its state, approver and the digest it is bound to
    page.wait_for_selector("#evidence-pack-link")
    content = page.inner_text("#content")
    assert "Approved" in content and card.approved_digest in content
    with page.expect_download() as download:
        page.click("#evidence-pack-link")
    pack = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert json.loads(pack.read("model-card.json"))["state"] == "approved"
    assert AuditEvent.objects.filter(
        action=Action.EVIDENCE_PACK_DOWNLOADED, actor_username="approver"
    ).exists()
