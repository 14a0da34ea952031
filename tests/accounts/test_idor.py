"""IDOR: another team's model never reveals itself through names, versions, aliases, ids or counts.

Every probe is sent twice by someone who cannot see 'secret-model': once naming it and once naming
a model that does not exist. The two answers must be identical once the name is swapped back.
"""

import pytest
from django.db import transaction

from registry.models import RegisteredModel

pytestmark = pytest.mark.django_db

HIDDEN, MISSING = "secret-model", "no-such-model"

# (method, path template, body template); {m} is the model name.
NATIVE_PROBES = [
    ("GET", "/api/v1/models/{m}", None),
    ("PATCH", "/api/v1/models/{m}", {"description": "pwned"}),
    ("DELETE", "/api/v1/models/{m}", None),
    ("POST", "/api/v1/models/{m}/rename", {"new_name": "stolen"}),
    ("POST", "/api/v1/models/{m}/tags", {"key": "k", "value": "v"}),
    ("DELETE", "/api/v1/models/{m}/tags/team", None),
    ("GET", "/api/v1/models/{m}/aliases", None),
    ("GET", "/api/v1/models/{m}/aliases/candidate", None),
    ("PUT", "/api/v1/models/{m}/aliases/candidate", {"version": 1}),
    ("DELETE", "/api/v1/models/{m}/aliases/candidate", None),
    ("GET", "/api/v1/models/{m}/versions", None),
    ("POST", "/api/v1/models/{m}/versions", {"source": "s3://bucket/x/1"}),
    ("GET", "/api/v1/models/{m}/versions/1", None),
    ("PATCH", "/api/v1/models/{m}/versions/1", {"description": "pwned"}),
    ("DELETE", "/api/v1/models/{m}/versions/1", None),
    ("POST", "/api/v1/models/{m}/versions/1/stage", {"stage": "Archived"}),
    ("POST", "/api/v1/models/{m}/versions/1/tags", {"key": "k", "value": "v"}),
    ("DELETE", "/api/v1/models/{m}/versions/1/tags/k", None),
    ("GET", "/api/v1/resolve?uri=models:/{m}/1", None),
    ("GET", "/api/v1/resolve?uri=models:/{m}@candidate", None),
    ("GET", "/api/v1/resolve?uri=models:/{m}/latest", None),
    ("GET", "/api/v1/models/{m}/grants", None),
    ("POST", "/api/v1/models/{m}/grants", {"user": "reader", "level": "READ"}),
    ("DELETE", "/api/v1/models/{m}/grants/users/other-owner/MANAGE", None),
]

MLFLOW = "/api/2.0/mlflow"
MLFLOW_PROBES = [
    ("GET", f"{MLFLOW}/registered-models/get?name={{m}}", None),
    ("PATCH", f"{MLFLOW}/registered-models/update", {"name": "{m}", "description": "pwned"}),
    ("DELETE", f"{MLFLOW}/registered-models/delete", {"name": "{m}"}),
    ("POST", f"{MLFLOW}/registered-models/rename", {"name": "{m}", "new_name": "stolen"}),
    ("POST", f"{MLFLOW}/registered-models/set-tag", {"name": "{m}", "key": "k", "value": "v"}),
    ("GET", f"{MLFLOW}/registered-models/get-latest-versions?name={{m}}", None),
    ("GET", f"{MLFLOW}/registered-models/alias?name={{m}}&alias=candidate", None),
    ("POST", f"{MLFLOW}/registered-models/alias", {"name": "{m}", "alias": "candidate", "version": "1"}),
    ("GET", f"{MLFLOW}/model-versions/get?name={{m}}&version=1", None),
    ("GET", f"{MLFLOW}/model-versions/get-download-uri?name={{m}}&version=1", None),
    ("POST", f"{MLFLOW}/model-versions/create", {"name": "{m}", "source": "s3://bucket/x/1"}),
    ("POST", f"{MLFLOW}/model-versions/set-tag", {"name": "{m}", "version": "1", "key": "k", "value": "v"}),
    (
        "POST",
        f"{MLFLOW}/model-versions/transition-stage",
        {"name": "{m}", "version": "1", "stage": "Archived"},
    ),
    ("GET", f"{MLFLOW}/transition-requests/list?name={{m}}&version=1", None),
    (
        "POST",
        f"{MLFLOW}/transition-requests/create",
        {"name": "{m}", "version": "1", "stage": "Staging", "comment": "r"},
    ),
]


def _fill(template, name: str):
    if template is None:
        return None
    if isinstance(template, str):
        return template.replace("{m}", name)
    if isinstance(template, dict):
        return {key: _fill(value, name) for key, value in template.items()}
    return template


def _answer(client, method: str, path: str, body) -> tuple[int, str]:
    send = getattr(client, method.lower())
    response = send(path, body, format="json") if body is not None else send(path)
    return response.status_code, response.content.decode()


@pytest.mark.parametrize("role", ["outsider", "reader", "manager"])
def test_hidden_model_answers_exactly_like_a_missing_one(role, api_as, access_cast) -> None:
    client = api_as(role)
    leaks = []
    for method, template, body in NATIVE_PROBES + MLFLOW_PROBES:
        # Each probe is rolled back, so a probe that wrongly succeeded cannot mask the next one.
        with transaction.atomic():
            hidden = _answer(client, method, _fill(template, HIDDEN), _fill(body, HIDDEN))
            missing = _answer(client, method, _fill(template, MISSING), _fill(body, MISSING))
            transaction.set_rollback(True)
        if hidden[0] != 404 or hidden != (missing[0], missing[1].replace(MISSING, HIDDEN)):
            leaks.append(f"{method} {template}: hidden {hidden} vs missing {missing}")
    assert leaks == []
    secret = RegisteredModel.objects.get(name=HIDDEN)
    assert secret.description == "another team's model"
    assert secret.versions.count() == 1


