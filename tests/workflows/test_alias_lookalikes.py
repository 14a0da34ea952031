"""Issue 19, attack 6: look-alikes of a governed alias are refused, so a typo never serves a version.

Decision: `Champion`, `CHAMPION`, `champion_`, `-champion` (same NFKC case-folded name without
leading or trailing separators) are refused, not treated as @champion; non-ASCII look-alikes
(Cyrillic 'с', fullwidth letters) are refused as alias names.
"""

import json

import pytest
from django.test import Client

from audit.models import Action, AuditEvent
from registry.models import ModelAlias
from tests.fixtures_mlflow import basic_header

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

LOOKALIKES = ["Champion", "CHAMPION", "champion_", "-champion", "Champion-", "cHaMpIoN__"]


@pytest.mark.parametrize("alias", LOOKALIKES)
def test_lookalikes_of_champion_are_refused_through_every_api(governed, client_for, alias):
    r = client_for(governed.editor).put(
        f"/api/v1/models/scoring/aliases/{alias}", {"version": 3}, format="json"
    )
    assert r.status_code == 403, r.content
    assert "looks like the governed alias 'champion'" in r.json()["message"]
    r = Client().post(
        "/api/2.0/mlflow/registered-models/alias",
        json.dumps({"name": "scoring", "alias": alias, "version": "3"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_header("owner", "owner-pw-123!"),
    )
    assert (r.status_code, r.json()["error_code"]) == (403, "PERMISSION_DENIED")
    assert not ModelAlias.objects.filter(model=governed.model).exists()
    r = client_for(governed.outsider).get("/api/v1/resolve", {"uri": f"models:/scoring@{alias}"})
    assert r.status_code == 404
    assert not AuditEvent.objects.filter(action=Action.ALIAS_SET).exists()


@pytest.mark.parametrize("alias", ["\u0441hampion", "\uff43hampion", "champ\u0456on"])
def test_non_ascii_lookalikes_are_refused_as_names(governed, client_for, alias):
    r = client_for(governed.owner).put(
        f"/api/v1/models/scoring/aliases/{alias}", {"version": 3}, format="json"
    )
    assert r.status_code == 400, r.content
    assert not ModelAlias.objects.filter(model=governed.model).exists()


def test_a_lookalike_cannot_be_requested_either(governed, client_for):
    r = client_for(governed.editor).post(
        "/api/v1/models/scoring/requests",
        {"version": 3, "alias": "Champion", "reason": "typo"},
        format="json",
    )
    assert r.status_code == 400 and "reserved" in r.json()["message"]


def test_other_names_and_lookalikes_of_organisation_governed_aliases(governed, client_for, cast):
    editor = client_for(governed.editor)
    for alias in ("champions", "champion2", "challenger"):
        assert (
            editor.put(f"/api/v1/models/scoring/aliases/{alias}", {"version": 3}, format="json").status_code
            == 200
        )
    body = {"required_approvals": 2}
    assert client_for(cast.admin).put("/api/v1/policies/alias/prod", body, format="json").status_code == 200
    assert editor.put("/api/v1/models/scoring/aliases/PROD", {"version": 3}, format="json").status_code == 403
