"""The admin's Legal holds page: the compliance role places and releases holds through the audited
services, in a real browser; others cannot, and a hold is never deleted."""

import os

import pytest
from django.test import Client

from audit.models import Action, AuditEvent
from retention.models import LegalHold
from tests.workflows.test_browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip


def staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.mark.django_db
def test_only_the_compliance_role_places_holds_in_the_admin_and_none_is_deleted(fraud, cast, compliance):
    owner = staff(cast.owner)
    assert owner.get("/admin/retention/legalhold/add/").status_code == 403
    officer = staff(compliance)
    assert officer.get("/admin/retention/legalhold/add/").status_code == 200
    missing_reason = officer.post(
        "/admin/retention/legalhold/add/", {"model_name": "fraud", "version_number": "1", "hold_reason": ""}
    )
    assert missing_reason.status_code == 200 and not LegalHold.objects.exists()
    placed = officer.post(
        "/admin/retention/legalhold/add/",
        {"model_name": "fraud", "version_number": "1", "hold_reason": "regulator letter"},
    )
    assert placed.status_code == 302, placed.content
    hold = LegalHold.objects.get()
    assert (hold.version.version, hold.reason, hold.placed_by) == (1, "regulator letter", compliance)
    assert AuditEvent.objects.filter(action=Action.LEGAL_HOLD_PLACED, actor_username="compliance").exists()
    # The owner (staff, MANAGE on the model) sees the hold but cannot release or delete it.
    assert owner.get(f"/admin/retention/legalhold/{hold.pk}/change/").status_code == 200
    owner.post(f"/admin/retention/legalhold/{hold.pk}/change/", {"release_reason_text": "mine"})
    assert LegalHold.objects.get().active
    for browser in (owner, officer):
        assert (
            browser.post(f"/admin/retention/legalhold/{hold.pk}/delete/", {"post": "yes"}).status_code == 403
        )
    assert LegalHold.objects.filter(pk=hold.pk).exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_compliance_officer_places_and_releases_a_hold_in_a_real_browser(
    live_server, fraud, cast, compliance, client_for, monkeypatch
):
    sync_playwright = browser_or_skip()
    compliance.is_staff = True
    compliance.save(update_fields=["is_staff"])
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/admin/login/?next=/admin/retention/legalhold/add/")
        page.fill("#id_username", "compliance")
        page.fill("#id_password", "compliance-pw-123!")
        page.click("input[type=submit]")
        page.wait_for_selector("#id_model_name")
        page.fill("#id_model_name", "fraud")
        page.fill("#id_version_number", "2")
        page.fill("#id_hold_reason", "litigation: case 2026-117")
        page.click("input[name=_save]")
        page.wait_for_selector("#result_list")
        assert "fraud" in page.inner_text("#result_list")
        hold = LegalHold.objects.get()
        assert client_for(cast.owner).delete("/api/v1/models/fraud/versions/2").status_code == 403

        page.goto(f"{live_server.url}/admin/retention/legalhold/{hold.pk}/change/")
        page.wait_for_selector("#id_release_reason_text")
        page.fill("#id_release_reason_text", "case settled")
        page.click("input[name=_save]")
        page.wait_for_selector("#result_list")
        if os.environ.get("QUORUM_UPDATE_SCREENSHOTS") == "1":
            page.screenshot(path="docs/screenshots/legal-holds.png", full_page=True)
        browser.close()
    hold.refresh_from_db()
    assert not hold.active and hold.release_reason == "case settled"
    assert client_for(cast.owner).delete("/api/v1/models/fraud/versions/2").status_code == 204
