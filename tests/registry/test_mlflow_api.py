"""The MLflow REST surface over HTTP: exact JSON shapes, transport rules and error codes."""

import base64
import json

import pytest

from audit.models import Action, AuditEvent
from registry.models import ModelVersion, RegisteredModel
from tests.fixtures_mlflow import basic_header

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords", "ungoverned")]


@pytest.fixture
def api(cast, mlflow_as):
    return mlflow_as(cast.owner)


def _error(response) -> tuple[int, str, str]:
    body = response.json()
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, body["error_code"], body["message"]


def test_create_model_returns_mlflow_shape_and_records_audit(api):
    response = api.post(
        "registered-models/create",
        {"name": "fraud", "tags": [{"key": "team", "value": "risk"}], "description": "d", "unknown": 1},
    )
    assert response.status_code == 200, response.content
    body = response.json()["registered_model"]
    assert body["name"] == "fraud"
    assert body["description"] == "d"
    assert body["tags"] == [{"key": "team", "value": "risk"}]
    assert isinstance(body["creation_timestamp"], int) and body["creation_timestamp"] > 1_600_000_000_000
    assert "latest_versions" not in body and "aliases" not in body
    assert AuditEvent.objects.filter(action=Action.MODEL_CREATED, model_name="fraud").count() == 1


def test_empty_description_is_omitted_like_mlflow(api):
    body = api.post("registered-models/create", {"name": "plain"}).json()["registered_model"]
    assert "description" not in body and "tags" not in body


