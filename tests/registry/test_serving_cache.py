"""The serving cache (config/serving.py): alias and version answers and verified tokens are reused
only while the database's serving generation stands, so no change is ever missed.

These tests commit for real (transactional_db): the generation moves at COMMIT. PostgreSQL only;
in CI a non-PostgreSQL database fails them instead of skipping.
"""

import threading

import psycopg2
import pytest
from django.db import connection, connections, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from access.grants import Level
from accounts import services as account_services
from accounts.authentication import user_for_token
from accounts.models import ApiToken, User
from accounts.services import Principal
from config import serving
from registry import selectors, services
from registry.models import ModelAlias, ModelVersion, ModelVersionTag
from tests.fixtures_foundation import grant_level, postgres_or_skip
from tests.fixtures_mlflow import api_token_for

pytestmark = pytest.mark.usefixtures("transactional_db")


def _generation() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {serving.GENERATION_TABLE} WHERE id = 1")
        return cursor.fetchone()[0]


@pytest.fixture
def served(cast, mlflow_as):
    """A model 'fraud' with three versions and alias 'current' -> 1; `reader` reads it through a team grant."""
    postgres_or_skip()
    services.registered_model_create(actor=cast.owner, name="fraud")
    for number in (1, 2, 3):
        services.model_version_create(actor=cast.owner, name="fraud", source=f"s3://bucket/fraud/{number}")
    services.alias_set(actor=cast.owner, name="fraud", alias="current", version=1)
    account_services.team_create(actor=account_services.OPERATOR, name="risk")
    account_services.team_member_add(actor=account_services.OPERATOR, team_name="risk", username="editor")
    account_services.grant_add(
        actor=cast.owner, model_name="fraud", principal=Principal("team", "risk"), level="READ"
    )
    reader = User.objects.get(username="editor")
    return mlflow_as(reader), mlflow_as(cast.owner)


def _alias_version(caller, alias: str = "current") -> str:
    response = caller.get("registered-models/alias", {"name": "fraud", "alias": alias})
    assert response.status_code == 200, response.content
    return response.json()["model_version"]["version"]


def test_a_repeated_alias_read_costs_one_primary_key_read(served):
    reader, _ = served
    first = reader.get("registered-models/alias", {"name": "fraud", "alias": "current"})
    with CaptureQueriesContext(connection) as queries:
        again = reader.get("registered-models/alias", {"name": "fraud", "alias": "current"})
    assert again.content == first.content
    assert [q["sql"] for q in queries.captured_queries] == ["EXECUTE quorum_serving_generation_read"]


def test_a_moved_alias_is_seen_by_the_next_request(served):
    reader, owner = served
    assert _alias_version(reader) == "1"
    for target in ("2", "3", "1"):
        response = owner.post(
            "registered-models/alias", {"name": "fraud", "alias": "current", "version": target}
        )
        assert response.status_code == 200, response.content
        assert _alias_version(reader) == target


def test_changes_made_outside_the_services_are_seen_too(served):
    """The database keeps the generation: ORM bulk paths and another process's SQL count alike."""
    reader, _ = served
    assert _alias_version(reader) == "1"
    version_2 = ModelVersion.objects.get(model__name="fraud", version=2)
    ModelAlias.objects.filter(model__name="fraud", alias="current").update(version=version_2)
    assert _alias_version(reader) == "2"

    ModelVersionTag.objects.bulk_create([ModelVersionTag(version=version_2, key="reviewed", value="yes")])
    body = reader.get("registered-models/alias", {"name": "fraud", "alias": "current"}).json()
    assert body["model_version"]["tags"] == [{"key": "reviewed", "value": "yes"}]

    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    )
    try:
        with other, other.cursor() as cursor:  # commits on leaving the block
            cursor.execute(
                "UPDATE registry_modelalias SET version_id = "
                "(SELECT id FROM registry_modelversion WHERE model_id = registry_modelalias.model_id AND version = 3) "
                "WHERE alias = 'current'"
            )
    finally:
        other.close()
    assert _alias_version(reader) == "3"


def test_access_changes_take_effect_on_the_next_request(served, cast):
    reader, _ = served
    assert _alias_version(reader) == "1"
    account_services.team_member_remove(actor=account_services.OPERATOR, team_name="risk", username="editor")
    hidden = reader.get("registered-models/alias", {"name": "fraud", "alias": "current"})
    assert hidden.status_code == 404
    assert hidden.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    grant_level(cast.editor, Level.READ, selectors.registered_model_get(cast.owner, "fraud"))
    assert _alias_version(reader) == "1"
    User.objects.filter(username="editor").update(is_active=False)
    assert reader.get("registered-models/alias", {"name": "fraud", "alias": "current"}).status_code == 401


