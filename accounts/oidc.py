"""Sign-in through the organisation's OpenID Connect provider, teams from its group claim, and the periodic sync.

mozilla-django-oidc runs the authorization-code flow (state, nonce, PKCE, ID token signature);
this module decides who the signed-in person is in Quorum. The provider's endpoints come from its
discovery document (QUORUM_OIDC_ISSUER + /.well-known/openid-configuration), fetched when first
needed, never at start-up, so a provider outage cannot stop a break-glass password sign-in.

A person is known by (issuer, subject), never by username or e-mail: a provider account whose
preferred_username matches an existing local user is refused rather than given that account.

What the sync can detect (`identities_sync`): at every sign-in the provider's refresh token is kept
(encrypted); the sync redeems it at the token endpoint and reads userinfo. A provider that refuses
the refresh token (account disabled or deleted, sessions revoked, refresh token expired) ends the
Quorum account; otherwise the groups claim is applied again. People who never signed in through the
provider, and service accounts (which sign in nowhere), have no refresh token: the sync counts them
as unverifiable; their provider-issued API tokens are checked by introspection (accounts.idp_tokens).
"""

import base64
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

import audit
from accounts.models import ExternalIdentity, Team, User
from audit.models import Action

logger = logging.getLogger(__name__)

SYSTEM = "system"
DISCOVERY_SECONDS = 3600


class ProviderUnavailable(Exception):
    """The identity provider's discovery document could not be read."""


def enabled() -> bool:
    return bool(settings.QUORUM_OIDC_ISSUER)


def issuer() -> str:
    return settings.QUORUM_OIDC_ISSUER.rstrip("/")


_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
_metadata_lock = threading.Lock()


def provider_metadata() -> dict[str, Any]:
    """The provider's discovery document, cached for an hour; its issuer must be the configured one."""
    expected = issuer()
    cached = _metadata.get(expected)
    if cached is not None and time.monotonic() - cached[0] < DISCOVERY_SECONDS:
        return cached[1]
    with _metadata_lock:
        try:
            response = requests.get(
                f"{expected}/.well-known/openid-configuration", timeout=settings.QUORUM_OIDC_TIMEOUT_SECONDS
            )
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"identity provider discovery failed: {exc}") from exc
        if not isinstance(document, dict) or str(document.get("issuer", "")).rstrip("/") != expected:
            raise ProviderUnavailable("identity provider discovery names another issuer")
        _metadata[expected] = (time.monotonic(), document)
        return document


_FROM_METADATA = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


def _from_quorum_settings() -> dict[str, Any]:
    return {
        "OIDC_RP_CLIENT_ID": settings.QUORUM_OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": settings.QUORUM_OIDC_CLIENT_SECRET,
        "OIDC_RP_SCOPES": settings.QUORUM_OIDC_SCOPES,
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_USE_PKCE": True,
        "OIDC_TIMEOUT": settings.QUORUM_OIDC_TIMEOUT_SECONDS,
        "OIDC_CREATE_USER": True,
    }


def oidc_setting(attr: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, answered from QUORUM_OIDC_* and the discovery document."""
    if attr in _FROM_METADATA:
        return provider_metadata()[_FROM_METADATA[attr]]
    ours = _from_quorum_settings()
    if attr in ours:
        return ours[attr]
    return import_from_settings(attr, *default)


class _Setting:
    """An attribute the library reads in __init__, read when used instead (no network at construction)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type) -> Any:
        return oidc_setting(self.name, None)


# --- Refresh tokens at rest --------------------------------------------------------------


