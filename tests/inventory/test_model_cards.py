"""Model cards through the native API: Draft -> Submitted -> Approved by a non-author, bound to the
artifact digest; an edit returns it to Draft; a policy can require an approved card."""

import pytest

from access.grants import Level
from artifacts.models import ArtifactManifest
from audit.models import Action, AuditEvent
from inventory.models import ModelCard
from tests.fixtures_workflow import grant_levels, signing_of
from workflows import services as workflow_services

pytestmark = pytest.mark.django_db

CARD = "/api/v1/models/scoring/versions/2/card"
SECTIONS = {
    "intended_use": "Retail credit pre-screening",
    "out_of_scope_uses": "Employment decisions",
    "training_data": "2019-2024 applications",
    "evaluation": "AUC 0.82 on the March holdout",
    "limitations": "Thin-file applicants",
    "ethical_considerations": "Disparate impact reviewed quarterly",
    "caveats": "Recalibrate after rate changes",
}


def write(client_for, user, body=None):
    return client_for(user).patch(CARD, body or SECTIONS, format="json")


def submit(client_for, user):
    return client_for(user).post(CARD + "/submit")


def approve(client_for, user):
    return client_for(user).post(CARD + "/approve")


def card_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.MODEL_CARD_CHANGED).order_by("seq"))


def test_card_is_written_submitted_and_approved_bound_to_the_digest(governed, client_for):
    r = write(client_for, governed.editor)
    assert r.status_code == 200, r.content
    assert (r.json()["state"], r.json()["author"]) == ("draft", "editor")
    assert submit(client_for, governed.editor).json()["state"] == "submitted"
    r = approve(client_for, governed.approver)
    assert r.status_code == 200, r.content
    digest = ArtifactManifest.objects.get(version__model__name="scoring", version__version=2).digest
    assert (r.json()["state"], r.json()["approved_by"], r.json()["approved_digest"]) == (
        "approved",
        "approver",
        digest,
    )
    assert [e.after["state"] for e in card_events()] == ["draft", "submitted", "approved"]
    assert client_for(governed.outsider).get(CARD).json()["state"] == "approved"


def test_the_author_or_a_co_author_may_not_approve(governed, client_for):
    author = grant_levels(governed.editor, governed.model, Level.APPROVE_PRODUCTION)
    co_author = grant_levels(governed.approver, governed.model, Level.EDIT)
    write(client_for, author)
    assert write(client_for, co_author, {"caveats": "also this"}).status_code == 200
    submit(client_for, author)
    for user in (author, co_author):
        r = approve(client_for, user)
        assert r.status_code == 403, r.content
    assert ModelCard.objects.get().state == "submitted"
    assert approve(client_for, governed.second_approver).status_code == 200


def test_only_a_submitted_card_is_approved_and_only_by_an_approver(governed, client_for):
    write(client_for, governed.editor)
    assert approve(client_for, governed.approver).status_code == 409  # still a draft
    submit(client_for, governed.editor)
    assert approve(client_for, governed.outsider).status_code == 403  # READ only
    assert submit(client_for, governed.editor).status_code == 409  # already submitted
    assert ModelCard.objects.get().state == "submitted"


def test_any_edit_after_approval_returns_the_card_to_draft(governed, client_for):
    write(client_for, governed.editor)
    submit(client_for, governed.editor)
    approve(client_for, governed.approver)
    r = write(client_for, governed.editor, {"limitations": "also: new geography"})
    assert r.status_code == 200
    assert (r.json()["state"], r.json()["approved_by"], r.json()["approved_digest"]) == ("draft", None, "")
    assert card_events()[-1].reason.startswith("edited while approved")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"purpose": "x"}, "purpose"), ({"caveats": 3}, "caveats"), ({"caveats": "x" * 50_001}, "caveats")],
)
def test_bad_sections_are_a_400(governed, client_for, body, field):
    r = write(client_for, governed.editor, body)
    assert r.status_code == 400 and r.json()["field"] == field
    assert not ModelCard.objects.exists()


def test_readers_cannot_write_and_strangers_cannot_see(governed, client_for, cast):
    assert write(client_for, governed.outsider).status_code == 403
    from tests.conftest import make_user

    assert client_for(make_user("stranger")).get(CARD).status_code == 404
    assert client_for(governed.editor).get(CARD).status_code == 404  # no card yet


def test_policy_requiring_an_approved_card_holds_the_promotion(governed, file_request, client_for):
    workflow_services.promotion_policy_set(
        actor=governed.owner,
        name="scoring",
        target_kind="stage",
        target="Production",
        require_approved_card=True,
        require_signature=True,  # the organisation's floor for Production asks for signatures
    )

    def promote() -> str:
        request = file_request(2, stage="Production")
        for approver in (governed.approver, governed.second_approver):
            workflow_services.transition_request_approve(
                actor=approver, request_id=request.pk, comment="ok", signing=signing_of(approver)
            )
        request.refresh_from_db()
        if request.state == "pending":
            workflow_services.transition_request_cancel(
                actor=governed.editor, request_id=request.pk, comment="x"
            )
        return request.state

    write(client_for, governed.editor)
    submit(client_for, governed.editor)
    assert promote() == "pending"  # submitted is not approved
    approve(client_for, governed.approver)
    # The card was approved for other bytes: it does not count for these.
    ModelCard.objects.update(approved_digest="0" * 64)
    assert promote() == "pending"
    ModelCard.objects.update(
        approved_digest=ArtifactManifest.objects.get(
            version__model__name="scoring", version__version=2
        ).digest
    )
    assert promote() == "applied"
