"""The permission matrix: every endpoint, driven by every member of the cast, against the issue's table.

Each row names the level the issue's table requires for the operation (READ sees, EDIT changes
versions/descriptions/tags/ungoverned aliases and stages, MANAGE grants, renames and deletes).
The expected outcome for a role follows from that level alone: anonymous 401; a role that cannot
see 'fraud' 404 (hidden == missing); a role that sees it without the level 403; otherwise success.
The same rows are rendered into README.md's security section, and each row's level must match
the route's declared rule in accounts/routes.py.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import transaction
from django.urls import resolve

from access.grants import Level
from accounts.routes import rule_for
from tests.fixtures_access import CAST_ROLES, GLOBAL_ROLES, ROLE_LEVELS

# Global grants count for reads and writes alike: their roles are driven through every row too.
MATRIX_ROLES = CAST_ROLES + GLOBAL_ROLES

pytestmark = pytest.mark.django_db

ANY = "any"  # any signed-in user; the answer is filtered to what they may see
CREATE = "create"  # the global registry.add_registeredmodel grant (manager has it)
SUPERUSER = "superuser"


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    requires: Level | str
    success: int
    body: dict | None = None
    query: str = ""
    signed: bool = False  # a decision the policy requires to be an electronic signature

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}{'?' + self.query if self.query else ''}"


R, E, M = Level.READ, Level.EDIT, Level.MANAGE
V = "/api/v1"
NATIVE_ROWS = [
    Row("GET", f"{V}/models", ANY, 200),
    Row("POST", f"{V}/models", CREATE, 201, {"name": "new-model"}),
    Row("GET", f"{V}/models/fraud", R, 200),
    Row("PATCH", f"{V}/models/fraud", E, 200, {"description": "changed"}),
    Row("DELETE", f"{V}/models/fraud", M, 204),
    Row("POST", f"{V}/models/fraud/rename", M, 200, {"new_name": "fraud-2"}),
    Row("POST", f"{V}/models/fraud/tags", E, 200, {"key": "owner", "value": "risk"}),
    Row("DELETE", f"{V}/models/fraud/tags/team", E, 204),
    Row("GET", f"{V}/models/fraud/aliases", R, 200),
    Row("GET", f"{V}/models/fraud/aliases/candidate", R, 200),
    Row("PUT", f"{V}/models/fraud/aliases/candidate", E, 200, {"version": 2}),
    Row("DELETE", f"{V}/models/fraud/aliases/candidate", E, 204),
    Row("GET", f"{V}/models/fraud/versions", R, 200),
    Row("POST", f"{V}/models/fraud/versions", E, 201, {"source": "s3://bucket/fraud/3"}),
    Row("GET", f"{V}/models/fraud/versions/1", R, 200),
    Row("PATCH", f"{V}/models/fraud/versions/1", E, 200, {"description": "changed"}),
    Row("DELETE", f"{V}/models/fraud/versions/1", M, 204),
    Row("POST", f"{V}/models/fraud/versions/1/stage", E, 200, {"stage": "Archived"}),
    Row("POST", f"{V}/models/fraud/versions/1/tags", E, 200, {"key": "k2", "value": "v"}),
    Row("DELETE", f"{V}/models/fraud/versions/1/tags/k", E, 204),
    Row("GET", f"{V}/versions", ANY, 200),
    Row("GET", f"{V}/resolve", R, 200, query="uri=models:/fraud@candidate"),
    # Access management
    Row("GET", f"{V}/models/fraud/grants", M, 200),
    Row("POST", f"{V}/models/fraud/grants", M, 201, {"user": "outsider", "level": "READ"}),
    Row("DELETE", f"{V}/models/fraud/grants/users/reader/READ", M, 204),
    Row("DELETE", f"{V}/models/fraud/grants/teams/model-risk/APPROVE_PRODUCTION", M, 204),
    Row("GET", f"{V}/users/me/access", ANY, 200),
    Row("GET", f"{V}/access-report", ANY, 200),
    Row("GET", f"{V}/access-report", ANY, 200, query="output=csv"),
    Row("GET", f"{V}/tokens", ANY, 200),
    Row("POST", f"{V}/tokens", ANY, 201, {"name": "laptop", "expires_in_days": 30}),
    Row("GET", f"{V}/teams", ANY, 200),
    Row("GET", f"{V}/teams/model-risk", ANY, 200),
    Row("POST", f"{V}/teams", SUPERUSER, 201, {"name": "new-team"}),
    Row("POST", f"{V}/teams/model-risk/members", SUPERUSER, 200, {"username": "reader"}),
    Row("DELETE", f"{V}/teams/model-risk/members/production-approver", SUPERUSER, 204),
]

ML = "/api/2.0/mlflow"
MLFLOW_ROWS = [
    Row("POST", f"{ML}/registered-models/create", CREATE, 200, {"name": "new-model"}),
    Row("GET", f"{ML}/registered-models/get", R, 200, query="name=fraud"),
    Row("GET", f"{ML}/registered-models/search", ANY, 200),
    Row("PATCH", f"{ML}/registered-models/update", E, 200, {"name": "fraud", "description": "changed"}),
    Row("POST", f"{ML}/registered-models/rename", M, 200, {"name": "fraud", "new_name": "fraud-2"}),
    Row("DELETE", f"{ML}/registered-models/delete", M, 200, {"name": "fraud"}),
    Row("POST", f"{ML}/registered-models/set-tag", E, 200, {"name": "fraud", "key": "o", "value": "r"}),
    Row("DELETE", f"{ML}/registered-models/delete-tag", E, 200, {"name": "fraud", "key": "team"}),
    Row("GET", f"{ML}/registered-models/get-latest-versions", R, 200, query="name=fraud"),
    Row("POST", f"{ML}/registered-models/get-latest-versions", R, 200, {"name": "fraud"}),
    Row("GET", f"{ML}/registered-models/alias", R, 200, query="name=fraud&alias=candidate"),
    Row(
        "POST",
        f"{ML}/registered-models/alias",
        E,
        200,
        {"name": "fraud", "alias": "candidate", "version": "2"},
    ),
    Row("DELETE", f"{ML}/registered-models/alias", E, 200, {"name": "fraud", "alias": "candidate"}),
    Row("POST", f"{ML}/model-versions/create", E, 200, {"name": "fraud", "source": "s3://bucket/fraud/3"}),
    Row(
        "PATCH", f"{ML}/model-versions/update", E, 200, {"name": "fraud", "version": "1", "description": "d"}
    ),
    Row(
        "POST",
        f"{ML}/model-versions/transition-stage",
        E,
        200,
        {"name": "fraud", "version": "1", "stage": "Archived", "archive_existing_versions": False},
    ),
    Row("DELETE", f"{ML}/model-versions/delete", M, 200, {"name": "fraud", "version": "1"}),
    Row("GET", f"{ML}/model-versions/get", R, 200, query="name=fraud&version=1"),
    Row("GET", f"{ML}/model-versions/search", ANY, 200, query="filter=name='fraud'"),
    Row("GET", f"{ML}/model-versions/get-download-uri", R, 200, query="name=fraud&version=1"),
    Row(
        "POST",
        f"{ML}/model-versions/set-tag",
        E,
        200,
        {"name": "fraud", "version": "1", "key": "a", "value": "b"},
    ),
    Row("DELETE", f"{ML}/model-versions/delete-tag", E, 200, {"name": "fraud", "version": "1", "key": "k"}),
    Row("GET", "/api/3.0/mlflow/server-info", ANY, 200),
    # Artifact download through the proxy (version 3 of 'fraud' has local artifacts)
    Row("GET", "/api/2.0/mlflow-artifacts/artifacts", R, 200, query="path=quorum-models/fraud/3"),
    Row("GET", "/api/2.0/mlflow-artifacts/artifacts/quorum-models/fraud/3/MLmodel", R, 200),
]
REQUESTER = "requester"  # the request's requester (editor), or MANAGE
S, P = Level.APPROVE_STAGING, Level.APPROVE_PRODUCTION
# Promotion requests on 'fraud' v3, filed by the editor (who also registered that version).
WORKFLOW_ROWS = [
    Row("GET", f"{V}/models/fraud/requests", R, 200),
    Row("POST", f"{V}/models/fraud/requests", R, 201, {"version": 1, "stage": "Staging", "reason": "ready"}),
    Row("GET", f"{V}/requests", ANY, 200),
    Row("GET", f"{V}/requests/{{staging}}", R, 200),
    Row("POST", f"{V}/requests/{{staging}}/approve", S, 200, {"comment": "ok"}),
    Row("POST", f"{V}/requests/{{staging}}/reject", S, 200, {"comment": "no"}),
    Row("POST", f"{V}/requests/{{production}}/approve", P, 200, {"comment": "ok"}, signed=True),
    Row("POST", f"{V}/requests/{{production}}/reject", P, 200, {"comment": "no"}, signed=True),
    Row("POST", f"{V}/requests/{{staging}}/cancel", REQUESTER, 200, {"comment": "withdrawn"}),
    Row("POST", f"{V}/requests/{{staging}}/comments", R, 201, {"comment": "looks fine"}),
    Row("GET", f"{V}/models/fraud/policies", R, 200),
    Row("PUT", f"{V}/models/fraud/policies/alias/challenger", M, 200, {"required_approvals": 1}),
]
# Other native routes: artifacts, timeline, webhooks and audit lists (filtered to what one may see).
OTHER_ROWS = [
    Row("GET", f"{V}/models/fraud/versions/3/artifacts", R, 200),
    Row("GET", f"{V}/models/fraud/versions/1/timeline", R, 200),
    Row("GET", f"{V}/artifact-jobs", ANY, 200),
    Row("GET", f"{V}/webhooks", ANY, 200),
    Row("GET", f"{V}/audit/events", ANY, 200),
    Row("GET", f"{V}/audit/reports/access-changes", ANY, 200),
]
ALL_ROWS = NATIVE_ROWS + MLFLOW_ROWS + WORKFLOW_ROWS + OTHER_ROWS


@pytest.fixture
def fraud_with_local_artifacts(access_cast, settings, tmp_path):
    """Version 3 of 'fraud' stored in an allowed local folder, so the artifact proxy can serve it."""
    from registry import services as registry

    settings.QUORUM_ARTIFACT_ROOT = tmp_path
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path]
    settings.QUORUM_SOURCE_PREFIXES = [*settings.QUORUM_SOURCE_PREFIXES, str(tmp_path)]  # not a scope test
    folder = tmp_path / "fraud" / "3"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("artifact_path: model\nflavors:\n  python_function: {}\n")
    registry.model_version_create(actor=access_cast.manager, name="fraud", source=str(folder))
    # Validated: the proxy serves only versions that passed validation (issue 19; a pending version was
    # served before, which these rows' 200s relied on).
    from tests.fixtures_workflow import pipeline_run_queued

    pipeline_run_queued()
    return access_cast


@pytest.fixture
def promotion_requests(fraud_with_local_artifacts, tmp_path) -> dict[str, int]:
    """A Staging and a Production request for a version the editor registered and requested."""
    from registry import services as registry
    from tests.fixtures_workflow import pipeline_run_queued
    from workflows import services as workflows

    cast = fraud_with_local_artifacts
    folder = tmp_path / "fraud" / "editor"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("artifact_path: model\nflavors:\n  python_function: {}\n")
    version = registry.model_version_create(actor=cast.editor, name="fraud", source=str(folder))
    pipeline_run_queued()  # validated: a signature binds to the artifacts' digest
    ids = {}
    for key, stage in (("staging", "Staging"), ("production", "Production")):
        filed = workflows.transition_request_create(
            actor=cast.editor,
            name="fraud",
            version=version.version,
            target_kind="stage",
            target=stage,
            reason="r",
        )
        ids[key] = filed.pk
    return ids


def expected_status(row: Row, role: str) -> int:
    if role == "anonymous":
        return 401
    if row.requires == REQUESTER:
        if Level.READ not in ROLE_LEVELS[role]:
            return 404
        return row.success if role in ("editor", "manager", "superuser", "global_manager") else 403
    if row.requires == ANY:
        return row.success
    if row.requires == CREATE:
        return row.success if role in ("manager", "superuser") else 403
    if row.requires == SUPERUSER:
        return row.success if role == "superuser" else 403
    held = ROLE_LEVELS[role]
    if Level.READ not in held:
        return 404
    return row.success if row.requires in held else 403


MATRIX_SIGNING_PASSWORD = "matrix-signing-pw-1!"


def _signed_body(client, body: dict) -> dict:
    """Sign as the client's person: give them a password and a printed name (rolled back with the call)."""
    user = getattr(client, "user", None)
    if user is None:
        return body
    user.set_password(MATRIX_SIGNING_PASSWORD)
    user.first_name, user.last_name = user.username, "Matrix"
    user.save(update_fields=["password", "first_name", "last_name"])
    return body | {"signature": {"password": MATRIX_SIGNING_PASSWORD, "meaning": "Approved for production"}}