def test_version_lifecycle_shapes(api):
    api.post("registered-models/create", {"name": "fraud"})
    created = api.post(
        "model-versions/create",
        {
            "name": "fraud",
            "source": "s3://bucket/fraud/1",
            "run_id": "r1",
            "tags": [{"key": "k", "value": "v"}],
        },
    )
    assert created.status_code == 200, created.content
    version = created.json()["model_version"]
    assert version["version"] == "1"
    assert version["current_stage"] == "None"
    assert version["status"] in ("READY", "PENDING_REGISTRATION")
    assert version["description"] == "" and version["run_link"] == "" and version["run_id"] == "r1"
    assert version["tags"] == [{"key": "k", "value": "v"}]
    assert "aliases" not in version

    assert (
        api.post("registered-models/alias", {"name": "fraud", "alias": "champion", "version": "1"}).json()
        == {}
    )
    got = api.get("registered-models/alias", {"name": "fraud", "alias": "champion"}).json()["model_version"]
    assert got["aliases"] == ["champion"] and got["version"] == "1"

    staged = api.post(
        "model-versions/transition-stage",
        {"name": "fraud", "version": "1", "stage": "staging", "archive_existing_versions": False},
    ).json()["model_version"]
    assert staged["current_stage"] == "Staging"

    model = api.get("registered-models/get", {"name": "fraud"}).json()["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]
    assert [v["version"] for v in model["latest_versions"]] == ["1"]
    assert "aliases" not in model["latest_versions"][0]

    updated = api.patch("model-versions/update", {"name": "fraud", "version": "1", "description": "better"})
    assert updated.json()["model_version"]["description"] == "better"
    assert (
        api.post("model-versions/set-tag", {"name": "fraud", "version": "1", "key": "a", "value": "b"}).json()
        == {}
    )
    assert api.delete("model-versions/delete-tag", {"name": "fraud", "version": "1", "key": "a"}).json() == {}
    uri = api.get("model-versions/get-download-uri", {"name": "fraud", "version": "1"}).json()
    assert uri == {"artifact_uri": "s3://bucket/fraud/1"}
    assert api.delete("registered-models/alias", {"name": "fraud", "alias": "champion"}).json() == {}
    assert api.delete("model-versions/delete", {"name": "fraud", "version": "1"}).json() == {}
    assert not ModelVersion.objects.filter(model__name="fraud").exists()


def test_model_rename_update_tags_delete(api):
    api.post("registered-models/create", {"name": "old"})
    renamed = api.post("registered-models/rename", {"name": "old", "new_name": "new"})
    assert renamed.json()["registered_model"]["name"] == "new"
    updated = api.patch("registered-models/update", {"name": "new", "description": "about"})
    assert updated.json()["registered_model"]["description"] == "about"
    assert api.post("registered-models/set-tag", {"name": "new", "key": "team", "value": "x"}).json() == {}
    got = api.get("registered-models/get", {"name": "new"}).json()["registered_model"]
    assert got["tags"] == [{"key": "team", "value": "x"}]
    assert api.delete("registered-models/delete-tag", {"name": "new", "key": "team"}).json() == {}
    assert api.delete("registered-models/delete", {"name": "new"}).json() == {}
    assert not RegisteredModel.objects.filter(name="new").exists()


def test_get_latest_versions_by_stage_with_get_and_post(api):
    api.post("registered-models/create", {"name": "m"})
    for number in range(1, 4):
        api.post("model-versions/create", {"name": "m", "source": f"s3://b/m/{number}"})
    api.post("model-versions/transition-stage", {"name": "m", "version": "2", "stage": "Production"})
    everything = api.post("registered-models/get-latest-versions", {"name": "m"}).json()["model_versions"]
    assert [(v["version"], v["current_stage"]) for v in everything] == [("2", "Production"), ("3", "None")]
    production = api.get("registered-models/get-latest-versions", {"name": "m", "stages": ["Production"]})
    assert [v["version"] for v in production.json()["model_versions"]] == ["2"]
    both = api.client.get(
        "/api/2.0/mlflow/registered-models/get-latest-versions?name=m&stages=None&stages=Production",
        headers=api.headers,
    )
    assert [v["version"] for v in both.json()["model_versions"]] == ["2", "3"]
    assert (
        api.get("registered-models/get-latest-versions", {"name": "m", "stages": ["Archived"]}).json() == {}
    )


def test_search_pages_with_opaque_tokens_until_the_end(api):
    for number in range(5):
        api.post("registered-models/create", {"name": f"model-{number}"})
    seen, token, pages = [], None, 0
    while True:
        params = {"max_results": "2", "order_by": ["name DESC"]}
        if token:
            params["page_token"] = token
        body = api.get("registered-models/search", params).json()
        seen += [m["name"] for m in body["registered_models"]]
        pages += 1
        token = body.get("next_page_token")
        if not token:
            break
        assert json.loads(base64.b64decode(token)) == {"offset": len(seen)}
    assert seen == [f"model-{n}" for n in (4, 3, 2, 1, 0)]
    assert pages == 3
    # A page that ends exactly at the end has no token (MLflow fetches one extra row to know).
    assert "next_page_token" not in api.get("registered-models/search", {"max_results": "5"}).json()
    assert api.get("registered-models/search", {"max_results": "0"}).json() == {
        "next_page_token": "eyJvZmZzZXQiOiAwfQ=="
    }


def test_search_excludes_prompts_and_honours_the_client_appended_clause(api):
    api.post("registered-models/create", {"name": "model"})
    api.post(
        "registered-models/create",
        {"name": "prompt", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]},
    )

    def names(params: dict) -> list[str]:
        body = api.get("registered-models/search", params).json()
        return [m["name"] for m in body.get("registered_models", [])]

    assert names({}) == ["model"]
    assert names({"filter": "name LIKE '%' AND tag.`mlflow.prompt.is_prompt` != 'true'"}) == ["model"]
    assert names({"filter": "tags.`mlflow.prompt.is_prompt` = 'true'"}) == ["prompt"]


def test_version_search_pages_through_versions(api):
    api.post("registered-models/create", {"name": "m"})
    for number in range(1, 6):
        api.post(
            "model-versions/create", {"name": "m", "source": f"s3://b/m/{number}", "run_id": f"r{number}"}
        )
    first = api.get(
        "model-versions/search",
        {
            "filter": "name = 'm' AND version_number >= 2",
            "max_results": "3",
            "order_by": ["version_number ASC"],
        },
    ).json()
    assert [v["version"] for v in first["model_versions"]] == ["2", "3", "4"]
    second = api.get(
        "model-versions/search",
        {
            "filter": "name = 'm' AND version_number >= 2",
            "max_results": "3",
            "order_by": ["version_number ASC"],
            "page_token": first["next_page_token"],
        },
    ).json()
    assert [v["version"] for v in second["model_versions"]] == ["5"]
    assert "next_page_token" not in second


