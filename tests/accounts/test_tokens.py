"""API tokens: shown once, stored as a digest, 401 when expired/revoked/malformed, never leaked."""

import base64
import io
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiToken, User
from audit.models import Action, AuditEvent
from tests.fixtures_access import access_user

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def basic(username: str, password: str) -> APIClient:
    client = APIClient()
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {encoded}")
    return client


def issue(user: User, name: str = "laptop", **kwargs) -> str:
    return services.token_create(actor=services.OPERATOR, user=user, name=name, **kwargs).secret


def test_created_token_is_shown_once_and_only_its_digest_is_stored(api_as, access_cast) -> None:
    created = api_as("reader").post(
        "/api/v1/tokens", {"name": "laptop", "expires_in_days": 30}, format="json"
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("qrm_") and len(secret) > 40
    assert created["Cache-Control"] == "no-store"
    row = ApiToken.objects.get(user=access_cast.reader, name="laptop")
    assert secret not in {row.digest, row.prefix, row.name} and row.digest != secret
    assert secret.startswith(row.prefix)
    listed = api_as("reader").get("/api/v1/tokens")
    assert listed.status_code == 200
    assert secret not in listed.content.decode() and row.digest not in listed.content.decode()
    assert [t["name"] for t in listed.json()] == ["laptop"]
    event = AuditEvent.objects.filter(action=Action.TOKEN_CREATED).get()
    assert secret not in str(event.after) and row.digest not in str(event.after)
    assert event.after["name"] == "laptop" and event.actor_username == "reader"


def test_bearer_and_basic_tokens_authenticate_and_record_last_use(access_cast) -> None:
    secret = issue(access_cast.reader)
    assert ApiToken.objects.get().last_used_at is None
    assert bearer(secret).get("/api/v1/models/fraud").status_code == 200
    assert ApiToken.objects.get().last_used_at is not None
    assert basic("reader", secret).get("/api/v1/models/fraud").status_code == 200
    # A token used with someone else's username is refused.
    assert basic("editor", secret).get("/api/v1/models/fraud").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer qrm_not-a-real-token",
        "Bearer not-even-prefixed",
        "Bearer",
        "Bearer two parts",
        "Bearer " + "qrm_" + "x" * 300,
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"reader:qrm_wrong").decode(),
    ],
)
def test_malformed_or_unknown_tokens_get_401(header: str, db) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/models")
    assert response.status_code == 401, response.content
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_expired_token_gets_401(access_cast) -> None:
    secret = issue(access_cast.reader, expires_at=timezone.now() + timedelta(days=1))
    assert bearer(secret).get("/api/v1/models").status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(secret).get("/api/v1/models").status_code == 401


def test_revoked_token_gets_401_and_revocation_is_audited(api_as, access_cast) -> None:
    secret = issue(access_cast.reader)
    token = ApiToken.objects.get()
    assert api_as("reader").delete(f"/api/v1/tokens/{token.pk}").status_code == 204
    assert bearer(secret).get("/api/v1/models").status_code == 401
    event = AuditEvent.objects.get(action=Action.TOKEN_REVOKED)
    assert event.actor_username == "reader" and event.after["name"] == "laptop"


def test_someone_elses_token_is_not_found_and_stays_valid(api_as, access_cast) -> None:
    secret = issue(access_cast.reader)
    token = ApiToken.objects.get()
    missing = api_as("editor").delete("/api/v1/tokens/999999")
    response = api_as("editor").delete(f"/api/v1/tokens/{token.pk}")
    assert response.status_code == missing.status_code == 404
    assert bearer(secret).get("/api/v1/models").status_code == 200
    assert api_as("superuser").delete(f"/api/v1/tokens/{token.pk}").status_code == 204