def _send(client, row: Row, ids: dict[str, int]):
    path = row.path.format(**ids) + (f"?{row.query}" if row.query else "")
    body = _signed_body(client, row.body or {}) if row.signed else row.body
    return (
        getattr(client, row.method.lower())(path, body, format="json")
        if body
        else getattr(client, row.method.lower())(path)
    )


def outcome_mismatches(row: Row, client_for_role, ids: dict[str, int] | None = None) -> list[str]:
    """Drive one row with every role, each inside a rolled-back transaction, and list what differs."""
    mismatches = []
    for role in MATRIX_ROLES:
        with transaction.atomic():
            response = _send(client_for_role(role), row, ids or {})
            transaction.set_rollback(True)
        expected = expected_status(row, role)
        if response.status_code != expected:
            mismatches.append(
                f"{role}: expected {expected}, got {response.status_code} {response.content[:200]!r}"
            )
            continue
        if response.status_code >= 400:
            body = response.json()
            if not {"error_code", "message"} <= set(body):
                mismatches.append(f"{role}: error body without error_code/message: {body}")
            elif (
                response.status_code == 403
                and isinstance(row.requires, Level)
                and row.requires.value not in body["message"]
                and "Four-eyes" not in body["message"]  # the requester refused for being the requester
            ):
                mismatches.append(f"{role}: 403 does not name the missing level {row.requires.value}: {body}")
    return mismatches