def test_ajax_api_prefix_serves_the_same_endpoints(cast, mlflow_as):
    ajax = mlflow_as(cast.owner, prefix="/ajax-api/2.0/mlflow/")
    assert ajax.post("registered-models/create", {"name": "ui"}).status_code == 200
    assert ajax.get("registered-models/get", {"name": "ui"}).json()["registered_model"]["name"] == "ui"


def test_search_runs_a_bounded_number_of_queries(api, django_assert_max_num_queries):
    for number in range(12):
        api.post("registered-models/create", {"name": f"m{number}", "tags": [{"key": "t", "value": "v"}]})
        api.post("model-versions/create", {"name": f"m{number}", "source": f"s3://b/{number}"})
        api.post("registered-models/alias", {"name": f"m{number}", "alias": "champion", "version": "1"})
    with django_assert_max_num_queries(14):
        body = api.get("registered-models/search", {"max_results": "100"}).json()
    assert len(body["registered_models"]) == 12
    with django_assert_max_num_queries(12):
        body = api.get("model-versions/search", {"max_results": "100"}).json()
    assert len(body["model_versions"]) == 12


# --- Errors: exact codes and statuses ---------------------------------------------------


@pytest.fixture
def fraud_api(api):
    api.post("registered-models/create", {"name": "fraud"})
    api.post("model-versions/create", {"name": "fraud", "source": "s3://bucket/fraud/1"})
    return api


