"""Issue 19, attack 1 (a confused deputy on sources): a model registers only from where it may.

Two teams share Quorum: 'risk' (cast.owner, model 'fraud') and 'growth' (cast.outsider, model
'scoring'). Each team's folder sits under one shared local root, and the governed store is local.
The owner of 'fraud' tries to register sources that belong to 'growth' or to Quorum itself; each is a
400 in the format of the API it came through, and no version is written.
"""

import json

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from artifacts import services as artifact_services
from artifacts.models import SourcePrefix
from audit.models import Action, AuditEvent
from registry.errors import PermissionDenied
from registry.models import ModelVersion
from tests.artifacts.helpers import model_files, write_tree

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_in_process")]

NATIVE = "/api/v1"


@pytest.fixture
def teams(cast, client_for, tmp_path, settings, django_capture_on_commit_callbacks):
    """Both teams' folders under one shared root; 'scoring' v1 validated and copied to the governed store."""
    shared = tmp_path / "shared"
    risk = write_tree(shared / "risk" / "fraud-model", model_files())
    growth = write_tree(shared / "growth" / "scoring-model", model_files())
    write_tree(shared / "growth-private" / "notes", {"MLmodel": b"flavors: {x: {}}\n", "secret.txt": b"s"})
    governed = tmp_path / "governed"
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [shared]
    settings.QUORUM_GOVERNED_STORE = f"file://{governed}"
    owner, outsider = client_for(cast.owner), client_for(cast.outsider)
    assert owner.post(f"{NATIVE}/models", {"name": "fraud"}, format="json").status_code == 201
    assert outsider.post(f"{NATIVE}/models", {"name": "scoring"}, format="json").status_code == 201
    for api, name, folder in ((owner, "fraud", shared / "risk"), (outsider, "scoring", shared / "growth")):
        answer = api.post(f"{NATIVE}/models/{name}/source-prefixes", {"prefix": str(folder)}, format="json")
        assert answer.status_code == 201, answer.content
    with django_capture_on_commit_callbacks(execute=True):
        answer = outsider.post(f"{NATIVE}/models/scoring/versions", {"source": str(growth)}, format="json")
    assert answer.status_code == 201, answer.content
    with django_capture_on_commit_callbacks(execute=True):
        assert outsider.post(f"{NATIVE}/models/scoring/versions/1/governed-copy").status_code == 202
    assert ModelVersion.objects.get(model__name="scoring").storage_location == f"file://{governed}/scoring/1"
    return {"shared": shared, "risk": risk, "growth": growth, "governed": governed, "owner": owner}


def _attacks(teams) -> dict[str, str]:
    shared, governed = teams["shared"], teams["governed"]
    return {
        "another team's registered folder": str(teams["growth"]),
        "a file inside it": f"file://{teams['growth']}",
        "a sibling folder under the shared root": str(shared / "growth-private" / "notes"),
        "the shared root": str(shared),
        "another model's governed copy": f"file://{governed}/scoring/1",
        "the governed store's root": str(governed),
    }


def test_a_model_cannot_register_another_teams_or_quorums_locations_natively(teams):
    owner = teams["owner"]
    for what, source in _attacks(teams).items():
        answer = owner.post(f"{NATIVE}/models/fraud/versions", {"source": source}, format="json")
        assert answer.status_code == 400, (what, answer.content)
        body = answer.json()
        assert body["error_code"] == "INVALID_PARAMETER_VALUE" and body["field"] == "source", body
        # The refusal names what the caller sent, never where anything else lives.
        assert str(teams["growth"]) not in body["message"].replace(source, ""), (what, body)
    assert not ModelVersion.objects.filter(model__name="fraud").exists()
    # Its own team's folder still registers.
    answer = owner.post(f"{NATIVE}/models/fraud/versions", {"source": str(teams["risk"])}, format="json")
    assert answer.status_code == 201, answer.content


def test_a_model_cannot_register_another_teams_locations_over_mlflow_rest(teams, cast, mlflow_as):
    caller = mlflow_as(cast.owner)
    for what, source in _attacks(teams).items():
        answer = caller.post("model-versions/create", {"name": "fraud", "source": source})
        assert answer.status_code == 400, (what, answer.content)
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", answer.json()
    assert not ModelVersion.objects.filter(model__name="fraud").exists()


def test_the_real_mlflow_client_is_refused_another_teams_folder(teams, live_server, mlflow_env):
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url,
        MLFLOW_REGISTRY_URI=live_server.url,
        MLFLOW_TRACKING_USERNAME="owner",
        MLFLOW_TRACKING_PASSWORD="owner-pw-123!",
    )
    client = MlflowClient()
    for source in (str(teams["growth"]), f"file://{teams['governed']}/scoring/1"):
        with pytest.raises(MlflowException) as refused:
            client.create_model_version("fraud", source=source, run_id="")
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    version = client.create_model_version("fraud", source=str(teams["risk"]))
    assert version.status == "READY"