@pytest.mark.parametrize(
    "rows",
    [NATIVE_ROWS, MLFLOW_ROWS, WORKFLOW_ROWS + OTHER_ROWS],
    ids=["native", "mlflow-and-downloads", "workflows-and-more"],
)
def test_every_endpoint_answers_as_the_issue_table_says(rows: list[Row], api_as, promotion_requests) -> None:
    # One cast for all rows (building it is the slow part); each request is rolled back, so every
    # role meets the same state. All mismatches are reported together, row by row.
    mismatches = [
        f"{row.label} -- {problem}"
        for row in rows
        for problem in outcome_mismatches(row, api_as, promotion_requests)
    ]
    assert mismatches == [], "\n".join(mismatches)


@pytest.mark.parametrize("row", ALL_ROWS, ids=lambda r: r.label)
def test_matrix_row_level_matches_the_declared_route_rule(row: Row) -> None:
    match = resolve(row.path.format(staging=1, production=2))
    rule = rule_for(match.view_name, row.method)
    assert rule is not None, f"{row.label}: no rule declared for {match.view_name}"
    if isinstance(row.requires, Level) and rule.level is None:
        # Approvals: the level depends on the request's target, so the rule names both.
        assert row.requires.value in rule.note, f"{row.label}: rule does not mention {row.requires.value}"
    elif isinstance(row.requires, Level):
        assert rule.level == row.requires, (
            f"{row.label}: rule says {rule.level}, the issue's table {row.requires}"
        )


def test_visible_lists_follow_the_cast(api_as, access_cast) -> None:
    for role in MATRIX_ROLES[1:]:
        names = [m["name"] for m in api_as(role).get(f"{V}/models").json()["results"]]
        sees_fraud = Level.READ in ROLE_LEVELS[role]
        assert ("fraud" in names) == sees_fraud, (role, names)
        everywhere = role == "superuser" or role in GLOBAL_ROLES
        assert ("secret-model" in names) == everywhere, (role, names)


# --- README ---------------------------------------------------------------------------------

SHORT = {401: "401", 403: "403", 404: "404"}


def matrix_markdown() -> str:
    header = "| Endpoint | Needs | " + " | ".join(MATRIX_ROLES) + " |"
    lines = [header, "|" + "---|" * (len(MATRIX_ROLES) + 2)]
    for row in ALL_ROWS:
        needs = row.requires.value if isinstance(row.requires, Level) else row.requires
        cells = [str(expected_status(row, role)) for role in MATRIX_ROLES]
        lines.append(f"| `{row.label.replace(V, '')}` | {needs} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_readme_security_section_shows_the_tested_matrix() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert matrix_markdown() in readme, "README's permission matrix is stale; paste matrix_markdown() output"