def _names(response) -> list[str]:
    return [row["name"] for row in response.json()["results"]]


def test_lists_searches_and_counts_leave_hidden_models_out(api_as, access_cast) -> None:
    reader = api_as("reader")
    listing = reader.get("/api/v1/models")
    assert _names(listing) == ["fraud"] and listing.json()["count"] == 1
    for query in ("name=secret-model", "name_prefix=secret", "tag=team=risk", "creator=other-owner"):
        assert "secret-model" not in _names(reader.get(f"/api/v1/models?{query}")), query
    versions = reader.get("/api/v1/versions?alias=candidate").json()
    assert [row["name"] for row in versions["results"]] == ["fraud"] and versions["count"] == 1
    searched = reader.get(f"{MLFLOW}/registered-models/search?filter=name LIKE '%25'").json()
    assert [m["name"] for m in searched.get("registered_models", [])] == ["fraud"]
    searched = reader.get(f"{MLFLOW}/model-versions/search?filter=name='secret-model'").json()
    assert searched.get("model_versions", []) == []


def test_renaming_onto_a_hidden_name_reveals_nothing_but_that_it_is_taken(api_as, access_cast) -> None:
    manager = api_as("manager")
    onto_hidden = manager.post("/api/v1/models/fraud/rename", {"new_name": HIDDEN}, format="json")
    assert onto_hidden.status_code == 400
    assert onto_hidden.json() == {
        "error_code": "RESOURCE_ALREADY_EXISTS",
        "message": f"Registered Model (name={HIDDEN}) already exists.",
    }
    # Names are one global namespace; the answer carries no description, owner, versions or id.
    assert "another team" not in onto_hidden.content.decode()
    assert RegisteredModel.objects.filter(name="fraud").exists()


def test_who_can_do_what_never_lists_models_the_asker_does_not_manage(api_as, access_cast) -> None:
    for role in ("outsider", "reader", "editor"):
        rows = api_as(role).get("/api/v1/users/other-owner/access").json()["entitlements"]
        assert rows == [], role
        report = api_as(role).get("/api/v1/access-report").json()["models"]
        assert report == [], role


def test_ids_of_another_teams_promotion_requests_answer_like_missing_ids(api_as, access_cast) -> None:
    from workflows import services as workflows

    hidden = workflows.transition_request_create(
        actor=access_cast.other_owner,
        name=HIDDEN,
        version=1,
        target_kind="stage",
        target="Staging",
        reason="r",
    ).pk
    missing = hidden + 1000
    client = api_as("production_approver")
    for method, template, body in [
        ("GET", "/api/v1/requests/{id}", None),
        ("POST", "/api/v1/requests/{id}/approve", {"comment": "ok"}),
        ("POST", "/api/v1/requests/{id}/reject", {"comment": "no"}),
        ("POST", "/api/v1/requests/{id}/cancel", {"comment": "x"}),
        ("POST", "/api/v1/requests/{id}/comments", {"comment": "hi"}),
    ]:
        seen = _answer(client, method, template.format(id=hidden), body)
        unseen = _answer(client, method, template.format(id=missing), body)
        assert seen[0] == 404 and seen == (unseen[0], unseen[1].replace(str(missing), str(hidden))), template
    listed = client.get("/api/v1/requests").json()
    assert all(row["name"] != HIDDEN for row in listed.get("results", []))


def test_hidden_and_missing_models_cost_the_same_queries(api_as, access_cast) -> None:
    """No timing-visible difference: a hidden model is refused with exactly the queries of a missing one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api_as("outsider")
    for method, template, body in NATIVE_PROBES[:12] + MLFLOW_PROBES[:6]:
        counts = []
        for name in (HIDDEN, MISSING):
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                _answer(client, method, _fill(template, name), _fill(body, name))
                transaction.set_rollback(True)
            counts.append(len(queries.captured_queries))
        assert counts[0] == counts[1], (method, template, counts)


LIST_ENDPOINTS = [
    "/api/v1/models",
    "/api/v1/versions",
    "/api/v1/requests",
    "/api/v1/artifact-jobs",
    "/api/v1/webhooks",
    "/api/v1/audit/events",
    "/api/v1/audit/events/export.csv",
    "/api/v1/audit/events/export.jsonl",
    "/api/v1/audit/reports/promotions",
    "/api/v1/audit/reports/aliases",
    "/api/v1/audit/reports/access-changes",
    "/api/v1/audit/reports/separation-of-duties",
    "/api/v1/access-report",
    "/api/v1/access-report?output=csv",
    "/api/v1/users/me/access",
    "/api/v1/users/other-owner/access",
    "/api/2.0/mlflow/registered-models/search",
    "/api/2.0/mlflow/model-versions/search",
]


def test_no_list_report_or_export_mentions_another_teams_model(api_as, access_cast) -> None:
    from workflows import services as workflows

    workflows.transition_request_create(
        actor=access_cast.other_owner,
        name=HIDDEN,
        version=1,
        target_kind="stage",
        target="Staging",
        reason="r",
    )
    for role in ("outsider", "reader", "manager"):
        client = api_as(role)
        for url in LIST_ENDPOINTS:
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert response.status_code in (200, 404), (role, url, response.status_code, body[:200])
            assert HIDDEN.encode() not in body, (role, url)
