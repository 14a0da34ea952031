"""The real mlflow client with Quorum tokens: what a reader, a CI service account and a revoked
token can and cannot do, as MLflow error codes the client understands."""

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException

from accounts import services
from accounts.models import ApiToken
from audit.models import Action, AuditEvent
from tests.fixtures_access import access_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _token(user, name: str) -> str:
    return services.token_create(actor=services.OPERATOR, user=user, name=name).secret


@pytest.fixture
def client_with_token(live_server, mlflow_env):
    def build(secret: str) -> MlflowClient:
        mlflow_env(
            MLFLOW_TRACKING_URI=live_server.url,
            MLFLOW_REGISTRY_URI=live_server.url,
            MLFLOW_TRACKING_TOKEN=secret,
        )
        return MlflowClient()

    return build


def _error_code(exc: MlflowException) -> str:
    return exc.error_code if isinstance(exc, RestException) else exc.get_error_code()


def test_reader_sees_only_their_model_and_is_refused_changes(access_cast, client_with_token) -> None:
    client = client_with_token(_token(access_cast.reader, "laptop"))
    assert client.get_registered_model("fraud").name == "fraud"
    assert [m.name for m in client.search_registered_models()] == ["fraud"]
    assert client.get_model_version_by_alias("fraud", "candidate").version == "1"
    with pytest.raises(MlflowException) as hidden:
        client.get_registered_model("secret-model")
    assert _error_code(hidden.value) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model("no-such-model")
    assert str(hidden.value).replace("secret-model", "X") == str(missing.value).replace("no-such-model", "X")
    with pytest.raises(MlflowException) as denied:
        client.delete_registered_model("fraud")
    assert _error_code(denied.value) == "PERMISSION_DENIED" and "MANAGE" in str(denied.value)


def test_ci_service_account_registers_versions_through_a_team_grant(access_cast, client_with_token) -> None:
    bot = access_user("ci-bot", is_service_account=True)
    services.team_create(actor=services.OPERATOR, name="ml-platform")
    services.team_member_add(actor=services.OPERATOR, team_name="ml-platform", username="ci-bot")
    for level in ("READ", "EDIT"):
        services.grant_add(
            actor=services.OPERATOR,
            model_name="fraud",
            principal=services.Principal("team", "ml-platform"),
            level=level,
        )
    client = client_with_token(_token(bot, "pipeline"))
    version = client.create_model_version("fraud", source="s3://bucket/fraud/ci", run_id="ci-run")
    assert version.version == "3"
    event = AuditEvent.objects.filter(action=Action.VERSION_CREATED).latest("seq")
    assert (event.actor_username, event.actor_kind, event.actor_detail) == (
        "ci-bot",
        "service_account",
        "pipeline",
    )


def test_revoked_token_is_refused_with_unauthenticated(access_cast, client_with_token) -> None:
    secret = _token(access_cast.reader, "old")
    client = client_with_token(secret)
    assert client.get_registered_model("fraud").name == "fraud"
    services.token_revoke(actor=services.OPERATOR, token_id=ApiToken.objects.get(name="old").pk)
    with pytest.raises(MlflowException) as refused:
        client.get_registered_model("fraud")
    assert _error_code(refused.value) == "UNAUTHENTICATED"