def test_a_token_cannot_mint_tokens(access_cast) -> None:
    secret = issue(access_cast.reader)
    response = bearer(secret).post("/api/v1/tokens", {"name": "forever"}, format="json")
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_only_superusers_issue_tokens_for_others(api_as, access_cast) -> None:
    denied = api_as("manager").post("/api/v1/tokens", {"name": "x", "user": "reader"}, format="json")
    assert denied.status_code == 403
    allowed = api_as("superuser").post("/api/v1/tokens", {"name": "x", "user": "reader"}, format="json")
    assert allowed.status_code == 201 and allowed.json()["user"] == "reader"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 5},
        {"name": "x" * 101},
        {"name": "x", "expires_at": "2000-01-01T00:00:00Z"},
        {"name": "x", "expires_in_days": 0},
        {"name": "x", "expires_in_days": "soon"},
        {"name": "x", "expires_at": "2999-01-01T00:00:00Z", "expires_in_days": 3},
        {"name": "x", "user": "nobody"},
    ],
)
def test_bad_token_requests_get_400(body: dict, db) -> None:
    api = APIClient()
    api.force_authenticate(access_user("root", is_superuser=True))
    response = api.post("/api/v1/tokens", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_duplicate_token_name_is_refused(api_as, access_cast) -> None:
    api = api_as("reader")
    assert api.post("/api/v1/tokens", {"name": "ci"}, format="json").status_code == 201
    again = api.post("/api/v1/tokens", {"name": "ci"}, format="json")
    assert again.status_code == 400 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"


def test_actions_through_a_token_are_audited_as_token_actions(access_cast) -> None:
    secret = issue(access_cast.editor, name="ci-pipeline")
    response = bearer(secret).post(
        "/api/v1/models/fraud/tags", {"key": "via", "value": "token"}, format="json"
    )
    assert response.status_code == 200
    event = AuditEvent.objects.filter(action=Action.MODEL_TAG_SET).latest("seq")
    assert (event.actor_username, event.actor_kind, event.actor_detail) == ("editor", "token", "ci-pipeline")
    assert secret not in str(event.after) + event.actor_detail + event.user_agent


def test_service_accounts_are_token_only(client, access_cast) -> None:
    bot = access_user("ci-bot", is_service_account=True, is_staff=True)
    bot.set_password("a-long-password-123")
    bot.save()
    assert basic("ci-bot", "a-long-password-123").get("/api/v1/models").status_code == 401
    assert not client.login(username="ci-bot", password="a-long-password-123")
    page = client.post("/admin/login/", {"username": "ci-bot", "password": "a-long-password-123"})
    assert page.status_code == 200 and "_auth_user_id" not in client.session
    secret = issue(User.objects.get(username="ci-bot"))
    assert bearer(secret).get("/api/v1/models").status_code == 200


def test_create_token_command_prints_the_secret_once(access_cast) -> None:
    access_user("ci-bot", is_service_account=True)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_token", "--user", "ci-bot", "--name", "deploy", "--expires-days", "7", stdout=out, stderr=err
    )
    secret = out.getvalue().strip()
    assert secret.startswith("qrm_") and secret not in err.getvalue()
    assert bearer(secret).get("/api/v1/models").status_code == 200
    event = AuditEvent.objects.get(action=Action.TOKEN_CREATED)
    assert (event.actor_kind, event.actor_detail) == ("system", "manage.py create_token")
    assert secret not in str(event.after)


def test_token_secrets_never_reach_the_logs(caplog, api_as, access_cast) -> None:
    caplog.set_level(logging.DEBUG)
    created = api_as("reader").post("/api/v1/tokens", {"name": "laptop"}, format="json")
    secret = created.json()["secret"]
    bearer(secret).get("/api/v1/models/fraud")
    bearer(secret).get("/api/v1/models/secret-model")  # 404 is logged
    bearer(secret).delete("/api/v1/models/fraud")  # 403 is logged
    bearer(secret + "x").get("/api/v1/models")  # 401 is logged
    assert caplog.records, "expected request logging to be captured"
    assert secret not in caplog.text


def test_token_admin_shows_prefix_but_never_secret_or_digest(client, access_cast) -> None:
    secret = issue(access_cast.reader)
    token = ApiToken.objects.get()
    client.force_login(access_cast.superuser)
    for url in ("/admin/accounts/apitoken/", f"/admin/accounts/apitoken/{token.pk}/change/"):
        page = client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert token.prefix in html
        assert secret not in html and token.digest not in html


def test_token_admin_revoke_action_revokes_through_the_service(client, access_cast) -> None:
    secret = issue(access_cast.reader)
    token = ApiToken.objects.get()
    client.force_login(access_cast.superuser)
    response = client.post(
        "/admin/accounts/apitoken/", {"action": "revoke_tokens", "_selected_action": [str(token.pk)]}
    )
    assert response.status_code == 302
    assert bearer(secret).get("/api/v1/models").status_code == 401
    assert AuditEvent.objects.filter(action=Action.TOKEN_REVOKED, actor_username="root").exists()


def test_hostile_token_ids_are_404(api_as, access_cast) -> None:
    assert api_as("superuser").delete("/api/v1/tokens/99999999999999999999999").status_code == 404


def test_mlflow_routes_refuse_bad_tokens_with_401_in_mlflow_format(access_cast) -> None:
    secret = issue(access_cast.reader)
    url = "/api/2.0/mlflow/registered-models/get?name=fraud"
    assert bearer(secret).get(url).status_code == 200
    services.token_revoke(actor=services.OPERATOR, token_id=ApiToken.objects.get().pk)
    for client in (bearer(secret), bearer("qrm_garbage"), basic("reader", secret)):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["error_code"] == "UNAUTHENTICATED"
