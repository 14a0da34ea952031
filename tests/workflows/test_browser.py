"""A real browser (Debian's headless chromium via Playwright) approves a request in the admin.

Skips locally when chromium or playwright is missing; with CI=true that is a failure instead,
because .ci/run installs chromium.
"""

import os
import shutil
from pathlib import Path

import pytest

from registry.models import ModelVersion
from tests.fixtures_workflow import signing_of
from workflows import services as workflow_services
from workflows.models import RequestState, TransitionRequest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("QUORUM_CHROMIUM", "/usr/bin/chromium")
COMMITTED_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
]


def browser_or_skip():
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the 'playwright' Python package is not installed"
    if missing is None and not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing = f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if missing:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI is set but the browser test cannot run: {missing}")
        pytest.skip(missing)
    return sync_playwright


def promote(request_id: int, *approvers) -> None:
    for user in approvers:
        workflow_services.transition_request_approve(
            actor=user, request_id=request_id, comment="reviewed", signing=signing_of(user)
        )


def test_approver_signs_in_opens_queue_and_approves_in_a_real_browser(
    live_server, governed, file_request, monkeypatch, tmp_path
):
    sync_playwright = browser_or_skip()
    approver = governed.approver
    approver.is_staff = True
    approver.save(update_fields=["is_staff"])
    promote(
        file_request(1, stage="Production", reason="first model in production").pk,
        approver,
        governed.second_approver,
    )
    request = file_request(2, reason="v2 beats v1 on AUC (0.82 vs 0.81) on the March holdout")
    promote(request.pk, governed.second_approver)  # one of two approvals already in: ours completes it

    # Playwright's sync API runs an event loop in this thread; the ORM calls above and below are not
    # concurrent with it, and the live server answers from its own thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The committed screenshots are refreshed on request (QUORUM_UPDATE_SCREENSHOTS=1), so an
    # ordinary run leaves the work tree clean.
    updating = os.environ.get("QUORUM_UPDATE_SCREENSHOTS") == "1"
    SCREENSHOTS = COMMITTED_SCREENSHOTS if updating else tmp_path
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/admin/login/?next=/admin/approvals/")
        page.fill("#id_username", approver.username)
        page.fill("#id_password", f"{approver.username}-pw-123!")
        page.click("input[type=submit]")
        page.wait_for_selector(f'tr[data-request="{request.pk}"]')
        row = page.inner_text(f'tr[data-request="{request.pk}"]')
        assert "scoring" in row and "Production" in row and "second_approver" in row
        assert "1 more approval (production rank)" in row
        page.screenshot(path=str(SCREENSHOTS / "approval-queue.png"), full_page=True)

        page.click(f'tr[data-request="{request.pk}"] a')
        page.wait_for_selector("#approve-button")
        assert page.inner_text("#request-state") == "Pending"
        page.screenshot(path=str(SCREENSHOTS / "approval-request.png"), full_page=True)
        page.click("#approve-button")  # the comment is required: the browser refuses the empty form
        assert page.inner_text("#request-state") == "Pending"
        page.fill("#id_comment", "Backtest and calibration reviewed; approved.")
        page.click("#approve-button")  # no password: Production's approvals must be signed
        page.wait_for_selector("#request-state")
        assert "must be signed" in page.inner_text(".messagelist")
        assert page.inner_text("#request-state") == "Pending"
        page.fill("#id_comment", "Backtest and calibration reviewed; approved.")
        page.select_option("#id_meaning", "Independent validation")
        page.fill("#id_password", f"{approver.username}-pw-123!")
        page.click("#approve-button")
        page.wait_for_selector("#request-state")
        assert page.inner_text("#request-state") == "Applied"
        signatures = page.inner_text("#signatures")
        assert "Signed by Approver Tester (approver) on " in signatures
        assert " UTC: Independent validation" in signatures
        assert page.query_selector("#approve-button") is None
        assert "Applied Transition" in page.inner_text("#timeline")
        page.screenshot(path=str(SCREENSHOTS / "approval-applied.png"), full_page=True)
        browser.close()

    request.refresh_from_db()
    assert request.state == RequestState.APPLIED
    assert ModelVersion.objects.get(pk=request.version_id).stage == "Production"
    assert (
        TransitionRequest.objects.get(pk=request.pk)
        .approvals.get(approver=approver)
        .comment.startswith("Backtest")
    )
