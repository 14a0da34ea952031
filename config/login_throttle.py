"""Login throttling: after N failed passwords for a username (or from one address), refuse for a while.

Counts live in the cache (Redis in production via QUORUM_CACHE_URL, so all web processes share
them). Applies to every password check: admin sign-in and HTTP Basic on the APIs.
"""

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache


def _keys(username: str, request) -> list[str]:
    keys = ["login-fail:user:" + hashlib.sha256(username.lower().encode()).hexdigest()]
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    if address:
        keys.append("login-fail:ip:" + address)
    return keys


def login_locked(username: str, request) -> bool:
    limit = settings.QUORUM_LOGIN_MAX_FAILURES
    # The per-address limit is wider: one office shares an address.
    counts = [cache.get(key, 0) for key in _keys(username, request)]
    return counts[0] >= limit or (len(counts) > 1 and counts[1] >= limit * 4)


def login_failure_count(username: str, request) -> None:
    for key in _keys(username, request):
        cache.add(key, 0, timeout=settings.QUORUM_LOGIN_LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=settings.QUORUM_LOGIN_LOCKOUT_SECONDS)


def login_failures_clear(username: str, request) -> None:
    cache.delete(_keys(username, request)[0])


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that stops checking passwords for a username after repeated failures."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field(), "")
        username = username or ""
        if login_locked(username, request):
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_count(username, request)
        else:
            login_failures_clear(username, request)
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
