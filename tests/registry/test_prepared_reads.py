"""The prepared serving reads (registry/hot_reads.py) answer exactly what the ORM path answers,
for every kind of caller and version state. PostgreSQL only (in CI a failure, not a skip)."""

import pytest

from accounts import services as account_services
from accounts.permissions import Level
from accounts.services import Principal
from registry import hot_reads, selectors, services
from registry.mlflow_api.render import model_version_json
from registry.models import ModelVersion
from tests.conftest import make_user
from tests.fixtures_foundation import grant_level, postgres_or_skip


def _orm(user, name: str, *, alias: str | None = None, version: int | None = None):
    rows = ModelVersion.objects.filter(model__in=selectors._visible_model_pk(user, name))
    rows = rows.filter(aliases__alias=alias) if alias is not None else rows.filter(version=version)
    found = selectors.version_detail_queryset(rows).first()
    return model_version_json(found) if found is not None else None


def _hot(user, name: str, *, alias: str | None = None, version: int | None = None):
    if alias is not None:
        found = hot_reads.version_by_alias(user, name, alias)
    else:
        found = hot_reads.version_by_number(user, name, version)
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
    assert hot_reads.version_by_number(registry_state["owner"], "fraud", number) is None
