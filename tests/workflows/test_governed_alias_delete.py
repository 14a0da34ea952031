"""Taking a governed alias away (e.g. @champion) needs an approved removal request, through every API.

Issue 19, attack 4: this file used to assert that a MANAGE holder could delete @champion directly
(test_a_manager_may_delete_it_and_it_is_audited); that was the hole. Now nobody deletes it directly.
"""

import pytest

from audit.models import Action, AuditEvent
from registry import services
from registry.models import ModelAlias, ModelVersion
from tests.fixtures_mlflow import basic_header
from tests.fixtures_workflow import signature_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture
def champion(governed):
    # Setup only: point champion at v2 the way an applied request does (under the model lock).
    model = governed.model
    services.alias_apply(
        actor=governed.owner,
        model=model,
        alias="champion",
        row=ModelVersion.objects.get(model=model, version=2),
    )
    return governed


def test_an_editor_cannot_delete_the_governed_champion_alias(champion, client_for):
    response = client_for(champion.editor).delete("/api/v1/models/scoring/aliases/champion")
    assert response.status_code == 403
    assert "/api/v1/models/scoring/requests" in response.json()["message"]
    response = client_for(champion.editor).delete(
        "/api/2.0/mlflow/registered-models/alias",
        {"name": "scoring", "alias": "champion"},
        format="json",
        HTTP_AUTHORIZATION=basic_header("editor", "editor-pw-123!"),
    )
    assert response.status_code == 403 and response.json()["error_code"] == "PERMISSION_DENIED"
    assert ModelAlias.objects.filter(model=champion.model, alias="champion").exists()
    assert not AuditEvent.objects.filter(action=Action.ALIAS_DELETED).exists()


def test_a_manager_cannot_delete_it_either_but_an_approved_removal_request_does(champion, client_for):
    assert client_for(champion.owner).delete("/api/v1/models/scoring/aliases/champion").status_code == 403
    assert ModelAlias.objects.filter(model=champion.model, alias="champion").exists()
    r = client_for(champion.owner).post(
        "/api/v1/models/scoring/requests",
        {"version": 2, "alias": "champion", "remove": True, "reason": "retire"},
        format="json",
    )
    assert r.status_code == 201, r.content
    for approver in (champion.approver, champion.second_approver):
        client_for(approver).post(
            f"/api/v1/requests/{r.json()['id']}/approve",
            {"comment": "ok", "signature": signature_of(approver)},
            format="json",
        )
    assert not ModelAlias.objects.filter(model=champion.model, alias="champion").exists()
    event = AuditEvent.objects.get(action=Action.ALIAS_DELETED)
    assert (event.actor_username, event.before) == ("system", {"alias": "champion", "version": 2})


def test_an_editor_still_deletes_ungoverned_aliases(champion, client_for):
    services.alias_set(actor=champion.editor, name="scoring", alias="candidate", version=3)
    assert client_for(champion.editor).delete("/api/v1/models/scoring/aliases/candidate").status_code == 204
