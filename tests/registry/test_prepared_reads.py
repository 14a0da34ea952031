"""The prepared serving reads answer exactly what the selector's queryset answers through the ORM,
for every kind of caller and version state, because they are that queryset, compiled and prepared.
PostgreSQL only (in CI a failure, not a skip)."""

import re

import pytest

from access.grants import Level
from accounts import services as account_services
from accounts.services import Principal
from fronts.mlflow.render import model_version_json
from registry import selectors, services
from tests.conftest import make_user
from tests.fixtures_foundation import grant_level, postgres_or_skip


def _orm(user, name: str, *, alias: str | None = None, version: int | None = None):
    if user is None:
        return None
    rows = selectors.version_served(user, name, alias=alias, version=version)
    found = selectors.version_detail_queryset(rows).first()
    return model_version_json(found) if found is not None else None


def _hot(user, name: str, *, alias: str | None = None, version: int | None = None):
    found = selectors._visible_version(user, name, alias=alias, version=version)
    return model_version_json(found) if found is not None else None


@pytest.fixture
def registry_state(cast):
    postgres_or_skip()
    services.registered_model_create(actor=cast.owner, name="fraud")
    for number in (1, 2, 3):
        services.model_version_create(
            actor=cast.owner,
            name="fraud",
            source=f"s3://bucket/fraud/{number}",
            description=f"v{number}",
            tags=[{"key": "b", "value": "2"}, {"key": "a", "value": "1"}] if number == 2 else [],
        )
    services.alias_set(actor=cast.owner, name="fraud", alias="current", version=2)
    services.alias_set(actor=cast.owner, name="fraud", alias="backup", version=2)
    services.alias_set(actor=cast.owner, name="fraud", alias="old", version=1)
    services.registered_model_create(actor=cast.outsider, name="private")
    services.model_version_create(actor=cast.outsider, name="private", source="s3://bucket/private/1")
    services.alias_set(actor=cast.outsider, name="private", alias="current", version=1)
    account_services.team_create(actor=account_services.OPERATOR, name="risk")
    member = make_user("member")
    account_services.team_member_add(actor=account_services.OPERATOR, team_name="risk", username="member")
    account_services.grant_add(
        actor=cast.owner, model_name="fraud", principal=Principal("team", "risk"), level="READ"
    )
    model = selectors.registered_model_get(cast.owner, "fraud")
    inactive = grant_level(make_user("inactive"), Level.READ, model)
    inactive.is_active = False
    inactive.save()
    callers = {
        "owner": cast.owner,
        "direct reader": grant_level(cast.editor, Level.READ, model),
        "team member": member,
        "outsider": cast.approver,
        "superuser": cast.admin,
        "inactive": inactive,
    }
    return callers


@pytest.mark.parametrize(
    "caller", ["owner", "direct reader", "team member", "outsider", "superuser", "inactive"]
)
def test_hot_reads_answer_what_the_orm_answers(registry_state, caller):
    user = registry_state[caller]
    lookups = [
        {"alias": "current"},
        {"alias": "old"},
        {"alias": "missing"},
        {"version": 1},
        {"version": 2},
        {"version": 9},
    ]
    seen_any = False
    for name in ("fraud", "private", "absent"):
        for lookup in lookups:
            expected = _orm(user, name, **lookup)
            assert _hot(user, name, **lookup) == expected, (caller, name, lookup)
            seen_any = seen_any or expected is not None
    assert seen_any == (caller not in ("outsider", "inactive"))


def test_a_hot_read_shows_tags_and_aliases_in_order(registry_state):
    body = _hot(registry_state["owner"], "fraud", alias="backup")
    assert body["version"] == "2"
    assert body["tags"] == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    assert body["aliases"] == ["backup", "current"]
    assert body["user_id"] == "owner"
    assert body["description"] == "v2"


@pytest.mark.parametrize("number", [2**31, 2**63, 10**30])
def test_a_version_number_beyond_the_column_is_not_found_not_an_error(registry_state, client, number):
    client.force_login(registry_state["owner"])
    response = client.get(f"/api/v1/models/fraud/versions/{number}/timeline")
    assert response.status_code == 404, response.content
    assert selectors._visible_version(registry_state["owner"], "fraud", version=number) is None


def test_the_prepared_statement_is_the_selectors_compiled_sql(registry_state):
    # Derived, not restated: the text PostgreSQL prepares is what the selector's queryset compiles
    # to, with the caller, name and alias as its only parameters.
    from django.db import connection

    from config.prepared import PreparedQuery

    query = selectors._BY_ALIAS
    assert isinstance(query, PreparedQuery)
    sql = query.sql()
    compiled, _ = (
        selectors._served_with_relations(registry_state["owner"].pk, "fraud", alias="current")
        .query.get_compiler(connection=connection)
        .as_sql()
    )
    assert sql.count("$1") >= 5  # the caller's id, at every grant source of the access rule
    assert "$2" in sql and "$3" in sql
    assert re.sub(r"\$\d+", "%s", sql) == compiled.replace("%%", "%")