def _fernet() -> Fernet:
    key = hashlib.sha256(f"quorum-oidc-refresh-token\0{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _seal(refresh_token: str) -> str:
    return _fernet().encrypt(refresh_token.encode()).decode() if refresh_token else ""


def _unseal(sealed: str) -> str:
    try:
        return _fernet().decrypt(sealed.encode()).decode() if sealed else ""
    except InvalidToken:  # SECRET_KEY changed: the token is unreadable, as if there were none
        return ""


# --- Teams from the group claim ----------------------------------------------------------


def claimed_groups(claims: dict[str, Any]) -> set[str]:
    raw = claims.get(settings.QUORUM_OIDC_GROUP_CLAIM) or []
    if isinstance(raw, str):
        raw = [raw]
    return {value for value in raw if isinstance(value, str)} if isinstance(raw, list) else set()


def teams_for_groups(groups: set[str], mapping: dict[str, str]) -> set[str]:
    """The teams the mapping gives a member of `groups`; the one rule of team membership by mapping."""
    return {team for group, team in mapping.items() if group in groups}


def _team(name: str) -> Team:
    team = Team.objects.select_related("group").filter(group__name=name).first()
    if team is not None:
        return team
    team = Team.objects.create(group=Group.objects.get_or_create(name=name)[0])
    audit.record(
        actor=SYSTEM,
        action=Action.TEAM_CHANGED,
        target=team,
        after={"team": name, "created": True, "by": "identity provider group mapping"},
    )
    return team


def teams_follow_claims(user: User, claims: dict[str, Any]) -> None:
    """Make `user`'s membership of every mapped team what the claims say; unmapped teams are left alone."""
    mapping: dict[str, str] = settings.QUORUM_OIDC_GROUP_TEAMS
    groups = claimed_groups(claims)
    wanted = teams_for_groups(groups, mapping)
    for name in sorted(set(mapping.values())):
        team = _team(name)
        member = team.group.user_set.filter(pk=user.pk).exists()
        because = sorted(group for group, team_name in mapping.items() if team_name == name)
        if name in wanted and not member:
            team.group.user_set.add(user)
            change = {"member_added": user.username, "provider_groups": sorted(groups & set(because))}
        elif name not in wanted and member:
            team.group.user_set.remove(user)
            change = {"member_removed": user.username, "mapped_groups": because}
        else:
            continue
        audit.record(
            actor=SYSTEM,
            action=Action.TEAM_CHANGED,
            target=team,
            after={"team": name, **change, "by": "identity provider group mapping"},
        )


# --- Sign-in -----------------------------------------------------------------------------


def _username(claims: dict[str, Any]) -> str:
    candidate = claims.get("preferred_username") or claims.get("email") or claims["sub"]
    candidate = str(candidate)[:150]
    try:
        User.username_validator(candidate)
    except ValidationError:
        raise SuspiciousOperation("the provider's username is not a valid Quorum username")
    return candidate


@transaction.atomic
def sign_in_user(*, claims: dict[str, Any], refresh_token: str) -> User | None:
    """The Quorum user for a person the provider just vouched for: created at first sign-in, teams applied.

    None when the account was ended in Quorum by someone (not by the sync): the provider cannot undo that.
    """
    subject = str(claims["sub"])
    identity = (
        ExternalIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer(), subject=subject)
        .first()
    )
    if identity is None:
        username = _username(claims)
        if User.objects.filter(username=username).exists():
            # Never hand an existing (local, break-glass, service) account to a provider login by name.
            raise SuspiciousOperation(
                f"username '{username}' already belongs to an account not linked to the provider"
            )
        user = User(username=username, email=str(claims.get("email", ""))[:254], is_staff=True)
        user.set_unusable_password()
        user.save()
        identity = ExternalIdentity.objects.create(user=user, issuer=issuer(), subject=subject)
        audit.record(
            actor=SYSTEM,
            action=Action.USER_CREATED,
            target=user,
            after={"username": username, "identity_provider": issuer(), "subject": subject},
        )
    user = User.objects.select_for_update().get(pk=identity.user_id)
    if user.is_service_account:
        raise SuspiciousOperation("service accounts do not sign in interactively")
    if not user.is_active:
        if not identity.deactivated_by_sync:
            return None
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit.record(
            actor=SYSTEM,
            action=Action.USER_UPDATED,
            target=user,
            after={"active": True, "by": "identity provider sign-in (the sync had ended the account)"},
        )
        identity.deactivated_by_sync = False
    teams_follow_claims(user, claims)
    identity.refresh_token = _seal(refresh_token)
    identity.synced_at = timezone.now()
    identity.save(update_fields=["refresh_token", "synced_at", "deactivated_by_sync"])
    return user


class QuorumOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with users known by (issuer, subject) and teams from the group claim."""

    OIDC_OP_TOKEN_ENDPOINT = _Setting()
    OIDC_OP_USER_ENDPOINT = _Setting()
    OIDC_OP_JWKS_ENDPOINT = _Setting()
    OIDC_RP_CLIENT_ID = _Setting()
    OIDC_RP_CLIENT_SECRET = _Setting()
    OIDC_RP_SIGN_ALGO = _Setting()
    OIDC_RP_IDP_SIGN_KEY = _Setting()

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the library's __init__: it reads the endpoints, and this backend is built for every
        # password sign-in too.
        self.UserModel = get_user_model()
        self._refresh_token = ""

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if not enabled() or "password" in kwargs or request is None:
            return None
        return super().authenticate(request, **kwargs)

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        token_info = super().get_token(payload)
        self._refresh_token = str(token_info.get("refresh_token") or "")
        return token_info

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub"))

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> User | None:
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims) or str(claims["sub"]) != str(payload.get("sub")):
            raise SuspiciousOperation("userinfo does not describe the ID token's subject")
        return sign_in_user(claims=claims, refresh_token=self._refresh_token)

    def get_user(self, user_id: int) -> User | None:
        user = self.UserModel.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None


class SignInView(OIDCAuthenticationRequestView):
    """Starts the sign-in at the provider (404 while no provider is configured)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request: HttpRequest):
        if not enabled():
            raise Http404("No identity provider is configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailable:
            logger.warning("identity provider unavailable for sign-in", exc_info=True)
            raise Http404("The identity provider is unavailable.")
        self.OIDC_RP_CLIENT_ID = settings.QUORUM_OIDC_CLIENT_ID
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    """The provider sends the browser back here with the code."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest):
        if not enabled():
            raise Http404("No identity provider is configured.")
        return super().get(request)


def sign_in_context(request: HttpRequest) -> dict[str, bool]:
    """Template context: whether the admin's sign-in page offers the provider."""
    return {"quorum_oidc_sign_in": enabled()}


# --- The periodic sync -------------------------------------------------------------------


@dataclass
class SyncResult:
    checked: int = 0
    deactivated: int = 0
    unverifiable: int = 0
    unreachable: int = 0


@transaction.atomic
def identity_deactivate(*, identity_id: int, reason: str) -> None:
    """End a Quorum account because the provider no longer vouches for it; audited."""
    identity = ExternalIdentity.objects.select_for_update().get(pk=identity_id)
    user = User.objects.select_for_update().get(pk=identity.user_id)
    identity.refresh_token = ""
    identity.deactivated_by_sync = True
    identity.synced_at = timezone.now()
    identity.save(update_fields=["refresh_token", "deactivated_by_sync", "synced_at"])
    if not user.is_active:
        return
    user.is_active = False
    user.save(update_fields=["is_active"])
    audit.record(
        actor=SYSTEM,
        action=Action.USER_UPDATED,
        target=user,
        after={"active": False, "by": "identity provider sync"},
        reason=reason,
    )


@transaction.atomic
def _identity_refresh(*, identity_id: int, claims: dict[str, Any], refresh_token: str) -> None:
    identity = ExternalIdentity.objects.select_for_update().select_related("user").get(pk=identity_id)
    if str(claims.get("sub")) != identity.subject:
        raise SuspiciousOperation("userinfo names another subject")
    teams_follow_claims(identity.user, claims)
    identity.refresh_token = _seal(refresh_token) if refresh_token else identity.refresh_token
    identity.synced_at = timezone.now()
    identity.save(update_fields=["refresh_token", "synced_at"])


def identities_sync() -> SyncResult:
    """Ask the provider about every active linked person (see the module docstring for what this sees)."""
    result = SyncResult()
    if not enabled():
        return result
    metadata = provider_metadata()
    timeout = settings.QUORUM_OIDC_TIMEOUT_SECONDS
    identities = ExternalIdentity.objects.filter(issuer=issuer(), user__is_active=True).order_by("pk")
    for identity in identities.iterator():
        refresh_token = _unseal(identity.refresh_token)
        if not refresh_token:
            result.unverifiable += 1
            continue
        result.checked += 1
        try:
            response = requests.post(
                metadata["token_endpoint"],
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                    "client_id": settings.QUORUM_OIDC_CLIENT_ID,
                    "client_secret": settings.QUORUM_OIDC_CLIENT_SECRET,
                },
                timeout=timeout,
            )
            if response.status_code in (400, 401) and _oauth_error(response) == "invalid_grant":
                identity_deactivate(
                    identity_id=identity.pk,
                    reason="the identity provider refused the stored refresh token "
                    "(account disabled or deleted, or its sessions revoked)",
                )
                result.deactivated += 1
                continue
            response.raise_for_status()
            tokens = response.json()
            userinfo = requests.get(
                metadata["userinfo_endpoint"],
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
                timeout=timeout,
            )
            userinfo.raise_for_status()
            _identity_refresh(
                identity_id=identity.pk,
                claims=userinfo.json(),
                refresh_token=str(tokens.get("refresh_token") or ""),
            )
        except (requests.RequestException, ValueError, KeyError, SuspiciousOperation):
            # An outage or a malformed answer ends nobody's account; the next run asks again.
            logger.warning("identity sync could not check %s", identity.subject, exc_info=True)
            result.unreachable += 1
    return result


def _oauth_error(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


@transaction.atomic
def identity_link(*, username: str, subject: str) -> ExternalIdentity:
    """Link a Quorum account (a service account, typically) to a provider subject, for provider-issued tokens."""
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ValidationError(f"User '{username}' does not exist.")
    if not subject or len(subject) > 255:
        raise ValidationError("The subject must be 1 to 255 characters.")
    if ExternalIdentity.objects.filter(issuer=issuer(), subject=subject).exists():
        raise ValidationError(f"Subject '{subject}' is already linked.")
    identity = ExternalIdentity.objects.create(user=user, issuer=issuer(), subject=subject)
    audit.record(
        actor=SYSTEM,
        action=Action.USER_UPDATED,
        target=user,
        after={"identity_linked": {"issuer": issuer(), "subject": subject}},
    )
    return identity
