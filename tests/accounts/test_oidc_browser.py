"""In Chromium: a person signs in to the admin through the real test provider and lands in the mapped team.

Skips locally without chromium or playwright, fails with CI=true (see tests/workflows/test_browser.py).
"""

import pytest

from accounts.models import ExternalIdentity, Team, User
from audit.models import Action, AuditEvent
from tests.workflows.test_browser import CHROMIUM, CHROMIUM_ARGS, browser_or_skip

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_sign_in_through_the_provider_in_a_real_browser_maps_teams(
    live_server, oidc_on, monkeypatch, tmp_path
) -> None:
    sync_playwright = browser_or_skip()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.set_default_timeout(60_000)
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.click("#oidc-sign-in")
        page.wait_for_selector("#idp-sign-in")  # the provider's own sign-in form
        assert page.url.startswith(oidc_on.url)
        page.fill("#id_username", "alice")
        page.fill("#id_password", "alice-idp-pw-1")
        page.click("#idp-sign-in")
        page.wait_for_url(f"{live_server.url}/admin/")
        assert "welcome, alice" in page.inner_text("#user-tools").lower()
        page.screenshot(path=str(tmp_path / "oidc-admin.png"), full_page=True)
        # The API docs: the provider remembers alice, so the round trip needs no form.
        page.goto(f"{live_server.url}/oidc/authenticate/?next=/api/docs/")
        page.wait_for_url(f"{live_server.url}/api/docs/")
        page.wait_for_selector(".swagger-ui")
        browser.close()

    alice = User.objects.get(username="alice")
    assert ExternalIdentity.objects.get(user=alice).subject == oidc_on.subjects["alice"]
    assert set(alice.groups.values_list("name", flat=True)) == {"ml-platform"}  # 'staff' maps to nothing
    assert Team.objects.filter(group__name="ml-platform").exists()
    logins = AuditEvent.objects.filter(action=Action.LOGIN, actor_username="alice")
    assert logins.exists() and {e.after["backend"] for e in logins} == {"accounts.oidc.QuorumOIDCBackend"}
    joined = AuditEvent.objects.get(action=Action.TEAM_CHANGED, after__member_added="alice")
    assert joined.after["provider_groups"] == ["ml-eng"]
