"""Sign-in throttling that protects accounts without handing anyone a way to lock others out.

The one rule for every password check (admin sign-in form, HTTP Basic on the native, MLflow and
Databricks routes; accounts/backends.py and accounts/authentication.py call it):

- **Pairs are locked, not accounts and not addresses.** QUORUM_LOGIN_MAX_FAILURES wrong passwords
  for one username from one network (an IPv4 address, an IPv6 /64) lock that (username, network)
  pair for QUORUM_LOGIN_LOCKOUT_SECONDS. The same user from any other network, and every other user
  behind the same NAT, are unaffected: five tries from elsewhere cannot lock a victim out.
- **Floods from one network are slowed, not blocked.** Failures for usernames that never signed in
  from that network count against the network; past QUORUM_LOGIN_NETWORK_FREE_FAILURES, the
  network waits 1 s, 2 s, 4 s ... (at most QUORUM_LOGIN_BACKOFF_MAX_SECONDS) after each failure
  before the next such password is checked. A spray of usernames therefore gets a handful of
  guesses per backoff step instead of unbounded ones.
- **Known pairs are exempt from the flood backoff.** A username that signed in successfully from a
  network within QUORUM_LOGIN_KNOWN_NETWORK_DAYS keeps signing in from it while someone else's
  flood goes on there; only failures on that very pair can lock it.

Refused attempts are not checked and not counted (they reveal nothing, so they must not extend a
lock either). Counters live in the cache (Redis via QUORUM_CACHE_URL in production, so all web
processes share them); one `get_many` round trip per check.

API tokens are not throttled: a token is 256 random bits, so guessing one is not a threat a counter
could slow further, and a token path without a cache round trip keeps service accounts fast.
"""

import hashlib
import ipaddress
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

from config.client import client_address


@dataclass(frozen=True)
class Refusal:
    """Why a password was not checked, and when to try again."""

    reason: str  # "pair_locked" or "network_backoff"
    retry_after: int

    @property
    def message(self) -> str:
        return f"Too many failed sign-ins; try again in {self.retry_after} s."


def _now() -> float:
    return time.time()


def network_of(address: str) -> str:
    """The unit an attacker cannot cheaply multiply: an IPv4 address, or an IPv6 address's /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class _Keys:
    pair: str  # failure count of the pair; expires QUORUM_LOGIN_LOCKOUT_SECONDS after the first
    pair_since: str  # when the pair's count started
    known: str  # set when the username signed in from the network
    network: str  # failure count of the network (usernames not known there)
    network_last: str  # time of the network's last counted failure


def _keys(username: str, request) -> _Keys | None:
    address = client_address(request) if request is not None else ""
    if not address:
        return None
    network = network_of(address)
    pair = _digest(username.lower(), network)
    return _Keys(
        pair="login:pair:" + pair,
        pair_since="login:pair-since:" + pair,
        known="login:known:" + pair,
        network="login:net:" + network,
        network_last="login:net-last:" + network,
    )


def _backoff_seconds(counted: int) -> float:
    over = counted - settings.QUORUM_LOGIN_NETWORK_FREE_FAILURES
    if over < 0:
        return 0.0
    return float(min(2 ** min(over, 30), settings.QUORUM_LOGIN_BACKOFF_MAX_SECONDS))


def login_refusal(username: str, request) -> Refusal | None:
    """Whether a password for this username from this request's network must not be checked now."""
    keys = _keys(username, request)
    if keys is None:
        return None
    found = cache.get_many([keys.pair, keys.pair_since, keys.known, keys.network, keys.network_last])
    now = _now()
    if found.get(keys.pair, 0) >= settings.QUORUM_LOGIN_MAX_FAILURES:
        since = found.get(keys.pair_since, now)
        return Refusal(
            "pair_locked", max(1, int(since + settings.QUORUM_LOGIN_LOCKOUT_SECONDS - now + 0.999))
        )
    if keys.known in found:
        return None
    wait = _backoff_seconds(found.get(keys.network, 0))
    last = found.get(keys.network_last)
    if wait and last is not None and now < last + wait:
        return Refusal("network_backoff", max(1, int(last + wait - now + 0.999)))
    return None


def login_locked(username: str, request) -> bool:
    return login_refusal(username, request) is not None


def _increment(key: str, timeout: float) -> int:
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def login_failure_count(username: str, request) -> None:
    """Count a checked, wrong password against its pair and (unless the pair is known) its network."""
    keys = _keys(username, request)
    if keys is None:
        return
    lockout = settings.QUORUM_LOGIN_LOCKOUT_SECONDS
    now = _now()
    if _increment(keys.pair, lockout) == 1:
        cache.set(keys.pair_since, now, timeout=lockout)
    if cache.get(keys.known) is None:
        # The network's count outlives the longest backoff, so a patient flood stays slowed.
        horizon = 2 * max(lockout, settings.QUORUM_LOGIN_BACKOFF_MAX_SECONDS)
        _increment(keys.network, horizon)
        cache.set(keys.network_last, now, timeout=horizon)


def login_success(username: str, request) -> None:
    """A correct password: the pair's failures are forgiven and the pair is known from now on."""
    keys = _keys(username, request)
    if keys is None:
        return
    cache.delete_many([keys.pair, keys.pair_since])
    cache.set(keys.known, 1, timeout=settings.QUORUM_LOGIN_KNOWN_NETWORK_DAYS * 86400)


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that asks the throttle before checking a password and tells it the outcome.

    `on_refused` and `on_failed` are hooks for the accounts app (the aggregated audit of failed
    sign-ins); this module stays below every app.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field(), "")
        username = username or ""
        refusal = login_refusal(username, request)
        if refusal is not None:
            if request is not None:
                request.login_refusal = refusal
            self.on_refused(username, request, refusal)
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_count(username, request)
            self.on_failed(username, request)
        else:
            login_success(username, request)
        return user

    def on_refused(self, username: str, request, refusal: Refusal) -> None:
        """Called for an attempt the throttle refused (the password was not checked)."""

    def on_failed(self, username: str, request) -> None:
        """Called for a checked, wrong password."""

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
