"""Issue 19, attack 8: a request stuck in `applying` after a failed governed copy.

It could be neither cancelled nor rejected and blocked a new request for the same version and
target. A MANAGE holder can now fail or cancel it with a reason (audited); a retried copy applies it
when it is still applying; once ended, a new request may be filed.
"""

import pytest
from django.test import Client

from artifacts.models import ArtifactJob
from audit.models import Action, AuditEvent
from tests.fixtures_workflow import pipeline_run_queued, signature_of, version_from_local_artifacts

pytestmark = pytest.mark.django_db


@pytest.fixture
def stuck(governed, file_request, client_for, local_artifact_store):
    """Version 4 reached its quorum for Production; its governed copy failed (a source file vanished)."""
    folder = local_artifact_store / "scoring" / "4"
    version = version_from_local_artifacts(governed.editor, "scoring", folder)
    request = file_request(version.version)
    for approver in (governed.approver, governed.second_approver):
        client_for(approver).post(
            f"/api/v1/requests/{request.pk}/approve",
            {"comment": "ok", "signature": signature_of(approver)},
            format="json",
        )
    moved = folder / "MLmodel"
    kept = moved.read_bytes()
    moved.unlink()
    pipeline_run_queued()
    copy = ArtifactJob.objects.get(version=version, kind="copy")
    assert copy.status == "failed"
    request.refresh_from_db()
    assert request.state == "applying"
    return request, copy, lambda: moved.write_bytes(kept)


def test_an_applying_request_no_longer_blocks_once_a_manager_fails_it(stuck, governed, client_for):
    request, _, _ = stuck
    editor = client_for(governed.editor)
    body = {"version": 4, "stage": "Production", "reason": "again"}
    assert editor.post("/api/v1/models/scoring/requests", body, format="json").status_code == 400  # blocked
    # The requester (EDIT) cannot end it; approvers cannot reject it; a MANAGE holder can, with a reason.
    assert (
        editor.post(f"/api/v1/requests/{request.pk}/fail", {"comment": "x"}, format="json").status_code == 403
    )
    assert (
        editor.post(f"/api/v1/requests/{request.pk}/cancel", {"comment": "x"}, format="json").status_code
        == 403
    )
    owner = client_for(governed.owner)
    assert (
        owner.post(f"/api/v1/requests/{request.pk}/fail", {"comment": ""}, format="json").status_code == 400
    )
    r = owner.post(
        f"/api/v1/requests/{request.pk}/fail", {"comment": "source lost its MLmodel"}, format="json"
    )
    assert r.status_code == 200, r.content
    assert (r.json()["state"], r.json()["state_reason"]) == ("failed", "source lost its MLmodel")
    event = AuditEvent.objects.filter(action=Action.REQUEST_FAILED).latest("seq")
    assert (event.actor_username, event.reason) == ("owner", "source lost its MLmodel")
    assert editor.post("/api/v1/models/scoring/requests", body, format="json").status_code == 201


def test_a_manager_cancels_it_from_the_admin_request_page(stuck, governed):
    request, _, _ = stuck
    governed.owner.is_staff = True
    governed.owner.save()
    browser = Client()
    browser.force_login(governed.owner)
    page = browser.get(f"/admin/approvals/{request.pk}/")
    assert b'id="cancel-button"' in page.content and b'id="fail-button"' in page.content
    browser.post(
        f"/admin/approvals/{request.pk}/decide", {"decision": "cancel", "comment": "copy cannot succeed"}
    )
    request.refresh_from_db()
    assert (request.state, request.state_reason) == ("cancelled", "copy cannot succeed")
    event = AuditEvent.objects.filter(action=Action.REQUEST_CANCELLED).latest("seq")
    assert event.actor_username == "owner"


def test_a_retried_copy_picks_the_applying_request_up_again(stuck, governed, client_for):
    request, copy, restore = stuck
    restore()
    r = client_for(governed.owner).post(f"/api/v1/artifact-jobs/{copy.pk}/retry", {}, format="json")
    assert r.status_code in (200, 202), r.content
    pipeline_run_queued()
    request.refresh_from_db()
    assert request.state == "applied"
    r = client_for(governed.outsider).get("/api/v1/resolve", {"uri": "models:/scoring/Production"})
    assert r.json()["version"] == 4


def test_a_retried_copy_does_not_apply_a_request_that_was_failed(stuck, governed, client_for):
    request, copy, restore = stuck
    client_for(governed.owner).post(
        f"/api/v1/requests/{request.pk}/fail", {"comment": "give up"}, format="json"
    )
    restore()
    client_for(governed.owner).post(f"/api/v1/artifact-jobs/{copy.pk}/retry", {}, format="json")
    pipeline_run_queued()
    request.refresh_from_db()
    assert request.state == "failed"
    r = client_for(governed.outsider).get("/api/v1/resolve", {"uri": "models:/scoring/Production"})
    assert r.status_code == 404
