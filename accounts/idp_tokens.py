"""Access tokens (JWTs) issued by the organisation's identity provider, as a second kind of Bearer credential.

A pipeline sends the provider's access token as MLFLOW_TRACKING_TOKEN. It counts when its signature
verifies against the provider's JWKS (PyJWT's PyJWKClient: cached, fetched again for an unknown key
id, so a rotated key is picked up), its issuer is QUORUM_OIDC_ISSUER, its audience
QUORUM_OIDC_AUDIENCE, it has not expired, and its subject is linked to an active Quorum user
(accounts.models.ExternalIdentity). With introspection on, the provider is also asked whether the
token is still active, at most once per token per QUORUM_OIDC_INTROSPECTION_SECONDS: a JWT alone
cannot tell that the provider disabled its user before it expires.

Verified tokens are kept per process like Quorum's own (config/serving.py: valid while no user or
token row changed); expiry and the user's active flag are checked on every request. Quorum's own
tokens never reach this module: they are recognised by their prefix first.
"""

import dataclasses
import hashlib
import threading
import time
from datetime import UTC, datetime

import jwt
import requests
from django.conf import settings

from accounts import oidc
from accounts.models import ExternalIdentity, User
from audit.context import current_request
from config import serving
from config.prepared import instance_copy

# Asymmetric algorithms only: an HS256 token "signed" with a public key must never verify.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
LEEWAY_SECONDS = 30
MAX_LENGTH = 16_384


class ProviderTokenRefused(Exception):
    """The provider's token does not count; the message says why (never the token)."""


@dataclasses.dataclass(frozen=True)
class ProviderToken:
    """What `request.auth` holds for a provider-issued token."""

    subject: str
    client: str
    expires_at: datetime

    @property
    def name(self) -> str:
        return f"identity provider token ({self.client or 'unknown client'})"


def looks_like_provider_token(secret: str) -> bool:
    return oidc.enabled() and bool(settings.QUORUM_OIDC_AUDIENCE) and secret.count(".") == 2


_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


def _jwks_client() -> jwt.PyJWKClient:
    uri = oidc.provider_metadata()["jwks_uri"]
    client = _jwks_clients.get(uri)
    if client is None:
        with _jwks_lock:
            client = _jwks_clients.setdefault(
                uri,
                jwt.PyJWKClient(
                    uri,
                    cache_jwk_set=True,
                    lifespan=settings.QUORUM_OIDC_JWKS_CACHE_SECONDS,
                    timeout=settings.QUORUM_OIDC_TIMEOUT_SECONDS,
                ),
            )
    return client


def verified_claims(secret: str) -> dict:
    """The token's claims once signature, issuer, audience and expiry check out; else ProviderTokenRefused."""
    try:
        key = _jwks_client().get_signing_key_from_jwt(secret)
    except jwt.PyJWKClientConnectionError:
        raise ProviderTokenRefused("the identity provider's signing keys could not be fetched")
    except oidc.ProviderUnavailable:
        raise ProviderTokenRefused("the identity provider could not be reached")
    except (jwt.PyJWKClientError, jwt.InvalidTokenError):
        raise ProviderTokenRefused("its signing key is not one of the identity provider's")
    try:
        return jwt.decode(
            secret,
            key.key,
            algorithms=ALGORITHMS,
            audience=settings.QUORUM_OIDC_AUDIENCE,
            issuer=oidc.issuer(),
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise ProviderTokenRefused("it has expired")
    except jwt.InvalidAudienceError:
        raise ProviderTokenRefused(f"its audience is not '{settings.QUORUM_OIDC_AUDIENCE}'")
    except jwt.InvalidIssuerError:
        raise ProviderTokenRefused("it was issued by another issuer")
    except jwt.InvalidTokenError as exc:
        raise ProviderTokenRefused(f"it is not a valid token ({type(exc).__name__})")


# Verified tokens per process, by digest: (user, token), valid while the accounts generation stands.
_verified = serving.AnswerCache(max_entries=10_000)
# When the provider last said a token is active, by digest (monotonic seconds).
_introspected: dict[str, float] = {}


def _introspection_url() -> str:
    return settings.QUORUM_OIDC_INTROSPECTION_URL or str(
        oidc.provider_metadata().get("introspection_endpoint", "")
    )


def _still_active(secret: str, digest: str) -> bool:
    seconds = settings.QUORUM_OIDC_INTROSPECTION_SECONDS
    if seconds <= 0:
        return True
    checked = _introspected.get(digest)
    if checked is not None and time.monotonic() - checked < seconds:
        return True
    url = _introspection_url()
    if not url:
        raise ProviderTokenRefused("introspection is on but the provider names no introspection endpoint")
    try:
        response = requests.post(
            url,
            data={"token": secret, "token_type_hint": "access_token"},
            auth=(settings.QUORUM_OIDC_CLIENT_ID, settings.QUORUM_OIDC_CLIENT_SECRET),
            timeout=settings.QUORUM_OIDC_TIMEOUT_SECONDS,
        )
        active = response.ok and response.json().get("active") is True
    except (requests.RequestException, ValueError, AttributeError):
        # Fails closed: a provider that cannot confirm the token does not get it accepted.
        raise ProviderTokenRefused("the identity provider could not confirm it (introspection failed)")
    if active:
        if len(_introspected) > 100_000:
            _introspected.clear()
        _introspected[digest] = time.monotonic()
    return active


def user_for_provider_token(secret: str, request=None) -> tuple[User, ProviderToken]:
    """The active user a provider-issued token stands for; ProviderTokenRefused otherwise."""
    if len(secret) > MAX_LENGTH:
        raise ProviderTokenRefused("it is too long")
    digest = hashlib.sha256(secret.encode()).hexdigest()
    generation = serving.accounts_generation(request) if request is not None else None
    found = _verified.get(digest, generation)
    if found is None:
        claims = verified_claims(secret)
        subject = str(claims["sub"])
        identity = (
            ExternalIdentity.objects.select_related("user")
            .filter(issuer=oidc.issuer(), subject=subject)
            .first()
        )
        if identity is None:
            raise ProviderTokenRefused(
                f"no Quorum account is linked to the provider's subject '{subject[:100]}'"
            )
        token = ProviderToken(
            subject=subject,
            client=str(claims.get("azp") or claims.get("client_id") or "")[:100],
            expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
        )
        found = (identity.user, token)
        _verified.put(digest, generation, found)
    user, token = found
    # Checked on every request, cached or not.
    if token.expires_at.timestamp() + LEEWAY_SECONDS <= time.time():
        raise ProviderTokenRefused("it has expired")
    if not user.is_active:
        raise ProviderTokenRefused("its Quorum account is deactivated")
    if not _still_active(secret, digest):
        raise ProviderTokenRefused("the identity provider says it is no longer active")
    current_request.set(dataclasses.replace(current_request.get(), token_name=token.name))
    return instance_copy(user), token
