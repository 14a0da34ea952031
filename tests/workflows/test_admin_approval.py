"""The approval pages in the Django admin, through the admin's own session login."""

import pytest

from audit.models import Action, AuditEvent
from registry.models import ModelVersion
from tests.fixtures_workflow import password_of, signature_of
from workflows.models import RequestState

pytestmark = pytest.mark.django_db


def staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def approver_client(client, governed):
    client.force_login(staff(governed.approver))
    return client


def test_queue_lists_what_the_approver_may_act_on(approver_client, governed, file_request):
    production = file_request(2, reason="beats v1 on AUC")
    own = file_request(3, stage="Staging", by=governed.approver)  # their own: not in their queue
    r = approver_client.get("/admin/approvals/")
    assert r.status_code == 200
    html = r.content.decode()
    queue = html.split('id="queue"')[1].split("</table>")[0]
    assert f'data-request="{production.pk}"' in queue and f'data-request="{own.pk}"' not in queue
    for text in (
        "scoring",
        "v2",
        "Production",
        "editor",
        "beats v1 on AUC",
        "2 more approvals (production rank)",
    ):
        assert text in queue


def test_request_page_shows_evidence_comparison_and_buttons(
    approver_client, governed, file_request, client_for
):
    holder = file_request(1, stage="Production")
    for user in (governed.approver, governed.second_approver):
        client_for(user).post(
            f"/api/v1/requests/{holder.pk}/approve",
            {"comment": "ok", "signature": signature_of(user)},
            format="json",
        )
    request = file_request(2)
    html = approver_client.get(f"/admin/approvals/{request.pk}/").content.decode()
    comparison = html.split('id="comparison"')[1].split("</table>")[0]
    assert "Requested: v2" in comparison and "Current holder: v1" in comparison
    assert "metric.auc" in comparison and "0.82" in comparison and "0.81" in comparison
    assert "/scoring/2</code>" in comparison  # the requested version's source
    assert 'id="approve-button"' in html and 'id="reject-button"' in html
    assert "Validated: yes" in html.split('id="evidence"')[1]
    assert "Requested Transition" in html.split('id="timeline"')[1]


def test_buttons_are_absent_for_people_who_may_not_act(client, governed, file_request):
    request = file_request(2)
    client.force_login(staff(governed.outsider))
    html = client.get(f"/admin/approvals/{request.pk}/").content.decode()
    assert 'id="approve-button"' not in html and 'id="reject-button"' not in html
    assert "APPROVE_PRODUCTION" in html
    # the server checks again: a forged POST changes nothing
    r = client.post(f"/admin/approvals/{request.pk}/decide", {"decision": "approve", "comment": "sneaky"})
    assert r.status_code == 302
    request.refresh_from_db()
    assert request.state == RequestState.PENDING and not request.approvals.exists()


def test_approve_needs_a_comment_then_records_it(approver_client, governed, file_request):
    request = file_request(2)
    approver_client.post(f"/admin/approvals/{request.pk}/decide", {"decision": "approve", "comment": " "})
    assert not request.approvals.exists()
    r = approver_client.post(
        f"/admin/approvals/{request.pk}/decide",
        {"decision": "approve", "comment": "checked the backtest"},
        follow=True,
    )
    assert "must be signed" in r.content.decode()  # Production's policy requires a signature
    assert not request.approvals.exists()
    r = approver_client.post(
        f"/admin/approvals/{request.pk}/decide",
        {
            "decision": "approve",
            "comment": "checked the backtest",
            "meaning": "Approved for production",
            "password": password_of(governed.approver),
        },
        follow=True,
    )
    assert "is now pending" in r.content.decode()
    assert request.approvals.get().signature.meaning == "Approved for production"
    assert request.approvals.get().comment == "checked the backtest"
    event = AuditEvent.objects.get(action=Action.REQUEST_APPROVED)
    assert (event.actor_username, event.reason) == ("approver", "checked the backtest")


def test_reject_from_the_admin_ends_the_request(approver_client, governed, file_request):
    request = file_request(2)
    approver_client.post(
        f"/admin/approvals/{request.pk}/decide",
        {"decision": "reject", "comment": "drift", "password": password_of(governed.approver)},
    )
    request.refresh_from_db()
    assert request.state == RequestState.REJECTED
    assert ModelVersion.objects.get(pk=request.version_id).stage == "None"


def test_anonymous_and_hidden_requests(client, governed, file_request, cast):
    request = file_request(2)
    r = client.get("/admin/approvals/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    from tests.conftest import make_user

    client.force_login(staff(make_user("stranger")))
    assert client.get(f"/admin/approvals/{request.pk}/").status_code == 404
    assert 'id="queue-empty"' in client.get("/admin/approvals/").content.decode()


def test_out_of_range_ids_on_admin_pages_are_404(approver_client):
    assert approver_client.get("/admin/approvals/99999999999999999999/").status_code == 404
    r = approver_client.post(
        "/admin/approvals/99999999999999999999/decide", {"decision": "approve", "comment": "x"}
    )
    assert r.status_code == 404