@pytest.mark.parametrize(
    ("method", "endpoint", "params", "status", "code", "message"),
    [
        (
            "GET",
            "registered-models/get",
            {"name": "nope"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "Registered Model with name=nope not found",
        ),
        (
            "POST",
            "registered-models/create",
            {"name": "fraud"},
            400,
            "RESOURCE_ALREADY_EXISTS",
            "Registered Model (name=fraud) already exists.",
        ),
        (
            "GET",
            "registered-models/alias",
            {"name": "fraud", "alias": "champion"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Registered model alias champion not found.",
        ),
        (
            "GET",
            "registered-models/alias",
            {"name": "nope", "alias": "a"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "Registered Model with name=nope not found",
        ),
        (
            "GET",
            "model-versions/get",
            {"name": "fraud", "version": "7"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "Model Version (name=fraud, version=7) not found",
        ),
        (
            "GET",
            "model-versions/get",
            {"name": "fraud", "version": "abc"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Parameter 'version' must be an integer, got 'abc'.",
        ),
        (
            "GET",
            "registered-models/get",
            {},
            400,
            "INVALID_PARAMETER_VALUE",
            "Missing value for required parameter 'name'",
        ),
        (
            "POST",
            "registered-models/alias",
            {"name": "fraud", "alias": "a", "version": "99"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "Model Version (name=fraud, version=99) not found",
        ),
        (
            "POST",
            "registered-models/alias",
            {"name": "fraud", "alias": "Latest", "version": "1"},
            400,
            "INVALID_PARAMETER_VALUE",
            "'latest' alias name (case insensitive) is reserved.",
        ),
        (
            "POST",
            "registered-models/alias",
            {"name": "fraud", "alias": "v2", "version": "1"},
            400,
            "INVALID_PARAMETER_VALUE",
            "reserved",
        ),
        (
            "POST",
            "model-versions/transition-stage",
            {"name": "fraud", "version": "1", "stage": "Foo"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid Model Version stage: Foo. Value must be one of None, Staging, Production, Archived.",
        ),
        (
            "GET",
            "registered-models/search",
            {"page_token": "zzz"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid page token, could not base64-decode",
        ),
        (
            "GET",
            "registered-models/search",
            {"max_results": "1001"},
            400,
            "INVALID_PARAMETER_VALUE",
            "max_results",
        ),
        ("GET", "model-versions/search", {"max_results": "0"}, 400, "INVALID_PARAMETER_VALUE", "max_results"),
        (
            "GET",
            "model-versions/search",
            {"max_results": "200001"},
            400,
            "INVALID_PARAMETER_VALUE",
            "max_results",
        ),
        (
            "GET",
            "registered-models/search",
            {"filter": "name = 'a' OR name = 'b'"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid clause(s) in filter string: OR",
        ),
        (
            "GET",
            "registered-models/search",
            {"filter": "name = m-17"},
            400,
            "INVALID_PARAMETER_VALUE",
            "expected a quoted string",
        ),
        (
            "GET",
            "model-versions/search",
            {"filter": "tags.team IS NULL"},
            400,
            "INVALID_PARAMETER_VALUE",
            "IS NULL",
        ),
        (
            "GET",
            "registered-models/search",
            {"order_by": ["creation_timestamp"]},
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid order by key 'creation_timestamp'",
        ),
        (
            "GET",
            "registered-models/search",
            {"order_by": ["name", "name DESC"]},
            400,
            "INVALID_PARAMETER_VALUE",
            "duplicate",
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "fraud", "source": "/etc/passwd"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Local paths are accepted only under",
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "fraud", "source": "s3://b/x/../../y"},
            400,
            "INVALID_PARAMETER_VALUE",
            "without relative path references present",
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "fraud", "source": "s3://b/x/%2e%2e/y"},
            400,
            "INVALID_PARAMETER_VALUE",
            "without relative path references present",
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "fraud", "source": "s3://b/x?p=../../y"},
            400,
            "INVALID_PARAMETER_VALUE",
            "without relative path references present",
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "fraud", "source": "s3://b/x\\..\\y"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Backslashes",
        ),
        (
            "POST",
            "model-versions/create",
            {"name": "fraud"},
            400,
            "INVALID_PARAMETER_VALUE",
            "Missing value for required parameter 'source'",
        ),
        ("POST", "registered-models/create", {"name": 5}, 400, "INVALID_PARAMETER_VALUE", "parameter 'name'"),
        (
            "POST",
            "registered-models/create",
            {"name": "a/b"},
            400,
            "INVALID_PARAMETER_VALUE",
            "cannot contain '/'",
        ),
        (
            "POST",
            "registered-models/create",
            {"name": "x", "tags": "nope"},
            400,
            "INVALID_PARAMETER_VALUE",
            "tags",
        ),
        (
            "DELETE",
            "registered-models/delete-tag",
            {"name": "fraud", "key": "none"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "No tag with name: none",
        ),
        (
            "GET",
            "registered-models/get",
            {"name": "fr\x00aud"},
            400,
            "INVALID_PARAMETER_VALUE",
            "NUL characters",
        ),
        (
            "GET",
            "model-versions/search",
            {"filter": "name = 'a\x00'"},
            400,
            "INVALID_PARAMETER_VALUE",
            "NUL characters",
        ),
        (
            "GET",
            "registered-models/search",
            {"order_by": ["name\x00"]},
            400,
            "INVALID_PARAMETER_VALUE",
            "NUL characters",
        ),
        (
            "POST",
            "registered-models/set-tag",
            {"name": "fraud", "key": "k", "value": "\x00"},
            400,
            "INVALID_PARAMETER_VALUE",
            "NUL characters",
        ),
        (
            "GET",
            "registered-models/search",
            {"filter": "x" * 10_001},
            400,
            "INVALID_PARAMETER_VALUE",
            "longer than",
        ),
    ],
)
def test_errors_have_mlflow_codes_and_statuses(fraud_api, method, endpoint, params, status, code, message):
    got_status, got_code, got_message = _error(fraud_api.call(method, endpoint, params))
    assert (got_status, got_code) == (status, code), got_message
    assert message in got_message


def test_delete_ignores_the_query_string(fraud_api):
    response = fraud_api.client.delete(
        "/api/2.0/mlflow/registered-models/alias?name=fraud&alias=a", headers=fraud_api.headers
    )
    assert _error(response)[:2] == (400, "INVALID_PARAMETER_VALUE")
    assert "Missing value for required parameter 'name'" in response.json()["message"]


def test_post_needs_a_json_content_type(fraud_api):
    response = fraud_api.client.post(
        "/api/2.0/mlflow/registered-models/create",
        "name=x",
        content_type="text/plain",
        headers=fraud_api.headers,
    )
    assert _error(response) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Bad Request. Content-Type must be one of ['application/json'].",
    )


def test_unparseable_json_is_an_empty_body_and_double_encoding_is_accepted(fraud_api):
    response = fraud_api.client.post(
        "/api/2.0/mlflow/registered-models/create",
        "{nope",
        content_type="application/json",
        headers=fraud_api.headers,
    )
    assert _error(response)[:2] == (400, "INVALID_PARAMETER_VALUE")
    assert "Missing value for required parameter 'name'" in response.json()["message"]
    response = fraud_api.client.post(
        "/api/2.0/mlflow/registered-models/create",
        json.dumps(json.dumps({"name": "double"})),
        content_type="application/json",
        headers=fraud_api.headers,
    )
    assert response.status_code == 200, response.content


def test_unknown_paths_and_wrong_methods_get_json_errors(fraud_api):
    assert _error(fraud_api.get("registered-models/nope"))[:2] == (404, "ENDPOINT_NOT_FOUND")
    assert _error(fraud_api.get("/api/2.0/preview/whatever"))[:2] == (404, "ENDPOINT_NOT_FOUND")
    wrong = fraud_api.call("PUT", "registered-models/get", {"name": "fraud"})
    assert wrong.status_code == 405
    assert wrong.json()["error_code"] in ("BAD_REQUEST", "METHOD_NOT_ALLOWED")
    assert "GET" in wrong["Allow"]


def test_anonymous_and_bad_credentials_are_401(mlflow_as, cast):
    anonymous = mlflow_as(None)
    assert _error(anonymous.get("registered-models/search"))[:2] == (401, "UNAUTHENTICATED")
    bad_token = mlflow_as(None)
    bad_token.headers = {"Authorization": "Bearer qrm_not-a-token"}
    assert _error(bad_token.get("registered-models/search"))[:2] == (401, "UNAUTHENTICATED")
    bad_basic = mlflow_as(None)
    bad_basic.headers = {"Authorization": basic_header("owner", "wrong")}
    assert _error(bad_basic.post("registered-models/create", {"name": "x"}))[:2] == (401, "UNAUTHENTICATED")


def test_basic_auth_with_a_password_works_without_csrf(mlflow_as, cast):
    caller = mlflow_as(None)
    caller.headers = {"Authorization": basic_header("owner", "owner-pw-123!")}
    assert caller.post("registered-models/create", {"name": "via-basic"}).status_code == 200


def test_hidden_models_look_missing_and_seen_ones_refuse_with_403(fraud_api, mlflow_as, cast, grant):
    from access.grants import Level

    outsider = mlflow_as(cast.outsider)
    assert _error(outsider.get("registered-models/get", {"name": "fraud"}))[:2] == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert _error(outsider.delete("registered-models/delete", {"name": "fraud"}))[:2] == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert outsider.get("model-versions/search").json() == {}
    reader = grant(cast.editor, Level.READ, RegisteredModel.objects.get(name="fraud"))
    status, code, message = _error(mlflow_as(reader).delete("registered-models/delete", {"name": "fraud"}))
    assert (status, code) == (403, "PERMISSION_DENIED")
    assert "MANAGE" in message


def test_unexpected_failures_are_json_internal_errors(fraud_api, monkeypatch):
    from registry import selectors

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "model_version_get", explode)
    response = fraud_api.get("model-versions/get", {"name": "fraud", "version": "1"})
    status, code, message = _error(response)
    assert (status, code) == (500, "INTERNAL_ERROR")
    assert "boom" not in message


def test_server_info_describes_no_multipart(api):
    body = api.get("/api/3.0/mlflow/server-info").json()
    assert body["multipart_downloads_enabled"] is False
    assert body["multipart_uploads_enabled"] is False
    # mlflow 3.18's artifact client asks these; presigned-only would make it refuse the proxy.
    assert body["artifacts_presigned_only"] is False
    assert body["model_artifact_presigned_downloads_supported"] is False


def test_governed_targets_answer_permission_denied_through_mlflow(fraud_api):
    from workflows.models import PromotionPolicy

    PromotionPolicy.objects.all().delete()  # back to the embedded defaults: Production needs approvals
    response = fraud_api.post(
        "model-versions/transition-stage", {"name": "fraud", "version": "1", "stage": "Production"}
    )
    status, code, message = _error(response)
    assert (status, code) == (403, "PERMISSION_DENIED")
    assert "approved transition request" in message


def test_browser_sessions_need_a_csrf_token_on_the_ajax_api(cast, fraud_api):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast.owner)
    read = browser.get("/ajax-api/2.0/mlflow/registered-models/get", {"name": "fraud"})
    assert read.status_code == 200
    write = browser.post(
        "/ajax-api/2.0/mlflow/registered-models/set-tag",
        json.dumps({"name": "fraud", "key": "k", "value": "v"}),
        content_type="application/json",
    )
    assert (write.status_code, write.json()["error_code"]) == (403, "PERMISSION_DENIED")
    assert "CSRF" in write.json()["message"]


def test_absurdly_nested_json_body_is_a_400_not_a_500(fraud_api):
    response = fraud_api.client.post(
        "/api/2.0/mlflow/registered-models/create",
        "[" * 100_000 + "]" * 100_000,
        content_type="application/json",
        headers=fraud_api.headers,
    )
    assert _error(response) == (400, "INVALID_PARAMETER_VALUE", "Request body JSON is nested too deeply.")
    assert not RegisteredModel.objects.filter(name="").exists()


@pytest.mark.parametrize("via_broker", [False, True], ids=["in-process tasks", "queued to a broker"])
def test_create_answers_the_version_exactly_as_a_get_reads_it(api, via_broker, redis_url):
    """With validation queued the create answers from the version it wrote, without reading it back."""
    import redis
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.fixtures_pipeline import celery_use_broker

    api.post("registered-models/create", {"name": "fraud"})
    if via_broker:
        celery_use_broker(redis_url, "quorum-test-unconsumed")  # published, never run
    try:
        with CaptureQueriesContext(connection) as queries:
            created = api.post(
                "model-versions/create",
                {
                    "name": "fraud",
                    "source": "s3://bucket/fraud/1",
                    "run_id": "r1",
                    "run_link": "https://runs/r1",
                    "description": "first",
                    "tags": [{"key": "b", "value": "2"}, {"key": "a", "value": "1"}],
                },
            )
    finally:
        if via_broker:
            celery_use_broker(None, "celery")
            redis.Redis.from_url(redis_url).delete("quorum-test-unconsumed")
    assert created.status_code == 200, created.content
    got = api.get("model-versions/get", {"name": "fraud", "version": "1"})
    assert created.json() == got.json()
    if via_broker:
        assert created.json()["model_version"]["status"] == "PENDING_REGISTRATION"
        read_back = [q for q in queries.captured_queries if "quorum_version_by_number" in q["sql"]]
        assert read_back == []


def test_bearer_requests_skip_drf_but_answer_as_it_would(api, cast, monkeypatch, settings):
    """The serving path authenticates a Bearer token without wrapping the request for DRF."""
    from fronts.mlflow import transport

    api.post("registered-models/create", {"name": "fraud"})

    def no_drf(*args, **kwargs):
        raise AssertionError("a Bearer request was wrapped for DRF")

    monkeypatch.setattr(transport, "Request", no_drf)
    assert api.get("registered-models/get", {"name": "fraud"}).status_code == 200
    bad = api.__class__(api.client, {"Authorization": "Bearer qrm_not-a-token"}, api.prefix)
    assert _error(bad.get("registered-models/get", {"name": "fraud"})) == (
        401,
        "UNAUTHENTICATED",
        "Invalid, expired or revoked token.",
    )
    malformed = api.__class__(api.client, {"Authorization": "Bearer two parts"}, api.prefix)
    assert _error(malformed.get("registered-models/get", {"name": "fraud"}))[:2] == (401, "UNAUTHENTICATED")

    # Basic and session still go through DRF's authenticators, in their configured order.
    monkeypatch.undo()
    basic = api.__class__(api.client, {"Authorization": basic_header("owner", "owner-pw-123!")}, api.prefix)
    assert basic.get("registered-models/get", {"name": "fraud"}).status_code == 200
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    }
    # Bearer is no longer an authenticator at all: the token is not honoured.
    assert _error(api.get("registered-models/get", {"name": "fraud"}))[:2] == (401, "UNAUTHENTICATED")