def test_a_revoked_token_is_refused_on_the_next_request(served):
    reader, _ = served
    assert _alias_version(reader) == "1"
    token = ApiToken.objects.get(user__username="editor")
    account_services.token_revoke(actor=account_services.OPERATOR, token_id=token.pk)
    assert reader.get("registered-models/alias", {"name": "fraud", "alias": "current"}).status_code == 401


def test_registry_writes_keep_verified_tokens_but_user_changes_do_not(served, cast):
    """Tokens are cached under the accounts generation: only user and token rows move it."""
    reader, owner = served
    assert _alias_version(reader) == "1"
    assert (
        owner.post("model-versions/create", {"name": "fraud", "source": "s3://bucket/fraud/4"}).status_code
        == 200
    )
    with CaptureQueriesContext(connection) as queries:
        assert _alias_version(reader) == "1"  # the answer is read again (the registry changed) ...
    assert not any("token" in q["sql"].lower() for q in queries.captured_queries)  # ... the token is not

    # Deactivating the user moves the accounts generation: refused at once.
    User.objects.filter(username="editor").update(is_active=False)
    assert reader.get("registered-models/alias", {"name": "fraud", "alias": "current"}).status_code == 401


def test_a_renamed_model_answers_under_its_new_name_only(served):
    reader, owner = served
    assert _alias_version(reader) == "1"
    assert (
        owner.post("registered-models/rename", {"name": "fraud", "new_name": "fraud-v2"}).status_code == 200
    )
    gone = reader.get("registered-models/alias", {"name": "fraud", "alias": "current"})
    assert gone.status_code == 404
    moved = reader.get("registered-models/alias", {"name": "fraud-v2", "alias": "current"})
    assert moved.json()["model_version"]["name"] == "fraud-v2"


def test_the_generation_moves_once_per_committed_transaction_and_not_on_use(served):
    reader, owner = served
    before = _generation()
    with transaction.atomic():
        services.model_version_tag_set(
            actor=User.objects.get(username="owner"), name="fraud", version=1, key="a", value="1"
        )
        services.model_version_tag_set(
            actor=User.objects.get(username="owner"), name="fraud", version=2, key="a", value="2"
        )
    assert _generation() == before + 1

    try:
        with transaction.atomic():
            services.model_version_tag_set(
                actor=User.objects.get(username="owner"), name="fraud", version=3, key="a", value="3"
            )
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert _generation() == before + 1

    # Using a token (its last-used time is written) changes nothing any answer shows.
    ApiToken.objects.update(last_used_at=None)
    assert _alias_version(reader) == "1"
    assert _generation() == before + 1


def test_a_request_inside_an_open_transaction_reads_through(served):
    """Its own uncommitted writes are not in the generation yet, so it must not use cached answers."""
    reader, _ = served
    _alias_version(reader)
    with transaction.atomic():
        version_3 = ModelVersion.objects.get(model__name="fraud", version=3)
        ModelAlias.objects.filter(model__name="fraud", alias="current").update(version=version_3)
        assert _alias_version(reader) == "3"
        transaction.set_rollback(True)
    assert _alias_version(reader) == "1"


def test_reads_started_after_a_move_completed_never_see_an_older_version(served, mlflow_as):
    """Linearizable with respect to completed writes, with readers in other threads (connections)."""
    _, owner = served
    reader_user = User.objects.get(username="editor")
    completed = {"version": 1}
    failures: list[str] = []
    stop = threading.Event()

    def read_loop() -> None:
        caller = mlflow_as(reader_user)
        try:
            while not stop.is_set():
                floor = completed["version"]
                seen = int(_alias_version(caller))
                # Versions only move forward in this test, so an older one is a stale answer.
                if seen < floor:
                    failures.append(f"read version {seen} after version {floor} was set")
        finally:
            connections.close_all()

    readers = [threading.Thread(target=read_loop) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for number in range(4, 16):
            services.model_version_create(
                actor=User.objects.get(username="owner"), name="fraud", source=f"s3://b/{number}"
            )
            response = owner.post(
                "registered-models/alias", {"name": "fraud", "alias": "current", "version": str(number)}
            )
            assert response.status_code == 200, response.content
            completed["version"] = number
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=30)
    assert not failures, failures[:5]


def test_basic_credentials_stop_working_at_once_when_the_password_changes(served):
    from django.test import Client

    from tests.fixtures_mlflow import basic_header

    client = Client()
    url = "/api/2.0/mlflow/registered-models/alias"
    params = {"name": "fraud", "alias": "current"}
    old = {"Authorization": basic_header("editor", "editor-pw-123!")}
    assert client.get(url, params, headers=old).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params, headers=old).status_code == 200
    assert [q["sql"] for q in queries.captured_queries] == ["EXECUTE quorum_serving_generation_read"]

    editor = User.objects.get(username="editor")
    editor.set_password("a-new-Pa55word")
    editor.save()
    assert client.get(url, params, headers=old).status_code == 401
    new = {"Authorization": basic_header("editor", "a-new-Pa55word")}
    assert client.get(url, params, headers=new).status_code == 200


