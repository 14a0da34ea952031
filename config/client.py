"""What a request may say about itself: its client address, its request id, and our public address.

Headers a client can write (X-Forwarded-For, X-Request-ID, Host) are believed only from the
reverse proxies named in QUORUM_TRUSTED_PROXIES (CIDRs; default none). Without a trusted proxy in
front, the client address is the socket's peer (REMOTE_ADDR) and the server makes the request id.
Absolute links are built from QUORUM_PUBLIC_URL, never from the Host header.
"""

import ipaddress
import uuid
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(configured: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in configured)


def _is_trusted(address: str) -> bool:
    configured = tuple(settings.QUORUM_TRUSTED_PROXIES)
    if not configured or not address:
        return False
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in _networks(configured))


def from_trusted_proxy(request) -> bool:
    """Whether the request's peer is one of the configured reverse proxies."""
    return _is_trusted(request.META.get("REMOTE_ADDR", ""))


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or the nearest untrusted hop a trusted proxy forwarded.

    X-Forwarded-For is read from the right (the hop our own proxy appended) and trusted proxies
    are skipped; whatever the client wrote further left is never reached while an untrusted hop
    stands between. A malformed hop ends the walk at the last address known good.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if not _is_trusted(remote):
        return remote[:64]
    client = remote
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        client = hop
        if not _is_trusted(hop):
            break
    return client[:64]


def request_id(request) -> str:
    """X-Request-ID as a trusted proxy set it, otherwise a fresh one of ours."""
    if from_trusted_proxy(request):
        incoming = request.headers.get("X-Request-ID", "")
        if incoming and incoming.isprintable():
            return incoming[:64]
    return uuid.uuid4().hex


def public_origin() -> str:
    """scheme://host[:port] of QUORUM_PUBLIC_URL (checked at start-up to be nothing more)."""
    return settings.QUORUM_PUBLIC_URL.rstrip("/")


def public_url(path: str) -> str:
    """An absolute URL for a path on this service, from QUORUM_PUBLIC_URL."""
    return public_origin() + "/" + path.lstrip("/")
