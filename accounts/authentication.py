"""API authentication: Bearer tokens and HTTP Basic (password, or a token as the password)."""

import base64
import binascii
import dataclasses

from django.contrib.auth import authenticate
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiToken, User, token_digest
from audit.context import current_request

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
        user = authenticate(request=request._request, username=username, password=password)
        if user is None or not user.is_active or getattr(user, "is_service_account", False):
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        return user, None

    def authenticate_header(self, request) -> str:
        return 'Basic realm="quorum"'
