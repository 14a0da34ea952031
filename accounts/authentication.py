"""API authentication: Bearer tokens and HTTP Basic (password, or a token as the password)."""

import base64
import binascii
import dataclasses
import hashlib
import hmac
from datetime import datetime

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts import idp_tokens, selectors
from accounts.backends import sign_in_refused_record
from accounts.models import ApiToken, User, token_digest
from audit.context import current_request
from config import serving
from config.login_throttle import login_refusal
from config.prepared import instance_copy, related_cache_set, related_cached

TOKEN_PREFIX = "qrm_"
# A printed one-time password works for one thing only: signing in to the admin to replace it.
# Tokens are unaffected: a user makes one only after signing in, so it is no printed secret.
PASSWORD_CHANGE_REQUIRED = (
    "This account still has its one-time password: sign in to the admin (/admin/) and set a new "
    "password first; until then the password cannot be used for API calls."
)


# Verified tokens per process, by digest; valid while the accounts generation stands (config/serving.py).
_verified_tokens = serving.AnswerCache(max_entries=10_000)
_TOKEN_USER_CACHE = ApiToken._meta.get_field("user").cache_name


def _token_lookup(request, digest: str) -> ApiToken | None:
    generation = serving.accounts_generation(request) if request is not None else None
    token = _verified_tokens.get(digest, generation)
    if token is None:
        token = selectors.token_with_user(digest)
        if token is None:
            return None
        _verified_tokens.put(digest, generation, token)
    # A copy per request, so nothing a request sets on its user or token reaches another request.
    # The user goes straight into the copy's relation cache: the descriptor's checks cost more than
    # the copy, and the cached token's user is already an ApiToken's own.
    mine = instance_copy(token)
    related_cache_set(mine, _TOKEN_USER_CACHE, instance_copy(related_cached(token, _TOKEN_USER_CACHE)))
    return mine


# When this process last wrote each token's last-used time, by digest (cached tokens keep the value
# they were read with; a digest, unlike a row id, is never reused by another token).
_last_used_written: dict[str, datetime] = {}


def user_for_token(secret: str, request=None) -> tuple[User, ApiToken] | None:
    """The active user and token for a token secret, or None. Updates last-used time."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = _token_lookup(request, token_digest(secret))
    # Checked on every request, cached or not: expiry needs no change to any row.
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    last_used = max(filter(None, (token.last_used_at, _last_used_written.get(token.digest))), default=None)
    # Throttle the write: last-used within a minute is precise enough and saves a write per request.
    if last_used is None or (now - last_used).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        if len(_last_used_written) > 100_000:
            _last_used_written.clear()
        _last_used_written[token.digest] = now
        last_used = now
    token.last_used_at = last_used
    # Audit events of this request name the token (never its secret) and count as token actions.
    # The request middleware resets the context variable when the request ends.
    current_request.set(dataclasses.replace(current_request.get(), token_name=token.name))
    return token.user, token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` (what MLFLOW_TRACKING_TOKEN sends)."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid bearer header: expected 'Bearer <token>'.")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.")
        # A DRF Request wraps the Django one; the MLflow routes pass the Django request itself.
        django_request = getattr(request, "_request", request)
        if not secret.startswith(TOKEN_PREFIX) and idp_tokens.looks_like_provider_token(secret):
            # The identity provider's access token: a second kind of credential on the same path.
            try:
                return idp_tokens.user_for_provider_token(secret, django_request)
            except idp_tokens.ProviderTokenRefused as refused:
                raise exceptions.AuthenticationFailed(f"Identity-provider token refused: {refused}.")
        found = user_for_token(secret, django_request)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return found

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="quorum"'


BASIC_CACHE_SECONDS = 300


def _basic_cache_key(username: str, password: str) -> str:
    # Keyed by an HMAC of the credentials (never the password itself), so the cache holds nothing
    # that signs in without also knowing SECRET_KEY.
    mac = hmac.new(settings.SECRET_KEY.encode(), f"{username}\0{password}".encode(), hashlib.sha256)
    return "basic-auth:" + mac.hexdigest()


def _basic_fingerprint(user: User) -> str:
    # A password change (new hash) or deactivation changes the fingerprint, so a cached
    # verification stops counting on the very next request.
    material = f"{user.pk}\0{user.password}\0{user.is_active}\0{user.is_service_account}"
    return hashlib.sha256(material.encode()).hexdigest()


def user_for_password(request, username: str, password: str) -> User | None:
    """The active human user for a username and password, or None.

    A full password hash (hundreds of ms by design) is paid once; the verification is then
    cached against the user's current password hash and active flag, so repeat requests cost
    one indexed user lookup.
    """
    key = _basic_cache_key(username, password)
    generation = serving.accounts_generation(request)  # read before any user row is
    # A locked (username, network) pair is refused even with cached credentials: a guess that
    # matched a cached verification would otherwise get past the lock.
    refusal = login_refusal(username, request)
    if refusal is not None:
        request.login_refusal = refusal
        sign_in_refused_record(username, request, refusal)
        return None
    # This process verified these credentials and no user row changed since (config/serving.py).
    known = _verified_passwords.get(key, generation)
    if known is not None:
        return instance_copy(known)
    cached = cache.get(key)
    if cached is not None:
        user_id, fingerprint = cached
        user = User.objects.filter(pk=user_id).first()
        if user is not None and hmac.compare_digest(_basic_fingerprint(user), fingerprint):
            if user.is_active and not user.is_service_account and user.get_username() == username:
                _verified_passwords.put(key, generation, instance_copy(user))
                return user
        cache.delete(key)
    user = authenticate(request=request, username=username, password=password)
    if user is None or not user.is_active or getattr(user, "is_service_account", False):
        return None
    cache.set(key, (user.pk, _basic_fingerprint(user)), timeout=BASIC_CACHE_SECONDS)
    _verified_passwords.put(key, generation, instance_copy(user))
    return user


# Credentials this process verified, by the same HMAC key; valid while the accounts generation stands.
_verified_passwords = serving.AnswerCache(max_entries=10_000)


class TokenBasicAuthentication(authentication.BaseAuthentication):
    """HTTP Basic (MLFLOW_TRACKING_USERNAME/PASSWORD): the password may be an API token.

    Service accounts authenticate with tokens only.
    """

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"basic":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid basic header.")
        try:
            decoded = base64.b64decode(header[1], validate=True).decode("utf-8")
            username, _, password = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise exceptions.AuthenticationFailed("Invalid basic header: credentials not base64-encoded.")
        found = user_for_token(password, request._request)
        if found is not None:
            user, token = found
            if user.get_username() != username:
                raise exceptions.AuthenticationFailed("Invalid username/password.")
            return user, token
        user = user_for_password(request._request, username, password)
        if user is None:
            refusal = getattr(request._request, "login_refusal", None)
            raise exceptions.AuthenticationFailed(
                refusal.message if refusal else "Invalid username/password."
            )
        if user.must_change_password:
            raise exceptions.PermissionDenied(PASSWORD_CHANGE_REQUIRED)
        return user, None

    def authenticate_header(self, request) -> str:
        return 'Basic realm="quorum"'
