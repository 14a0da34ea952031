"""Hostile input through every public surface: a clear 4xx in that surface's format, and nothing changed.

Each case snapshots every registry, workflow and audit row (`unchanged`, tests/fixtures_hardening.py)
before the request and compares afterwards, so a refusal that half-applied something fails too.
"""

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import Client

from tests.fixtures_mlflow import api_token_for
from tests.fixtures_workflow import signature_of

pytestmark = pytest.mark.django_db

NATIVE = "/api/v1"
MLFLOW_PREFIXES = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"]


def bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token_for(user)}"}


def post_raw(client: Client, url: str, body: str | bytes, headers: dict[str, str]):
    return client.post(url, body, content_type="application/json", headers=headers)


def assert_native_error(response, status: int | tuple[int, ...] = 400) -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) >= {"error_code", "message"} and body["message"], body


def assert_mlflow_error(response, code: str = "INVALID_PARAMETER_VALUE", status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error_code"] == code and body["message"], body


def local_root() -> Path:
    return Path(settings.QUORUM_ALLOWED_LOCAL_ROOTS[0])


def hostile_sources() -> list[str]:
    """Local-file reads and traversal in every spelling from MLflow's CVE history, plus a few more."""
    root = str(local_root())
    return [
        "/etc/passwd",
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "file:/etc/passwd",
        "file://localhost/etc/passwd",
        "file://127.0.0.1/etc/passwd",
        "file://evil.example/etc/passwd",
        f"file://evil.example{root}/model",
        "//proc/self/root/etc/passwd",
        "file:////proc/self/root/etc/passwd",
        "/proc/self/environ",
        f"{root}/../../etc/passwd",
        f"{root}/model/../../../etc",
        f"file://{root}/../../etc",
        f"{root}/%2e%2e/%2e%2e/etc",
        f"{root}/%2E%2E/etc",
        f"{root}/%252e%252e/%252e%252e/etc",
        f"file://{root}/%2e%2e/etc",
        f"file://{root}/model?/../../etc",
        f"file://{root}/model#/../../etc",
        f"file://{root}/model;/../../etc",
        f"{root}/model;..",
        f"{root}\\..\\..\\etc",
        f"{root}/model\\..\\..\\etc",
        "C:\\Windows\\System32",
        "\\\\attacker\\share\\model",
        "s3://bucket/models/../../secret",
        "s3://bucket/models/%2e%2e/secret",
        "runs:/0123456789abcdef/../../../etc",
        "mlflow-artifacts:/../../etc/passwd",
        "models:/m-0123/../../etc",
        "ftp://attacker.example/model",
        "http://169.254.169.254/latest/meta-data/",
        "",
        " ",
        "s3://bucket/\x00model",
    ]


@pytest.fixture
def hidden_model(cast):
    """A model the owner created and nobody else in the cast can see."""
    from registry import services

    return services.registered_model_create(actor=cast.owner, name="hidden-model")


# --- Path traversal and local-file reads through version sources ------------------------------------


def test_hostile_sources_are_refused_on_the_native_api(governed, unchanged) -> None:
    client, headers = Client(), bearer(governed.editor)
    for source in hostile_sources():
        with unchanged():
            response = post_raw(
                client, f"{NATIVE}/models/scoring/versions", json.dumps({"source": source}), headers
            )
            assert_native_error(response)


@pytest.mark.parametrize("prefix", MLFLOW_PREFIXES)
def test_hostile_sources_are_refused_on_the_mlflow_routes(governed, unchanged, prefix: str) -> None:
    client, headers = Client(), bearer(governed.editor)
    for source in hostile_sources():
        with unchanged():
            response = post_raw(
                client,
                f"{prefix}/model-versions/create",
                json.dumps({"name": "scoring", "source": source}),
                headers,
            )
            assert_mlflow_error(response)


# --- Duplicate and conflicting JSON keys ----------------------------------------------------------


def test_a_key_given_twice_is_a_400_on_every_api(governed, unchanged) -> None:
    client, headers = Client(), bearer(governed.owner)
    with unchanged():
        assert_native_error(post_raw(client, f"{NATIVE}/models", '{"name": "a", "name": "b"}', headers))
        response = client.put(
            f"{NATIVE}/models/scoring/aliases/candidate",
            '{"version": 1, "version": 2}',
            content_type="application/json",
            headers=headers,
        )
        assert_native_error(response)
        for prefix in MLFLOW_PREFIXES:
            response = post_raw(
                client, f"{prefix}/registered-models/create", '{"name": "a", "name": "b"}', headers
            )
            assert_mlflow_error(response)
            assert "'name' more than once" in response.json()["message"]
            response = post_raw(
                client,
                f"{prefix}/registered-models/alias",
                '{"name": "scoring", "alias": "candidate", "version": "1", "version": "2"}',
                headers,
            )
            assert_mlflow_error(response)
        response = post_raw(
            client,
            "/api/2.0/mlflow/transition-requests/create",
            '{"name": "scoring", "version": "2", "stage": "Staging", "stage": "Production"}',
            bearer(governed.editor),
        )
        assert_native_error(response)


def test_duplicate_keys_nested_inside_tags_are_refused_too(governed, unchanged) -> None:
    client, headers = Client(), bearer(governed.editor)
    body = '{"source": "s3://bucket/scoring/9", "tags": [{"key": "a", "value": "1", "value": "2"}]}'
    with unchanged():
        assert_native_error(post_raw(client, f"{NATIVE}/models/scoring/versions", body, headers))


def test_camel_case_twins_of_snake_case_keys_are_not_read(governed, unchanged) -> None:
    """Quorum reads MLflow's snake_case names only: a camelCase twin cannot override what was checked."""
    client, headers = Client(), bearer(governed.owner)
    # A refused governance attempt is audited (issue 20, item 5): the chain grows by that event only.
    with unchanged(audit_only="transition.refused"):
        response = post_raw(
            client,
            "/api/2.0/mlflow/model-versions/transition-stage",
            json.dumps(
                {
                    "name": "scoring",
                    "version": "1",
                    "stage": "Production",
                    "archive_existing_versions": False,
                    "archiveExistingVersions": True,
                }
            ),
            headers,
        )
        assert_mlflow_error(response, "PERMISSION_DENIED", 403)


# --- Unicode tricks in names -------------------------------------------------------------------------

SPOOFED_NAMES = [
    "fraud\u202egnp.exe",  # right-to-left override
    "fraud\u2066x\u2069",  # bidi isolates
    "fr\u200baud",  # zero-width space
    "fr\u200daud",  # zero-width joiner
    "\ufefffraud",  # byte-order mark
    "fraud\x07",  # bell
    "fraud\x1b[31m",  # terminal escape
    "fraud\u0085",  # next line (C1)
    "fraud\nProduction",
    "fraud\x00",
    "\u00adfraud",  # soft hyphen
]


def test_names_with_control_or_format_characters_are_refused_everywhere(cast, unchanged) -> None:
    client, headers = Client(), bearer(cast.owner)
    for name in SPOOFED_NAMES:
        with unchanged():
            assert_native_error(post_raw(client, f"{NATIVE}/models", json.dumps({"name": name}), headers))
            for prefix in MLFLOW_PREFIXES:
                response = post_raw(
                    client, f"{prefix}/registered-models/create", json.dumps({"name": name}), headers
                )
                assert_mlflow_error(response)


def test_aliases_with_a_trailing_newline_or_spoofing_characters_are_refused(governed, unchanged) -> None:
    client, headers = Client(), bearer(governed.owner)
    for alias in ("champion\n", "candidate\n", "cand\u200bidate", "c\u0430ndidate", "candidate\r"):
        with unchanged():
            response = client.put(
                f"{NATIVE}/models/scoring/aliases/{quote(alias)}",
                json.dumps({"version": 1}),
                content_type="application/json",
                headers=headers,
            )
            assert_native_error(response, (400, 404))
            response = post_raw(
                client,
                "/api/2.0/mlflow/registered-models/alias",
                json.dumps({"name": "scoring", "alias": alias, "version": "1"}),
                headers,
            )
            assert_mlflow_error(response)


def test_renaming_to_a_spoofed_name_is_refused(governed, unchanged) -> None:
    client, headers = Client(), bearer(governed.owner)
    for name in SPOOFED_NAMES:
        with unchanged():
            assert_native_error(
                post_raw(client, f"{NATIVE}/models/scoring/rename", json.dumps({"new_name": name}), headers)
            )
            response = post_raw(
                client,
                "/api/2.0/mlflow/registered-models/rename",
                json.dumps({"name": "scoring", "new_name": name}),
                headers,
            )
            assert_mlflow_error(response)


def test_a_look_alike_name_is_a_different_model_that_inherits_nothing(governed, client_for) -> None:
    """Documented decision (docs/security.md): NFKC look-alikes are distinct names, never aliases.

    Fullwidth 'ｓｃｏｒｉｎｇ' normalizes (NFKC) to 'scoring' but is stored and compared exactly; it gets
    no grant, alias, policy or request of 'scoring', and lookups never fold one into the other.
    """
    look_alike = "ｓｃｏｒｉｎｇ"
    response = client_for(governed.owner).post(f"{NATIVE}/models", {"name": look_alike}, format="json")
    assert response.status_code == 201, response.content
    assert client_for(governed.outsider).get(f"{NATIVE}/models/{look_alike}").status_code == 404
    assert client_for(governed.outsider).get(f"{NATIVE}/models/scoring").status_code == 200
    listed = client_for(governed.owner).get(f"{NATIVE}/models", {"name": "scoring"}).json()
    names = [row["name"] for row in listed["results"]] if isinstance(listed, dict) else listed
    assert look_alike not in str(names)


# --- Oversized input -----------------------------------------------------------------------------


def test_oversized_names_tags_and_descriptions_are_refused(governed, unchanged) -> None:
    client, headers = Client(), bearer(governed.owner)
    too_long = {
        f"{NATIVE}/models": {"name": "m" * 257},
        f"{NATIVE}/models/scoring/tags": {"key": "k" * 251, "value": "v"},
        f"{NATIVE}/models/scoring/versions/1/tags": {"key": "k", "value": "v" * 5001},
    }
    with unchanged():
        for url, body in too_long.items():
            assert_native_error(post_raw(client, url, json.dumps(body), headers))
        response = client.patch(
            f"{NATIVE}/models/scoring",
            json.dumps({"description": "d" * 100_001}),
            content_type="application/json",
            headers=headers,
        )
        assert_native_error(response)
        mlflow_cases = {
            "registered-models/create": {"name": "m" * 257},
            "registered-models/set-tag": {"name": "scoring", "key": "k" * 251, "value": "v"},
            "model-versions/set-tag": {"name": "scoring", "version": "1", "key": "k", "value": "v" * 5001},
            "registered-models/alias": {"name": "scoring", "alias": "a" * 256, "version": "1"},
        }
        for endpoint, body in mlflow_cases.items():
            assert_mlflow_error(post_raw(client, f"/api/2.0/mlflow/{endpoint}", json.dumps(body), headers))
        response = client.patch(
            "/api/2.0/mlflow/registered-models/update",
            json.dumps({"name": "scoring", "description": "d" * 100_001}),
            content_type="application/json",
            headers=headers,
        )
        assert_mlflow_error(response)


def test_a_body_over_the_size_limit_is_a_413_before_any_parsing(governed, unchanged) -> None:
    client, headers = Client(), bearer(governed.owner)
    body = json.dumps({"name": "big", "description": "x" * (settings.QUORUM_MAX_BODY_BYTES + 10)})
    with unchanged():
        for url in (f"{NATIVE}/models", "/api/2.0/mlflow/registered-models/create"):
            response = post_raw(client, url, body, headers)
            assert response.status_code == 413, response.content[:200]


def test_more_query_parameters_than_django_accepts_are_a_400_on_every_api(governed, unchanged) -> None:
    """Django refuses the query string where a view first reads it; that is a 400 in the API's format,
    read or write, cached answer or not, never a 500."""
    client, headers = Client(), bearer(governed.owner)
    too_many = "&".join(f"k{i}=v" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    with unchanged():
        for url in (f"{NATIVE}/models", f"{NATIVE}/models/scoring/versions", f"{NATIVE}/audit/events"):
            assert_native_error(client.get(f"{url}?{too_many}", headers=headers))
        for endpoint in (
            "registered-models/alias?name=scoring&alias=champion",
            "model-versions/get?name=scoring&version=1",
            "registered-models/get?name=scoring",
            "registered-models/search?max_results=5",
            "model-versions/get-download-uri?name=scoring&version=1",
        ):
            for prefix in MLFLOW_PREFIXES:
                assert_mlflow_error(client.get(f"{prefix}/{endpoint}&{too_many}", headers=headers))


# --- Filter-grammar abuse over HTTP --------------------------------------------------------------

HOSTILE_FILTERS = [
    "name = 'scoring' OR name = 'hidden-model'",
    "name = 'scoring' or 1=1",
    "name = 'x' UNION SELECT password FROM accounts_user",
    "name = 'x'; DROP TABLE registry_registeredmodel; --",
    "name = 'x' -- comment",
    "name = 'sc''oring'",
    'name = "sc\\"oring"',
    "name = 'scoring",
    "name = '''",
    "name LIKE '%' AND (name = 'a' OR name = 'b')",
    "(" * 500 + "name = 'a'" + ")" * 500,
    "name IN (" + ",".join(f"'m{i}'" for i in range(5000)) + ")",
    "name = 'a' AND " * 2000 + "name = 'b'",
    "name = 'a\x00'",
    "tags.`a`b` = 'c'",
    "tags.\"x\" = 'y' AND tags.'x",
    "name IS NULL",
    "name = ?",
    "name = %s",
    "version_number >= 99999999999999999999999",
]


def test_hostile_filters_never_error_or_leak_on_either_api(governed, hidden_model, cast) -> None:
    native, mlflow = Client(), Client()
    headers = bearer(governed.outsider)
    for text in HOSTILE_FILTERS:
        for response in (
            native.get(f"{NATIVE}/models", {"filter": text}, headers=headers),
            native.get(f"{NATIVE}/models/scoring/versions", {"filter": text}, headers=headers),
            mlflow.get("/api/2.0/mlflow/registered-models/search", {"filter": text}, headers=headers),
            mlflow.get("/api/2.0/mlflow/model-versions/search", {"filter": text}, headers=headers),
        ):
            assert response.status_code in (200, 400), (
                text[:80],
                response.status_code,
                response.content[:200],
            )
            assert "error_code" in response.json() if response.status_code == 400 else True
            assert b"hidden-model" not in response.content, text[:80]


# --- Permission escalation ------------------------------------------------------------------------


def test_governed_stage_and_alias_cannot_be_set_directly_through_any_route(governed, unchanged) -> None:
    """Even the model's owner (MANAGE) must go through an approved request for Production and @champion.

    Each refusal is audited (issue 20, item 5: `transition.refused`), and nothing else changes."""
    client, headers = Client(), bearer(governed.owner)
    with unchanged(audit_only="transition.refused"):
        response = client.put(
            f"{NATIVE}/models/scoring/aliases/champion",
            json.dumps({"version": 1}),
            content_type="application/json",
            headers=headers,
        )
        assert_native_error(response, 403)
        response = post_raw(
            client,
            f"{NATIVE}/models/scoring/versions/1/stage",
            json.dumps({"stage": "Production", "archive_existing_versions": False}),
            headers,
        )
        assert_native_error(response, 403)
        for prefix in MLFLOW_PREFIXES:
            response = post_raw(
                client,
                f"{prefix}/registered-models/alias",
                json.dumps({"name": "scoring", "alias": "champion", "version": "1"}),
                headers,
            )
            assert_mlflow_error(response, "PERMISSION_DENIED", 403)
            for stage in ("Production", "production", "PRODUCTION"):
                response = post_raw(
                    client,
                    f"{prefix}/model-versions/transition-stage",
                    json.dumps({"name": "scoring", "version": "1", "stage": stage}),
                    headers,
                )
                assert_mlflow_error(response, "PERMISSION_DENIED", 403)


def test_the_admin_offers_no_way_to_edit_versions_or_aliases(governed, client, unchanged) -> None:
    from registry.models import ModelVersion

    governed.owner.is_staff = True
    governed.owner.save()
    client.force_login(governed.owner)  # audited login: before the snapshot
    version = ModelVersion.objects.get(model__name="scoring", version=1)
    with unchanged():
        response = client.post(
            f"/admin/registry/modelversion/{version.pk}/change/", {"stage": "Production", "version": 1}
        )
        assert response.status_code == 403
        assert client.post("/admin/registry/modelversion/add/", {"stage": "Production"}).status_code == 403


def test_self_approval_is_refused_on_every_route(governed, file_request, unchanged, client) -> None:
    request = file_request(2, stage="Production")
    api, headers = Client(), bearer(governed.editor)
    governed.editor.is_staff = True
    governed.editor.save()
    client.force_login(governed.editor)  # a login is itself audited, so it happens before the snapshot
    with unchanged(audit_only="approval.refused"):  # refusals are audited (issue 20, item 5)
        response = post_raw(
            api, f"{NATIVE}/requests/{request.pk}/approve", json.dumps({"comment": "mine"}), headers
        )
        assert_native_error(response, 403)
        response = post_raw(
            api,
            "/api/2.0/mlflow/transition-requests/approve",
            json.dumps({"name": "scoring", "version": "2", "stage": "Production", "comment": "mine"}),
            headers,
        )
        assert_native_error(response, 403)
        response = client.post(
            f"/admin/approvals/{request.pk}/decide", {"decision": "approve", "comment": "mine"}
        )
        assert response.status_code == 302  # back to the request page with the refusal as a message
    from workflows.models import Approval

    assert not Approval.objects.filter(request=request).exists()


def test_approving_without_the_rank_or_twice_is_refused(governed, file_request, unchanged) -> None:
    request = file_request(2, stage="Production")
    api = Client()
    with unchanged(audit_only="approval.refused"):  # refusals are audited (issue 20, item 5)
        response = post_raw(
            api,
            f"{NATIVE}/requests/{request.pk}/approve",
            json.dumps({"comment": "looks fine"}),
            bearer(governed.outsider),
        )
        assert_native_error(response, 403)
    approver = bearer(governed.approver)
    response = post_raw(
        api,
        f"{NATIVE}/requests/{request.pk}/approve",
        json.dumps({"comment": "ok", "signature": signature_of(governed.approver)}),
        approver,
    )
    assert response.status_code == 200, response.content
    with unchanged(audit_only="approval.refused"):
        response = post_raw(
            api, f"{NATIVE}/requests/{request.pk}/approve", json.dumps({"comment": "again"}), approver
        )
        assert_native_error(response, (400, 403, 409))
        response = post_raw(
            api,
            "/api/2.0/mlflow/transition-requests/approve",
            json.dumps({"name": "scoring", "version": "2", "stage": "Production", "comment": "again"}),
            approver,
        )
        assert_native_error(response, (400, 403, 409))


def test_another_teams_model_is_missing_through_every_route(governed, hidden_model, unchanged) -> None:
    """A spot check per surface; tests/accounts/test_idor.py covers every route and role exhaustively."""
    client, headers = Client(), bearer(governed.outsider)
    with unchanged():
        assert_native_error(client.get(f"{NATIVE}/models/hidden-model", headers=headers), 404)
        assert_native_error(
            post_raw(client, f"{NATIVE}/models/hidden-model/versions", '{"source": "s3://b/x"}', headers), 404
        )
        response = client.get(
            "/api/2.0/mlflow/registered-models/get", {"name": "hidden-model"}, headers=headers
        )
        assert_mlflow_error(response, "RESOURCE_DOES_NOT_EXIST", 404)
        response = client.get(
            "/api/2.0/mlflow-artifacts/artifacts/quorum-models/hidden-model/1/MLmodel", headers=headers
        )
        assert response.status_code == 404
        response = client.get(f"{NATIVE}/resolve", {"uri": "models:/hidden-model/latest"}, headers=headers)
        assert_native_error(response, 404)


def test_a_deactivated_users_token_and_password_stop_working_everywhere(governed, unchanged) -> None:
    import base64

    token = api_token_for(governed.owner)
    governed.owner.set_password("owner-pw-123!")
    governed.owner.is_active = False
    governed.owner.save()
    basic = "Basic " + base64.b64encode(b"owner:owner-pw-123!").decode()
    client = Client()
    from audit.models import Action

    with unchanged(audit_only=Action.LOGIN_FAILED):
        for auth in (
            f"Bearer {token}",
            basic,
            "Basic " + base64.b64encode(f"owner:{token}".encode()).decode(),
        ):
            headers = {"Authorization": auth}
            assert_native_error(client.get(f"{NATIVE}/models/scoring", headers=headers), 401)
            assert_native_error(post_raw(client, f"{NATIVE}/models", '{"name": "sneaky"}', headers), 401)
            response = post_raw(
                client, "/api/2.0/mlflow/registered-models/create", '{"name": "sneaky"}', headers
            )
            assert_mlflow_error(response, "UNAUTHENTICATED", 401)


# --- Symlinks under an allowed root ------------------------------------------------------------------


def test_a_source_folder_that_is_a_symlink_out_of_the_allowed_root_is_never_read(
    cast, client_for, tmp_path, settings, django_capture_on_commit_callbacks
) -> None:
    """The path is under the root by name only: its real location is outside, so nothing is hashed or copied."""
    root = tmp_path / "artifacts"
    outside = tmp_path / "outside"
    (root / "team").mkdir(parents=True)
    outside.mkdir()
    (outside / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: x\n")
    (outside / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----\n")
    (root / "team" / "innocent").symlink_to(outside, target_is_directory=True)
    (root / "linked-parent").symlink_to(outside.parent, target_is_directory=True)
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [root]
    api = client_for(cast.owner)
    assert api.post(f"{NATIVE}/models", {"name": "fraud"}, format="json").status_code == 201
    for source in (f"{root}/team/innocent", f"file://{root}/linked-parent/outside"):
        with django_capture_on_commit_callbacks(execute=True):  # the in-process validation job
            response = api.post(f"{NATIVE}/models/fraud/versions", {"source": source}, format="json")
        if response.status_code == 400:
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
            continue
        assert response.status_code == 201, response.content
        body = api.get(f"{NATIVE}/models/fraud/versions/{response.json()['version']}").json()
        assert body["status"] == "FAILED_REGISTRATION", body
        assert "allowed" in body["status_message"] or "outside" in body["status_message"], body
        evidence = api.get(f"{NATIVE}/models/fraud/versions/{body['version']}/artifacts").json()
        assert "id_rsa" not in json.dumps(evidence), evidence


def test_a_source_folder_swapped_for_a_symlink_after_registration_is_not_copied(
    cast, client_for, tmp_path, settings, django_capture_on_commit_callbacks
) -> None:
    """Registration saw a real folder; the copy re-checks the real path before reading a byte."""
    root, outside = tmp_path / "artifacts", tmp_path / "outside"
    for folder in (root / "model", outside):
        folder.mkdir(parents=True)
        (folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: x\n")
    (outside / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----\n")
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [root]
    settings.QUORUM_GOVERNED_STORE = f"file://{tmp_path / 'governed'}"
    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(root)]  # not a scope test
    api = client_for(cast.owner)
    assert api.post(f"{NATIVE}/models", {"name": "fraud"}, format="json").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{NATIVE}/models/fraud/versions", {"source": str(root / "model")}, format="json")
    assert api.get(f"{NATIVE}/models/fraud/versions/1").json()["status"] == "READY"

    (root / "model").rename(root / "model-moved")
    (root / "model").symlink_to(outside, target_is_directory=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{NATIVE}/models/fraud/versions/1/governed-copy")
    assert response.status_code == 202, response.content
    job = api.get(f"{NATIVE}/artifact-jobs/{response.json()['id']}").json()
    assert job["status"] == "failed", job
    assert "QUORUM_ALLOWED_LOCAL_ROOTS" in job["error"], job["error"]
    assert not any((tmp_path / "governed").rglob("id_rsa"))
