"""API authentication: Bearer tokens and HTTP Basic (password, or a token as the password)."""

import base64
import binascii
import dataclasses
import hashlib
import hmac

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiToken, User, token_digest
from audit.context import current_request
from config.login_throttle import login_locked

TOKEN_PREFIX = "qrm_"


def user_for_token(secret: str) -> tuple[User, ApiToken] | None:
    """The active user and token for a token secret, or None. Updates last-used time."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(secret)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    # Throttle the write: last-used within a minute is precise enough and saves a write per request.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
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
        found = user_for_token(secret)
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
    # A locked-out account (repeated wrong passwords) is refused even with cached credentials:
    # the throttled backend below decides while the lockout lasts.
    cached = None if login_locked(username, request) else cache.get(key)
    if cached is not None:
        user_id, fingerprint = cached
        user = User.objects.filter(pk=user_id).first()
        if user is not None and hmac.compare_digest(_basic_fingerprint(user), fingerprint):
            if user.is_active and not user.is_service_account and user.get_username() == username:
                return user
        cache.delete(key)
    user = authenticate(request=request, username=username, password=password)
    if user is None or not user.is_active or getattr(user, "is_service_account", False):
        return None
    cache.set(key, (user.pk, _basic_fingerprint(user)), timeout=BASIC_CACHE_SECONDS)
    return user


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
        found = user_for_token(password)
        if found is not None:
            user, token = found
            if user.get_username() != username:
                raise exceptions.AuthenticationFailed("Invalid username/password.")
            return user, token
        user = user_for_password(request._request, username, password)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        return user, None

    def authenticate_header(self, request) -> str:
        return 'Basic realm="quorum"'
