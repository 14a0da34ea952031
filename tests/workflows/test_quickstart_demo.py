"""The quickstart demo: a newcomer signs in as a printed approver and approves the Production request."""

import io
import re

import pytest
from django.core.management import call_command

from registry.models import ModelVersion
from workflows.models import RequestState, TransitionRequest

# Transactional, as the quickstart runs: validation and the governed copy run (in-process) on commit.
pytestmark = pytest.mark.django_db(transaction=True)

APPROVER_LINE = re.compile(r"Created approver '(?P<user>[^']+)' with one-time password: (?P<password>\S+)")


def test_demo_approver_can_sign_in_and_approve_the_pending_production_request(client, settings, tmp_path):
    settings.QUORUM_ARTIFACT_ROOT = tmp_path
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(tmp_path)]  # not a scope test
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    out = io.StringIO()
    call_command("quickstart", "--no-serve", stdout=out)
    printed = {m["user"]: m["password"] for m in APPROVER_LINE.finditer(out.getvalue())}
    assert set(printed) == {"risk-approver", "ml-lead"}
    request = TransitionRequest.objects.get(version__model__name="fraud-detector", target="Production")
    assert request.state == RequestState.PENDING and request.approvals.count() == 1
    assert "Sign in as 'ml-lead' at /admin/approvals/" in out.getvalue()

    assert client.login(username="ml-lead", password=printed["ml-lead"])
    # First sign-in (issue 21): the printed password leads to the password change page only.
    held = client.get("/admin/approvals/")
    assert held.status_code == 302 and held["Location"] == "/admin/password_change/"
    own = "ml-lead-own-password-1!"
    changed = client.post(
        "/admin/password_change/",
        {"old_password": printed["ml-lead"], "new_password1": own, "new_password2": own},
    )
    assert changed.status_code == 302
    queue = client.get("/admin/approvals/").content.decode()
    assert f'data-request="{request.pk}"' in queue and "1 more approval (production rank)" in queue
    # Production's approvals are electronic signatures: a meaning, and the (own) password again.
    client.post(
        f"/admin/approvals/{request.pk}/decide",
        {
            "decision": "approve",
            "comment": "Looks right to me.",
            "meaning": "Approved for production",
            "password": own,
        },
    )
    request.refresh_from_db()
    assert request.state == RequestState.APPLIED
    lines = [s.line for s in request.signatures.all()]
    assert [line.split(" on ")[0] for line in lines] == [
        "Signed by Rosa Risk (risk-approver)",
        "Signed by Lee Lead (ml-lead)",
    ]
    assert ModelVersion.objects.get(pk=request.version_id).stage == "Production"
