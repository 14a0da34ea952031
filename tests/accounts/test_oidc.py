"""Sign-in through a real OpenID Connect provider (tests/idp, on loopback) and its tokens on the APIs.

Written as attacks where there is one: a provider account named like a local superuser, a token
signed with someone else's key, for another audience or issuer, expired, or for a subject nobody
linked; and a person or pipeline the provider disabled keeping access.
"""

import json
import time

import jwt
import pytest
import requests
from django.core.management import call_command
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException

from accounts import services as accounts
from accounts.models import ExternalIdentity, User
from audit.models import Action, AuditEvent
from tests.fixtures_access import access_user
from tests.fixtures_idp import AUDIENCE, sign_in_without_browser

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _team_members(name: str) -> set[str]:
    from accounts.models import Team

    team = Team.objects.filter(group__name=name).first()
    return set(team.group.user_set.values_list("username", flat=True)) if team else set()


def test_first_sign_in_creates_the_user_with_mapped_teams_and_audits_it(live_server, oidc_on) -> None:
    session, landed = sign_in_without_browser(live_server.url, "carol", "carol-idp-pw-1")
    assert landed.url.rstrip("/").endswith("/admin"), landed.url
    carol = User.objects.get(username="carol")
    assert carol.is_staff and carol.is_active and not carol.has_usable_password()
    assert ExternalIdentity.objects.get(user=carol).subject == oidc_on.subjects["carol"]
    assert _team_members("ml-platform") == {"carol"}
    assert _team_members("model-risk") == set()
    events = {e.action: e for e in AuditEvent.objects.filter(target_name__contains="carol")}
    assert events[Action.USER_CREATED].after["subject"] == oidc_on.subjects["carol"]
    assert events[Action.LOGIN].after == {"backend": "accounts.oidc.QuorumOIDCBackend"}
    joined = AuditEvent.objects.filter(action=Action.TEAM_CHANGED, target_name="ml-platform").latest("seq")
    assert joined.after["member_added"] == "carol" and joined.after["by"] == "identity provider group mapping"


def test_a_provider_account_named_like_a_local_superuser_does_not_get_it(live_server, oidc_on) -> None:
    root = User.objects.create_superuser("root", password="local-root-pw-1")
    session, landed = sign_in_without_browser(live_server.url, "root", "root-idp-pw-1")
    assert "/admin/login/" in landed.url and "signin=failed" in landed.url
    assert not ExternalIdentity.objects.exists()
    assert session.get(f"{live_server.url}/admin/", timeout=60, allow_redirects=False).status_code == 302
    root.refresh_from_db()
    assert root.is_active and root.check_password("local-root-pw-1")
    assert not root.groups.exists()


def test_sync_ends_the_account_of_a_person_the_provider_disabled(live_server, oidc_on) -> None:
    session, _ = sign_in_without_browser(live_server.url, "bob", "bob-idp-pw-1")
    assert session.get(f"{live_server.url}/admin/", timeout=60, allow_redirects=False).status_code == 200
    call_command("oidc_sync")
    assert User.objects.get(username="bob").is_active  # the provider still vouches for bob
    oidc_on.disable("bob")
    call_command("oidc_sync")
    bob = User.objects.get(username="bob")
    assert not bob.is_active
    ended = AuditEvent.objects.filter(action=Action.USER_UPDATED, target_name="bob").latest("seq")
    assert ended.after == {"active": False, "by": "identity provider sync"}
    assert "refused the stored refresh token" in ended.reason
    assert (ended.actor_username, ended.actor_detail) == ("system", "manage.py oidc_sync")
    # The browser session made before ends too, and the provider no longer lets bob sign in.
    assert session.get(f"{live_server.url}/admin/", timeout=60, allow_redirects=False).status_code == 302
    _, again = sign_in_without_browser(live_server.url, "bob", "bob-idp-pw-1")
    assert "csrfmiddlewaretoken" in again.text  # still on the provider's form: wrong or disabled account


# --- The provider's tokens on the APIs ---------------------------------------------------


@pytest.fixture
def pipeline(oidc_on, access_cast):
    """ci-bot, a Quorum service account with EDIT on 'fraud' through a team, linked to the provider's ci-pipeline."""
    access_user("ci-bot", is_service_account=True)
    accounts.team_create(actor=accounts.OPERATOR, name="ml-platform")
    accounts.team_member_add(actor=accounts.OPERATOR, team_name="ml-platform", username="ci-bot")
    for level in ("READ", "EDIT"):
        accounts.grant_add(
            actor=accounts.OPERATOR,
            model_name="fraud",
            principal=accounts.Principal("team", "ml-platform"),
            level=level,
        )
    call_command("oidc_link", "ci-bot", oidc_on.subjects["ci-pipeline"])
    return oidc_on