def test_allow_listing_needs_manage_and_never_reaches_others_or_the_governed_store(
    teams, cast, client_for, grant
):
    from access.grants import Level
    from registry.models import RegisteredModel

    owner, shared, governed = teams["owner"], teams["shared"], teams["governed"]
    for prefix in (str(shared / "growth"), str(shared), str(governed), f"file://{governed}/scoring"):
        answer = owner.post(f"{NATIVE}/models/fraud/source-prefixes", {"prefix": prefix}, format="json")
        assert answer.status_code == 400, (prefix, answer.content)
    fraud = RegisteredModel.objects.get(name="fraud")
    editor = grant(grant(cast.editor, Level.READ, fraud), Level.EDIT, fraud)
    answer = client_for(editor).post(
        f"{NATIVE}/models/fraud/source-prefixes", {"prefix": str(shared / "risk2")}, format="json"
    )
    assert answer.status_code == 403, answer.content
    assert client_for(cast.outsider).get(f"{NATIVE}/models/fraud/source-prefixes").status_code == 404
    listed = owner.get(f"{NATIVE}/models/fraud/source-prefixes").json()
    assert [row["prefix"] for row in listed] == [str(shared / "risk")]
    # Every change is audited; removing one closes the folder again.
    added = AuditEvent.objects.filter(action=Action.POLICY_CHANGED, model_name="fraud").get()
    assert added.after["source_prefix"] == str(shared / "risk") and added.actor_username == "owner"
    assert owner.delete(f"{NATIVE}/models/fraud/source-prefixes/{listed[0]['id']}").status_code == 204
    assert AuditEvent.objects.filter(action=Action.POLICY_CHANGED, model_name="fraud").count() == 2
    answer = owner.post(f"{NATIVE}/models/fraud/versions", {"source": str(teams["risk"])}, format="json")
    assert answer.status_code == 400, answer.content


def test_a_teams_prefix_serves_its_members_only(teams, cast, client_for, settings):
    from accounts import services as accounts

    shared = teams["shared"]
    accounts.team_create(actor=accounts.OPERATOR, name="growth-team")
    accounts.team_member_add(actor=accounts.OPERATOR, team_name="growth-team", username="outsider")
    artifact_services.team_source_prefix_add(
        actor=cast.admin, team_name="growth-team", prefix=str(shared / "growth-private")
    )
    with pytest.raises(PermissionDenied):
        artifact_services.team_source_prefix_add(actor=cast.owner, team_name="growth-team", prefix="s3://x/")
    # The owner of 'fraud' grants the team on their model: still not a member, still refused.
    for level in ("READ", "EDIT"):
        accounts.grant_add(
            actor=cast.owner,
            model_name="fraud",
            principal=accounts.Principal("team", "growth-team"),
            level=level,
        )
    source = str(shared / "growth-private" / "notes")
    owner = teams["owner"]
    assert owner.post(f"{NATIVE}/models/fraud/versions", {"source": source}, format="json").status_code == 400
    # A member registering into a model the team holds a grant on may.
    outsider = client_for(cast.outsider)
    answer = outsider.post(f"{NATIVE}/models/fraud/versions", {"source": source}, format="json")
    assert answer.status_code == 201, answer.content
    assert SourcePrefix.objects.filter(team__group__name="growth-team").count() == 1


def test_object_store_sources_outside_the_scope_are_refused(cast, client_for, settings):
    settings.QUORUM_GOVERNED_STORE = "s3://quorum-governed/"
    api = client_for(cast.owner)
    assert api.post(f"{NATIVE}/models", {"name": "fraud"}, format="json").status_code == 201
    assert (
        api.post(
            f"{NATIVE}/models/fraud/source-prefixes", {"prefix": "s3://risk-team/models/"}, format="json"
        ).status_code
        == 201
    )
    for source in (
        "s3://quorum-governed/",
        "s3://quorum-governed/scoring/1",
        "s3a://quorum-governed/scoring/1",
        "s3://growth-team/models/scoring",
        "s3://risk-team/models-evil/x",  # a string prefix, not a folder below the allowed one
        "gs://growth-team/m",
    ):
        answer = api.post(f"{NATIVE}/models/fraud/versions", {"source": source}, format="json")
        assert answer.status_code == 400, (source, answer.content)
    answer = api.post(
        f"{NATIVE}/models/fraud/versions", {"source": "s3://risk-team/models/fraud/1"}, format="json"
    )
    assert answer.status_code == 201, answer.content
    assert "quorum-governed" not in json.dumps(
        api.post(
            f"{NATIVE}/models/fraud/source-prefixes", {"prefix": "s3://quorum-governed/x"}, format="json"
        ).json()
    ).replace("s3://quorum-governed/x", "")
