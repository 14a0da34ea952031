"""The admin pieces of issue 21 in a real browser (headless chromium via Playwright, as
tests/workflows/test_browser.py): first sign-in with a printed password, the index's links, the
permissions page's effective levels, readable reports that fit, and a truthful job state."""

import pytest
from django.db import transaction
from guardian.shortcuts import assign_perm

import audit
from access.grants import LEVEL_CODENAMES, Level
from accounts import services as account_services
from audit.models import Action
from registry import services
from tests.conftest import make_user
from tests.workflows.test_browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PRINTED = "printed-once-pw-123!"
OWN = "a-password-of-my-own-456?"


@pytest.fixture
def page(monkeypatch):
    sync_playwright = browser_or_skip()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM calls between browser steps
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        tab = browser.new_page(viewport={"width": 1100, "height": 800})
        tab.set_default_timeout(15_000)
        yield tab
        browser.close()


def _sign_in(page, base: str, username: str, password: str, next_page: str = "/admin/") -> None:
    page.goto(f"{base}/admin/login/?next={next_page}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def test_a_printed_password_is_changed_at_first_sign_in_then_the_index_leads_to_the_queue(live_server, page):
    approver = make_user("risk-approver", is_staff=True)
    approver.set_password(PRINTED)
    approver.save()
    account_services.one_time_password_issued(user=approver)

    _sign_in(page, live_server.url, "risk-approver", PRINTED, "/admin/approvals/")
    page.wait_for_selector("#id_new_password1")
    assert page.url.endswith("/admin/password_change/")
    assert "one-time password" in page.inner_text("ul.messagelist")
    page.goto(f"{live_server.url}/admin/approvals/")  # anything else leads back here
    assert page.url.endswith("/admin/password_change/")
    page.fill("#id_old_password", PRINTED)
    page.fill("#id_new_password1", OWN)
    page.fill("#id_new_password2", OWN)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/password_change/done/")
    approver.refresh_from_db()
    assert not approver.must_change_password

    page.goto(f"{live_server.url}/admin/")
    links = page.inner_text("#quorum-links")
    assert "Approval queue" in links and "Audit reports" not in links  # reports: auditors only
    page.click("#quorum-links >> text=Approval queue")
    page.wait_for_url("**/admin/approvals/")


def test_permissions_page_shows_effective_levels(live_server, page, cast):
    owner = cast.owner
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    model = services.registered_model_create(actor=owner, name="fraud")  # the creator holds MANAGE
    team = account_services.team_create(actor=cast.admin, name="risk")
    account_services.team_member_add(actor=cast.admin, team_name="risk", username="editor")
    account_services.grant_add(
        actor=owner,
        model_name="fraud",
        principal=account_services.Principal("team", "risk"),
        level=Level.EDIT,
    )
    assign_perm(LEVEL_CODENAMES[Level.APPROVE_PRODUCTION], cast.approver, model)

    _sign_in(page, live_server.url, "owner", "owner-pw-123!")
    page.wait_for_selector("#quorum-links")
    page.goto(f"{live_server.url}/admin/registry/registeredmodel/{model.pk}/permissions/")
    owner_row = page.locator('tr.effective-user[data-principal="owner"]')
    assert owner_row.locator(".effective-level").inner_text() == "MANAGE"
    for level in Level:  # MANAGE implies every level: no red cross anywhere on its row
        cell = owner_row.locator(f'td[data-level="{level.value}"]')
        assert "icon-yes" in cell.locator("img").get_attribute("src"), level
    editor_row = page.locator('tr.effective-user[data-principal="editor"]')
    assert editor_row.locator(".effective-level").inner_text() == "EDIT"
    assert "team (risk)" in editor_row.locator('td[data-level="EDIT"]').inner_text()
    assert "icon-no" in editor_row.locator('td[data-level="MANAGE"] img').get_attribute("src")
    team_row = page.locator(f'tr.effective-group[data-principal="{team.name}"]')
    assert team_row.locator(".effective-level").inner_text() == "EDIT"


def test_reports_are_readable_json_and_fit_the_window(live_server, page, cast):
    with transaction.atomic():
        audit.record(
            actor=cast.admin,
            action=Action.ACCESS_GRANTED,
            target=cast.editor,
            before={"levels": []},
            after={"user": "editor", "level": "EDIT", "note": "x" * 300},
            reason="a long reason " * 20,
        )
    _sign_in(page, live_server.url, "admin", "admin-pw-123!")
    page.wait_for_selector("#quorum-links")
    page.click("#quorum-links >> text=Audit reports")
    page.wait_for_selector("text=Promotions and rejections per week")
    page.click("text=Access changes")
    page.wait_for_selector("#report")
    after = page.locator("#report tr.report-row pre.report-json").nth(1).inner_text()
    assert after.startswith("{\n  ") and '"level": "EDIT"' in after  # indented JSON, not a Python repr
    assert "'level'" not in page.inner_text("#report")
    # The page itself does not scroll sideways; a wide table scrolls inside its own box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