def _mlflow(live_server, mlflow_env, token: str) -> MlflowClient:
    mlflow_env(
        MLFLOW_TRACKING_URI=live_server.url, MLFLOW_REGISTRY_URI=live_server.url, MLFLOW_TRACKING_TOKEN=token
    )
    return MlflowClient()


def _error_code(exc: MlflowException) -> str:
    return exc.error_code if isinstance(exc, RestException) else exc.get_error_code()


def test_a_provider_token_registers_a_version_and_is_refused_once_the_provider_disables_the_user(
    live_server, mlflow_env, pipeline
) -> None:
    token = pipeline.password_grant("ci-pipeline")["access_token"]
    client = _mlflow(live_server, mlflow_env, token)
    version = client.create_model_version("fraud", source="s3://bucket/fraud/ci", run_id="ci-run")
    assert version.version == "3"
    event = AuditEvent.objects.filter(action=Action.VERSION_CREATED).latest("seq")
    assert (event.actor_username, event.actor_kind, event.actor_detail) == (
        "ci-bot",
        "service_account",
        "identity provider token (pipeline)",
    )
    pipeline.disable("ci-pipeline")
    time.sleep(1.1)  # QUORUM_OIDC_INTROSPECTION_SECONDS in the test: the provider is asked again
    with pytest.raises(MlflowException) as refused:
        client.create_model_version("fraud", source="s3://bucket/fraud/ci2", run_id="ci-run")
    assert _error_code(refused.value) == "UNAUTHENTICATED"
    assert "no longer active" in str(refused.value)


def _forged(oidc_on, key_pem: bytes | None = None, **overrides) -> str:
    """A token signed with the provider's own key (or another), so each check is tested on its own."""
    from jwcrypto import jwk

    provider_key = jwk.JWK.from_pem(oidc_on.key_file.read_bytes())
    now = int(time.time())
    claims = {
        "iss": oidc_on.issuer,
        "aud": AUDIENCE,
        "sub": oidc_on.subjects["ci-pipeline"],
        "azp": "pipeline",
        "iat": now,
        "exp": now + 300,
        **overrides,
    }
    return jwt.encode(
        claims,
        key_pem or oidc_on.key_file.read_bytes(),
        algorithm="RS256",
        headers={"kid": provider_key.thumbprint()},
    )


def _hs256(oidc_on, secret: bytes) -> str:
    import base64
    import hashlib
    import hmac

    from jwcrypto import jwk

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    kid = jwk.JWK.from_pem(oidc_on.key_file.read_bytes()).thumbprint()
    claims = {
        "iss": oidc_on.issuer,
        "aud": AUDIENCE,
        "sub": oidc_on.subjects["ci-pipeline"],
        "exp": int(time.time()) + 300,
    }
    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{part(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_tokens_failing_any_check_are_refused_on_every_api(live_server, pipeline, settings) -> None:
    settings.QUORUM_OIDC_INTROSPECTION_SECONDS = 0  # the local checks alone
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = (
        serialization.load_pem_private_key(pipeline.key_file.read_bytes(), None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    cases = {
        "signed with another key": (_forged(pipeline, key_pem=other_key), "not a valid token"),
        "another audience": (_forged(pipeline, aud="someone-else"), "audience"),
        "another issuer": (_forged(pipeline, iss="http://127.0.0.1:1/o"), "another issuer"),
        "expired": (_forged(pipeline, exp=int(time.time()) - 120), "expired"),
        "nobody linked": (_forged(pipeline, sub="99999"), "no Quorum account is linked"),
        # The classic confusion: HS256 "signed" with the provider's public key as the HMAC secret.
        "HS256 with the public key": (_hs256(pipeline, public_pem), "not a valid token"),
        "unknown key id": (
            jwt.encode({"sub": "x"}, other_key, algorithm="RS256", headers={"kid": "rotated-away"}),
            "signing key",
        ),
    }
    for label, (token, reason) in cases.items():
        for path, error_of in (
            ("/api/2.0/mlflow/registered-models/get?name=fraud", lambda body: body["message"]),
            ("/api/v1/models/fraud", lambda body: json.dumps(body)),
            ("/api/2.0/mlflow/transition-requests/list?name=fraud&version=1", lambda body: json.dumps(body)),
        ):
            response = requests.get(
                f"{live_server.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            assert response.status_code == 401, (label, path, response.status_code, response.text[:300])
            assert reason in error_of(response.json()), (label, path, response.text[:300])
    # The genuine article passes the same checks, beside a Quorum token of the same account.
    good = _forged(pipeline)
    ours = accounts.token_create(
        actor=accounts.OPERATOR, user=User.objects.get(username="ci-bot"), name="classic"
    ).secret
    for token in (good, ours):
        response = requests.get(
            f"{live_server.url}/api/2.0/mlflow/registered-models/get?name=fraud",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text[:300]
