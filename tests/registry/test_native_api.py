"""The native REST API (/api/v1/) through HTTP: happy paths, permissions, filters, paging and bad input."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.grants import Level
from audit.models import Action, AuditEvent
from registry import services
from registry.models import AliasAssignment, ModelAlias, ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db


def _error(response, status: int, error_code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error_code"] == error_code, body
    assert body["message"]
    return body


# --- authentication and visibility ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/models"),
        ("post", "/api/v1/models"),
        ("get", "/api/v1/models/fraud"),
        ("get", "/api/v1/versions"),
        ("get", "/api/v1/resolve?uri=models:/fraud/1"),
        ("put", "/api/v1/models/fraud/aliases/champion"),
    ],
)
def test_anonymous_callers_get_401_with_a_challenge(fraud, client_for, method, url):
    response = getattr(client_for(None), method)(url, {}, format="json")
    _error(response, 401, "UNAUTHENTICATED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_model_hidden_from_outsider_is_indistinguishable_from_missing(fraud, cast, client_for):
    api = client_for(cast.outsider)
    hidden = _error(api.get("/api/v1/models/fraud"), 404, "RESOURCE_DOES_NOT_EXIST")
    missing = _error(api.get("/api/v1/models/no-such-model"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert hidden["message"].replace("fraud", "X") == missing["message"].replace("no-such-model", "X")
    assert api.get("/api/v1/models").json()["count"] == 0
    assert api.get("/api/v1/versions").json()["count"] == 0
    _error(
        api.patch("/api/v1/models/fraud", {"description": "x"}, format="json"), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    _error(api.get("/api/v1/resolve", {"uri": "models:/fraud/1"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert RegisteredModel.objects.get(name="fraud").description == "detects fraud"


def test_reader_can_read_but_gets_403_naming_the_missing_permission(fraud, cast, client_for, grant):
    reader = grant(cast.editor, Level.READ, fraud)
    api = client_for(reader)
    assert api.get("/api/v1/models/fraud").status_code == 200
    body = _error(
        api.patch("/api/v1/models/fraud", {"description": "x"}, format="json"), 403, "PERMISSION_DENIED"
    )
    assert "EDIT" in body["message"]
    _error(
        api.post("/api/v1/models/fraud/versions", {"source": "s3://b/x"}, format="json"),
        403,
        "PERMISSION_DENIED",
    )
    assert ModelVersion.objects.filter(model=fraud).count() == 3


def test_editor_adds_versions_but_deleting_needs_manage(fraud, cast, client_for, grant):
    editor = grant(grant(cast.editor, Level.READ, fraud), Level.EDIT, fraud)
    api = client_for(editor)
    response = api.post("/api/v1/models/fraud/versions", {"source": "s3://bucket/fraud/4"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 4
    assert response.json()["creator"] == "editor"
    body = _error(api.delete("/api/v1/models/fraud/versions/4"), 403, "PERMISSION_DENIED")
    assert "MANAGE" in body["message"]
    assert ModelVersion.objects.filter(model=fraud, version=4).exists()


# --- registered models ------------------------------------------------------------------------


def test_create_model_returns_it_and_records_the_audit_event(cast, client_for):
    api = client_for(cast.owner)
    response = api.post(
        "/api/v1/models",
        {"name": "churn", "description": "who leaves", "tags": [{"key": "team", "value": "growth"}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "churn"
    assert body["description"] == "who leaves"
    assert body["tags"] == [{"key": "team", "value": "growth"}]
    assert body["aliases"] == []
    assert body["creator"] == "owner"
    event = AuditEvent.objects.get(action=Action.MODEL_CREATED, model_name="churn")
    assert event.actor_username == "owner"
    assert event.after["tags"] == {"team": "growth"}


def test_creating_an_existing_name_is_refused_like_mlflow(fraud, cast, client_for):
    _error(
        client_for(cast.owner).post("/api/v1/models", {"name": "fraud"}, format="json"),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )


def test_creating_models_needs_the_global_add_permission(cast, client_for):
    _error(
        client_for(cast.editor).post("/api/v1/models", {"name": "x"}, format="json"), 403, "PERMISSION_DENIED"
    )
    assert not RegisteredModel.objects.filter(name="x").exists()


def test_patch_description_rename_and_delete(fraud, cast, client_for):
    api = client_for(cast.owner)
    response = api.patch("/api/v1/models/fraud", {"description": "new words"}, format="json")
    assert response.status_code == 200 and response.json()["description"] == "new words"

    response = api.post("/api/v1/models/fraud/rename", {"new_name": "fraud-v2"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "fraud-v2"
    _error(api.get("/api/v1/models/fraud"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert api.get("/api/v1/models/fraud-v2/versions/3").json()["name"] == "fraud-v2"

    assert api.delete("/api/v1/models/fraud-v2").status_code == 204
    assert not RegisteredModel.objects.exists()
    assert not ModelVersion.objects.exists()
    assert AuditEvent.objects.filter(action=Action.MODEL_DELETED, model_name="fraud-v2").count() == 1


def test_rename_onto_an_existing_name_is_refused(fraud, cast, client_for):
    services.registered_model_create(actor=cast.owner, name="other")
    api = client_for(cast.owner)
    _error(
        api.post("/api/v1/models/fraud/rename", {"new_name": "other"}, format="json"),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )


def test_model_tags_set_overwrite_and_delete(fraud, cast, client_for):
    api = client_for(cast.owner)
    response = api.post("/api/v1/models/fraud/tags", {"key": "team", "value": "fin-crime"}, format="json")
    assert response.status_code == 200 and response.json() == {"key": "team", "value": "fin-crime"}
    assert api.get("/api/v1/models/fraud").json()["tags"] == [{"key": "team", "value": "fin-crime"}]
    assert api.delete("/api/v1/models/fraud/tags/team").status_code == 204
    assert api.get("/api/v1/models/fraud").json()["tags"] == []
    _error(api.delete("/api/v1/models/fraud/tags/team"), 404, "RESOURCE_DOES_NOT_EXIST")


# --- versions, stages, aliases ----------------------------------------------------------------


def test_version_create_get_patch_and_tags(fraud, cast, client_for):
    api = client_for(cast.owner)
    response = api.post(
        "/api/v1/models/fraud/versions",
        {
            "source": "s3://bucket/fraud/4",
            "run_id": "abc123",
            "description": "retrained",
            "tags": [{"key": "auc", "value": "0.91"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["version"], body["source"], body["run_id"], body["stage"]) == (
        4,
        "s3://bucket/fraud/4",
        "abc123",
        "None",
    )
    assert body["status"] in {"PENDING_REGISTRATION", "READY"}  # READY once the artifacts are validated
    assert body["tags"] == [{"key": "auc", "value": "0.91"}]
    assert (
        api.patch("/api/v1/models/fraud/versions/4", {"description": "d2"}, format="json").json()[
            "description"
        ]
        == "d2"
    )
    assert (
        api.post(
            "/api/v1/models/fraud/versions/4/tags", {"key": "k", "value": "v"}, format="json"
        ).status_code
        == 200
    )
    tags = api.get("/api/v1/models/fraud/versions/4").json()["tags"]
    assert tags == [{"key": "auc", "value": "0.91"}, {"key": "k", "value": "v"}]
    assert api.delete("/api/v1/models/fraud/versions/4/tags/auc").status_code == 204
    assert api.get("/api/v1/models/fraud/versions/4").json()["tags"] == [{"key": "k", "value": "v"}]
    _error(api.get("/api/v1/models/fraud/versions/99"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_stage_transition_archives_existing_versions_only_when_asked(fraud, cast, client_for):
    api = client_for(cast.owner)
    url = "/api/v1/models/fraud/versions/{}/stage"
    assert api.post(url.format(1), {"stage": "Production"}, format="json").json()["stage"] == "Production"
    assert api.post(url.format(2), {"stage": "production"}, format="json").json()["stage"] == "Production"
    stages = dict(ModelVersion.objects.filter(model=fraud).values_list("version", "stage"))
    assert stages == {1: "Production", 2: "Production", 3: "None"}

    response = api.post(
        url.format(3), {"stage": "Production", "archive_existing_versions": True}, format="json"
    )
    assert response.status_code == 200
    stages = dict(ModelVersion.objects.filter(model=fraud).values_list("version", "stage"))
    assert stages == {1: "Archived", 2: "Archived", 3: "Production"}
    event = AuditEvent.objects.filter(action=Action.VERSION_STAGE_CHANGED, version=3).get()
    assert event.after == {"stage": "Production", "archived_versions": [1, 2]}


def test_archiving_into_an_inactive_stage_is_refused_as_in_mlflow(fraud, cast, client_for):
    api = client_for(cast.owner)
    body = _error(
        api.post(
            "/api/v1/models/fraud/versions/1/stage",
            {"stage": "Archived", "archive_existing_versions": True},
            format="json",
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert body["field"] == "archive_existing_versions"
    assert ModelVersion.objects.get(model=fraud, version=1).stage == "None"


def test_alias_set_move_get_list_and_delete(fraud, cast, client_for):
    api = client_for(cast.owner)
    assert api.put("/api/v1/models/fraud/aliases/champion", {"version": 1}, format="json").json() == {
        "alias": "champion",
        "version": 1,
    }
    assert (
        api.put("/api/v1/models/fraud/aliases/champion", {"version": 2}, format="json").json()["version"] == 2
    )
    assert api.get("/api/v1/models/fraud/aliases/champion").json()["version"] == 2
    assert api.get("/api/v1/models/fraud/aliases/latest").json()["version"] == 3
    assert api.get("/api/v1/models/fraud/aliases").json() == [{"alias": "champion", "version": 2}]
    assert api.get("/api/v1/models/fraud/versions/2").json()["aliases"] == ["champion"]
    assert api.get("/api/v1/models/fraud/versions/1").json()["aliases"] == []
    assert api.delete("/api/v1/models/fraud/aliases/champion").status_code == 204
    _error(api.get("/api/v1/models/fraud/aliases/champion"), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(api.delete("/api/v1/models/fraud/aliases/champion"), 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V12", "a.b", "x" * 256, "caf\u00e9"])
def test_reserved_and_malformed_aliases_are_refused(fraud, cast, client_for, alias):
    body = _error(
        client_for(cast.owner).put(f"/api/v1/models/fraud/aliases/{alias}", {"version": 1}, format="json"),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert body["field"] == "alias"
    assert not ModelAlias.objects.exists()


def test_deleting_a_version_deletes_its_aliases(fraud, cast, client_for):
    api = client_for(cast.owner)
    api.put("/api/v1/models/fraud/aliases/champion", {"version": 3}, format="json")
    api.put("/api/v1/models/fraud/aliases/challenger", {"version": 2}, format="json")
    assert api.delete("/api/v1/models/fraud/versions/3").status_code == 204
    assert api.get("/api/v1/models/fraud/aliases").json() == [{"alias": "challenger", "version": 2}]
    _error(api.get("/api/v1/resolve", {"uri": "models:/fraud@champion"}), 404, "RESOURCE_DOES_NOT_EXIST")
    # ...and the next version is 4, not a reused 3.
    assert (
        api.post("/api/v1/models/fraud/versions", {"source": "s3://b/4"}, format="json").json()["version"]
        == 4
    )


# --- resolve ----------------------------------------------------------------------------------


def test_resolve_all_four_forms(fraud, cast, client_for):
    services.model_version_stage_transition(actor=cast.owner, name="fraud", version=1, stage="Production")
    services.model_version_stage_transition(actor=cast.owner, name="fraud", version=2, stage="Production")
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=1)
    api = client_for(cast.owner)
    expected = {
        "models:/fraud/2": 2,
        "models:/fraud@champion": 1,
        "models:/fraud/Production": 2,  # newest in the stage, not the first promoted
        "models:/fraud/production": 2,
        "models:/fraud/latest": 3,
        "models:/fraud@latest": 3,
    }
    for uri, version in expected.items():
        response = api.get("/api/v1/resolve", {"uri": uri})
        assert response.status_code == 200, (uri, response.content)
        body = response.json()
        assert body["version"] == version, uri
        assert body["name"] == "fraud"
        assert body["artifact_location"] == f"s3://bucket/fraud/{version}"
        assert body["uri"] == uri


def test_resolve_an_alias_as_of_a_past_moment(fraud, cast, client_for):
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=1)
    AliasAssignment.objects.filter(alias="champion").update(assigned_at=timezone.now() - timedelta(hours=2))
    between = (timezone.now() - timedelta(hours=1)).isoformat()
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=2)
    api = client_for(cast.owner)
    assert api.get("/api/v1/resolve", {"uri": "models:/fraud@champion"}).json()["version"] == 2
    assert (
        api.get("/api/v1/resolve", {"uri": "models:/fraud@champion", "as_of": between}).json()["version"] == 1
    )
    long_ago = (timezone.now() - timedelta(days=1)).isoformat()
    _error(
        api.get("/api/v1/resolve", {"uri": "models:/fraud@champion", "as_of": long_ago}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_resolve_missing_targets_are_404(fraud, cast, client_for):
    api = client_for(cast.owner)
    for uri in ("models:/fraud/9", "models:/fraud@nobody", "models:/fraud/Staging", "models:/nope/1"):
        _error(api.get("/api/v1/resolve", {"uri": uri}), 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("runs:/abc/model", "scheme"),
        ("models:/fraud", "expected exactly a name"),
        ("models:/fraud/1/extra", "expected exactly a name"),
        ("models:/fraud/Shipping", "'Shipping' is not a version number, a stage or 'latest'"),
        ("models:/fraud/0", "out of range"),
        ("models:/fraud/99999999999", "out of range"),
        ("models:/fraud@v3", "reserved"),
        ("models://host/fraud/1", "authority"),
        ("models:/fraud/1?x=1", "query strings"),
    ],
)
def test_resolve_malformed_uris_say_what_is_wrong(fraud, cast, client_for, uri, says):
    body = _error(client_for(cast.owner).get("/api/v1/resolve", {"uri": uri}), 400, "INVALID_PARAMETER_VALUE")
    assert says in body["message"]
    assert body["field"] == "uri"


# --- listing: paging, ordering, filters -------------------------------------------------------


@pytest.fixture
def catalogue(cast):
    """Six models by two creators, with tags and versions in several stages."""
    names = ["alpha", "alpha-2", "beta", "gamma", "delta", "epsilon"]
    for index, name in enumerate(names):
        creator = cast.owner if index % 2 == 0 else cast.outsider
        services.registered_model_create(
            actor=creator, name=name, tags=[{"key": "tier", "value": "gold" if index < 3 else "silver"}]
        )
        services.model_version_create(actor=creator, name=name, source=f"s3://b/{name}/1")
    # the owner may read everything, so listing shows models of both creators
    for model in RegisteredModel.objects.exclude(creator=cast.owner):
        services.registered_model_tag_set(actor=cast.outsider, name=model.name, key="shared", value="yes")
    from guardian.shortcuts import assign_perm

    for model in RegisteredModel.objects.all():
        assign_perm("view_registeredmodel", cast.owner, model)
    return names


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def test_models_are_paged_with_count_and_links(catalogue, cast, client_for):
    api = client_for(cast.owner)
    first = api.get("/api/v1/models", {"limit": 4}).json()
    assert first["count"] == 6
    assert [m["name"] for m in first["results"]] == ["alpha", "alpha-2", "beta", "delta"]
    assert "offset=4" in first["next"] and first["previous"] is None
    second = api.get("/api/v1/models", {"limit": 4, "offset": 4}).json()
    assert [m["name"] for m in second["results"]] == ["epsilon", "gamma"]
    assert second["next"] is None


def test_models_ordering(catalogue, cast, client_for):
    api = client_for(cast.owner)
    assert _names(api.get("/api/v1/models", {"ordering": "-name"}))[:2] == ["gamma", "epsilon"]
    assert _names(api.get("/api/v1/models", {"ordering": "created_at"})) == catalogue
    services.registered_model_update(actor=cast.owner, name="beta", description="touched")
    assert _names(api.get("/api/v1/models", {"ordering": "-updated_at"}))[0] == "beta"


def test_models_filters(catalogue, cast, client_for):
    api = client_for(cast.owner)
    assert _names(api.get("/api/v1/models", {"name": "beta"})) == ["beta"]
    assert _names(api.get("/api/v1/models", {"name_prefix": "alpha"})) == ["alpha", "alpha-2"]
    assert _names(api.get("/api/v1/models", {"tag": "tier=gold"})) == ["alpha", "alpha-2", "beta"]
    assert _names(api.get("/api/v1/models", {"tag": ["tier=gold", "shared"]})) == ["alpha-2"]
    assert _names(api.get("/api/v1/models", {"tag": "shared"})) == ["alpha-2", "epsilon", "gamma"]
    assert _names(api.get("/api/v1/models", {"creator": "outsider"})) == ["alpha-2", "epsilon", "gamma"]
    old = timezone.now() - timedelta(days=3)
    RegisteredModel.objects.filter(name__in=["gamma", "delta"]).update(updated_at=old)
    cutoff = (timezone.now() - timedelta(days=1)).isoformat()
    assert _names(api.get("/api/v1/models", {"updated_before": cutoff})) == ["delta", "gamma"]
    assert _names(api.get("/api/v1/models", {"updated_after": cutoff})) == [
        "alpha",
        "alpha-2",
        "beta",
        "epsilon",
    ]
    # A date alone means midnight UTC; a naive date-time is UTC.
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert _names(api.get("/api/v1/models", {"updated_after": tomorrow})) == []
    assert len(_names(api.get("/api/v1/models", {"updated_before": tomorrow}))) == 6
    naive = (timezone.now() - timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert _names(api.get("/api/v1/models", {"updated_before": naive})) == ["delta", "gamma"]


def test_versions_filters_within_a_model_and_across_models(fraud, catalogue, cast, client_for):
    services.model_version_stage_transition(actor=cast.owner, name="fraud", version=2, stage="Staging")
    services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=3)
    services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="auc", value="0.9")
    ModelVersion.objects.filter(model=fraud, version=1).update(created_at=timezone.now() - timedelta(days=5))
    api = client_for(cast.owner)

    def versions(url: str, **params) -> list[int]:
        response = api.get(url, params)
        assert response.status_code == 200, response.content
        return [row["version"] for row in response.json()["results"]]

    base = "/api/v1/models/fraud/versions"
    assert versions(base) == [1, 2, 3]
    assert versions(base, ordering="-version") == [3, 2, 1]
    assert versions(base, stage="staging") == [2]
    assert versions(base, alias="champion") == [3]
    assert versions(base, tag="auc=0.9") == [1]
    assert versions(base, tag="auc=0.8") == []
    assert versions(base, creator="owner") == [1, 2, 3]
    cutoff = (timezone.now() - timedelta(days=1)).isoformat()
    assert versions(base, created_before=cutoff) == [1]
    assert versions(base, created_after=cutoff) == [2, 3]
    everything = api.get("/api/v1/versions", {"limit": 100}).json()
    assert everything["count"] == 9
    assert [r["name"] for r in api.get("/api/v1/versions", {"creator": "outsider"}).json()["results"]] == [
        "alpha-2",
        "epsilon",
        "gamma",
    ]


# --- bad input never 500 ----------------------------------------------------------------------

BAD_REQUESTS = [
    ("post", "/api/v1/models", {"name": 5}, "name"),
    ("post", "/api/v1/models", {"name": ["x"]}, "name"),
    ("post", "/api/v1/models", {"name": True}, "name"),
    ("post", "/api/v1/models", {}, "name"),
    ("post", "/api/v1/models", {"name": "x" * 257}, "name"),
    ("post", "/api/v1/models", {"name": "bad\u0007name"}, "name"),
    ("post", "/api/v1/models", {"name": "bidi\u202ename"}, "name"),
    ("post", "/api/v1/models", {"name": "nul\u0000name"}, "name"),
    ("post", "/api/v1/models", {"name": "a/b"}, "name"),
    ("post", "/api/v1/models", {"name": "a:b"}, "name"),
    ("post", "/api/v1/models", {"name": " padded "}, "name"),
    ("post", "/api/v1/models", {"name": "ok", "tags": "x"}, "tags"),
    ("post", "/api/v1/models", {"name": "ok", "tags": ["x"]}, "tags.0"),
    ("post", "/api/v1/models", {"name": "ok", "tags": [{"key": "k", "value": 3}]}, "tags.0.value"),
    ("post", "/api/v1/models", {"name": "ok", "tags": [{"key": "k\u0001", "value": "v"}]}, "tags.0.key"),
    ("post", "/api/v1/models", {"name": "ok", "description": {"a": 1}}, "description"),
    ("post", "/api/v1/models", {"name": "ok", "description": "d" * 100_001}, "description"),
    ("post", "/api/v1/models/fraud/versions", {"source": "s3://b/x", "tags": "x"}, "tags"),
    ("post", "/api/v1/models/fraud/versions", {"source": "s3://b/x", "run_id": 5}, "run_id"),
    ("post", "/api/v1/models/fraud/versions", {"source": "s3://b/x", "run_id": "r" * 65}, "run_id"),
    ("post", "/api/v1/models/fraud/versions", {"source": "../../etc/passwd"}, "source"),
    ("post", "/api/v1/models/fraud/versions", {}, "source"),
    ("post", "/api/v1/models/fraud/tags", {"key": "k", "value": "v" * 5001}, "value"),
    ("post", "/api/v1/models/fraud/tags", {"key": "k" * 251, "value": "v"}, "key"),
    ("post", "/api/v1/models/fraud/tags", {"key": "", "value": "v"}, "key"),
    ("post", "/api/v1/models/fraud/versions/1/tags", {"key": "k", "value": ["v"]}, "value"),
    ("post", "/api/v1/models/fraud/rename", {"new_name": "a/b"}, "new_name"),
    ("post", "/api/v1/models/fraud/rename", {"new_name": ""}, "new_name"),
    ("patch", "/api/v1/models/fraud", {"description": None}, "description"),
    ("patch", "/api/v1/models/fraud/versions/1", {"description": 7}, "description"),
    ("put", "/api/v1/models/fraud/aliases/champion", {"version": "abc"}, "version"),
    ("put", "/api/v1/models/fraud/aliases/champion", {"version": True}, "version"),
    ("put", "/api/v1/models/fraud/aliases/champion", {"version": 0}, "version"),
    ("put", "/api/v1/models/fraud/aliases/champion", {"version": 10**20}, "version"),
    ("post", "/api/v1/models/fraud/versions/1/stage", {"stage": "Shipping"}, "stage"),
    ("post", "/api/v1/models/fraud/versions/1/stage", {"stage": 1}, "stage"),
    (
        "post",
        "/api/v1/models/fraud/versions/1/stage",
        {"stage": "Staging", "archive_existing_versions": "yes"},
        "archive_existing_versions",
    ),
    ("get", "/api/v1/models?limit=abc", None, "limit"),
    ("get", "/api/v1/models?limit=0", None, "limit"),
    ("get", "/api/v1/models?offset=-1", None, "offset"),
    ("get", "/api/v1/models?ordering=password", None, "ordering"),
    ("get", "/api/v1/models?updated_after=yesterday", None, "updated_after"),
    ("get", "/api/v1/models?tag==x", None, "tag"),
    ("get", "/api/v1/models/fraud/versions?stage=Shipping", None, "stage"),
    ("get", "/api/v1/models/fraud/versions?created_before=2020-13-45", None, "created_before"),
    ("get", "/api/v1/models/fraud/versions?created_after=2020-13-45T00:00:00", None, "created_after"),
    ("get", "/api/v1/models?updated_before=2021-02-30", None, "updated_before"),
    ("get", "/api/v1/versions?ordering=source", None, "ordering"),
    ("get", "/api/v1/models/fraud/versions/abc", None, "version"),
    ("get", "/api/v1/models/fraud/versions/0", None, "version"),
    ("delete", "/api/v1/models/fraud/versions/-1", None, "version"),
    ("post", "/api/v1/models/fraud/versions/99999999999/stage", {"stage": "Staging"}, "version"),
    ("post", "/api/v1/models/fraud/versions/1.5/tags", {"key": "k", "value": "v"}, "version"),
    ("get", "/api/v1/resolve", None, "uri"),
    ("get", "/api/v1/resolve?uri=models:/fraud/1&as_of=soon", None, "as_of"),
]


@pytest.mark.parametrize(("method", "url", "data", "field"), BAD_REQUESTS)
def test_bad_input_is_a_400_naming_the_field(fraud, cast, client_for, method, url, data, field):
    api = client_for(cast.owner)
    response = getattr(api, method)(url) if data is None else getattr(api, method)(url, data, format="json")
    body = _error(response, 400, "INVALID_PARAMETER_VALUE")
    assert body["field"] == field, body


@pytest.mark.parametrize(
    "url", ["/api/v1/models?name=%00", "/api/v1/models/fr%00aud", "/api/v1/resolve?uri=models:/fr%00aud/1"]
)
def test_nul_characters_in_paths_and_queries_are_a_400(fraud, cast, client_for, url):
    # PostgreSQL cannot compare strings containing NUL; reaching a lookup would be a 500.
    _error(client_for(cast.owner).get(url), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"name": ',
        b"[1, 2]",
        b'"just a string"',
        b"\xff\xfe",
        b'{"name": NaN}',
        b'{"name": "deep", "tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["text", "truncated", "list", "string", "not-utf8", "nan", "deeply-nested"],
)
def test_malformed_json_bodies_are_a_400(fraud, cast, client_for, payload):
    response = client_for(cast.owner).generic(
        "POST", "/api/v1/models", payload, content_type="application/json"
    )
    _error(response, 400, "INVALID_PARAMETER_VALUE")
    assert RegisteredModel.objects.count() == 1


def test_unknown_methods_paths_and_media_types_are_json_4xx(fraud, cast, client_for):
    api = client_for(cast.owner)
    _error(api.get("/api/v1/no-such-thing"), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client_for(None).get("/api/v1/models/fraud/extra/segments"), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(api.put("/api/v1/models/fraud", {}, format="json"), 405, "METHOD_NOT_ALLOWED")
    response = api.generic("POST", "/api/v1/models", "name=x", content_type="text/csv")
    _error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    # JSON only: a form would silently drop what it cannot express, such as a list of tags.
    response = api.post("/api/v1/models", {"name": "formed", "tags": "x"})
    _error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert not RegisteredModel.objects.filter(name="formed").exists()


# --- bounded query counts ---------------------------------------------------------------------


def _populate(owner, models: int, versions_per_model: int) -> None:
    for m in range(models):
        name = f"m{m:03d}"
        services.registered_model_create(
            actor=owner, name=name, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
        )
        for v in range(1, versions_per_model + 1):
            services.model_version_create(
                actor=owner, name=name, source=f"s3://b/{name}/{v}", tags=[{"key": "t", "value": str(v)}]
            )
        services.alias_set(actor=owner, name=name, alias="stable", version=versions_per_model)


@pytest.mark.parametrize("user_kind", ["owner", "admin"])
def test_list_and_resolve_query_counts_do_not_grow_with_page_size(
    cast, client_for, django_assert_max_num_queries, user_kind
):
    _populate(cast.owner, models=12, versions_per_model=2)
    api = client_for(getattr(cast, user_kind))

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured, django_assert_max_num_queries(6):
            response = api.get(url)
        assert response.status_code == 200, response.content
        return len(captured)

    assert queries("/api/v1/models?limit=1") == queries("/api/v1/models?limit=12")
    assert queries("/api/v1/versions?limit=1") == queries("/api/v1/versions?limit=24")
    assert queries("/api/v1/models/m001/versions?limit=1") == queries("/api/v1/models/m001/versions?limit=50")
    assert len(api.get("/api/v1/versions?limit=24").json()["results"]) == 24
    for uri in ("models:/m003/1", "models:/m003@stable", "models:/m003/latest", "models:/m003/None"):
        with django_assert_max_num_queries(6):
            response = api.get("/api/v1/resolve", {"uri": uri})
        assert response.status_code == 200, response.content


# --- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = (tmp_path / "schema.yml").read_text()
    for route in ("/api/v1/models/{name}/versions/{version}/stage:", "/api/v1/resolve:", "bearerToken"):
        assert route in schema


def test_schema_and_docs_pages_are_served(cast, client_for):
    api = client_for(cast.owner)
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/models" in schema.json()["paths"]
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    # The Swagger UI bundle comes from our own static files (no CDN): the docs work on a closed network.
    [bundle_url] = re.findall(r'src="([^"]+swagger-ui-bundle\.js)"', docs.content.decode())
    assert bundle_url.startswith(settings.STATIC_URL), bundle_url
    bundle = finders.find(bundle_url.removeprefix(settings.STATIC_URL))
    assert bundle and Path(bundle).stat().st_size > 100_000