def test_global_permission_changes_move_the_generation(served):
    from django.contrib.auth.models import Permission

    before = _generation()
    User.objects.get(username="editor").user_permissions.add(
        Permission.objects.get(codename="add_registeredmodel")
    )
    assert _generation() == before + 1


def test_the_direct_generation_read_gives_the_ordinary_answer_and_is_counted_when_captured(cast):
    """psycopg2's own cursor for the per-request read: same row; still a visible query under capture."""
    postgres_or_skip()
    ordinary = serving.GENERATION_READ.fetchall([])[0]
    assert serving.GENERATION_READ.fetchone_direct() == ordinary
    with CaptureQueriesContext(connection) as queries:
        assert serving.GENERATION_READ.fetchone_direct() == ordinary
    assert [q["sql"] for q in queries.captured_queries] == ["EXECUTE quorum_serving_generation_read"]
    services.registered_model_create(actor=cast.owner, name="direct-read")
    assert serving.GENERATION_READ.fetchone_direct()[0] > ordinary[0]


def _raw_get(caller, endpoint: str, query: str):
    """A GET with the query string exactly as given (the client's encoding is part of the cache key)."""
    return caller.client.get(caller.prefix + endpoint, QUERY_STRING=query, headers=caller.headers)


def test_answers_keyed_by_the_raw_query_string_follow_a_move_in_every_spelling(served):
    """The cache key is the raw query string, so each spelling of the same parameters has its own
    entry; every one of them must still see the next move."""
    reader, owner = served
    spellings = ["name=fraud&alias=current", "alias=current&name=fraud", "name=fr%61ud&alias=current&x=1"]
    for target in ("1", "2"):
        if target != "1":
            moved = owner.post(
                "registered-models/alias", {"name": "fraud", "alias": "current", "version": target}
            )
            assert moved.status_code == 200, moved.content
        for _ in range(2):  # the second read of each spelling is a cache hit
            for query in spellings:
                response = _raw_get(reader, "registered-models/alias", query)
                assert response.status_code == 200, (query, response.content)
                assert response.json()["model_version"]["version"] == target, query
    other = _raw_get(reader, "registered-models/alias", "name=fraud&alias=nope")
    assert other.status_code == 400, other.content  # MLflow's answer for an unknown alias
    assert "alias nope not found" in other.json()["message"]


def test_invalid_parameters_are_refused_on_every_request_never_served_from_the_cache(served):
    reader, _ = served
    assert _raw_get(reader, "model-versions/get", "name=fraud&version=1").status_code == 200
    for _ in range(2):
        for endpoint, query in [
            ("registered-models/alias", "name=fraud"),
            ("registered-models/alias", "name=&alias=current"),
            ("model-versions/get", "name=fraud&version=one"),
            ("model-versions/get", "name=fraud"),
        ]:
            response = _raw_get(reader, endpoint, query)
            assert response.status_code == 400, (endpoint, query, response.content)
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_cached_token_hands_each_request_its_own_user_and_token(served):
    """What one request caches on its user (Django's permission caches, say) must not reach the next."""
    secret = api_token_for(User.objects.get(username="editor"))
    first_user, first_token = user_for_token(secret, RequestFactory().get("/"))
    first_user._perm_cache = {"registry.delete_registeredmodel"}
    first_user.first_name = "changed by a request"
    first_token.name = "changed by a request"
    second_user, second_token = user_for_token(secret, RequestFactory().get("/"))
    assert second_user is not first_user and second_token is not first_token
    assert not hasattr(second_user, "_perm_cache")
    assert second_user.first_name != "changed by a request"
    assert second_token.name != "changed by a request"
    assert second_token.user is second_user  # the copy's relation is the copied user, not the cached one
    assert second_user.pk == first_user.pk and second_token.pk == first_token.pk


def test_head_answers_as_get_does_whether_or_not_the_answer_is_cached(served):
    reader, _ = served
    url = reader.prefix + "registered-models/alias"
    params = {"name": "fraud", "alias": "current"}
    cold = reader.client.head(url, params, headers=reader.headers)  # not cached yet: built from the query
    assert cold.status_code == 200, cold.content
    assert _alias_version(reader) == "1"
    warm = reader.client.head(url, params, headers=reader.headers)  # now a cache hit
    assert warm.status_code == 200
    missing = reader.client.head(url, {"name": "fraud"}, headers=reader.headers)
    assert missing.status_code == 400
