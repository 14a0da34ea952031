"""Pure decisions of the webhooks: which events exist, the retry
schedule, and the SSRF checks on URLs and addresses. No I/O here.
"""

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

# --- Events -------------------------------------------------------------------------------

# MLflow 3's registry events, named as mlflow.entities.webhook names them ("entity.action").
MLFLOW_EVENTS: tuple[str, ...] = (
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
    # The prompt registry's (prompts are registered models tagged as prompts: registry/prompts.py).
    "prompt.created",
    "prompt_version.created",
    "prompt_tag.set",
    "prompt_tag.deleted",
    "prompt_version_tag.set",
    "prompt_version_tag.deleted",
    "prompt_alias.created",
    "prompt_alias.deleted",
)
# What MLflow lacks and governance needs.
QUORUM_EVENTS: tuple[str, ...] = (
    "model_version.stage_transitioned",
    "model_version_alias.moved",
    "model_version.deleted",
    "transition_request.created",
    "transition_request.approved",
    "transition_request.rejected",
    "transition_request.cancelled",
    "transition_request.applied",
    "transition_request.failed",
    "comment.created",
    "model_version.validation_finished",
    "model_version.governed_copy_finished",
    "model_version.deployed",
    "model_version.deployment_drift",
    "model_version.independent_validation_recorded",
    "model_version.validation_review_overdue",
)
EVENTS: tuple[str, ...] = MLFLOW_EVENTS + QUORUM_EVENTS
WILDCARD = "*"


def events_parse(raw: object) -> list[str]:
    """A validated, de-duplicated list of event names; ValueError naming the first bad one."""
    if not isinstance(raw, list | tuple) or not raw:
        raise ValueError("events must be a non-empty list of event names.")
    parsed: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise ValueError(f"Event {item!r} is not a string.")
        name = item.strip().lower()
        if name != WILDCARD and name not in EVENTS:
            raise ValueError(f"Unknown event '{item[:100]}'; known events: {', '.join(EVENTS)} (or '*').")
        if name not in parsed:
            parsed.append(name)
    return parsed


def webhook_wants(subscribed: Iterable[str], event: str) -> bool:
    return event in subscribed or WILDCARD in subscribed


# --- Retries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryVerdict:
    dead: bool
    next_attempt_at: datetime | None
    reason: str


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Delay after failed attempt number `attempt` (1-based): base, 2·base, 4·base, … capped."""
    if attempt < 1:
        return 0.0
    return min(cap, base * (2 ** min(attempt - 1, 32)))


def retry_decide(
    *, attempt: int, window_start: datetime, now: datetime, base: float, cap: float, window: float
) -> RetryVerdict:
    """After a failed attempt: retry later, or dead-letter once the next try would leave the window."""
    next_at = now + timedelta(seconds=backoff_seconds(attempt, base=base, cap=cap))
    deadline = window_start + timedelta(seconds=window)
    if next_at > deadline:
        return RetryVerdict(
            True, None, f"gave up after {attempt} attempt(s): the retry window of {window:g} s is over"
        )
    return RetryVerdict(False, next_at, "")


def is_success(status_code: int) -> bool:
    """Only a 2xx answer is a delivery; a redirect is not followed and counts as a failure."""
    return 200 <= status_code < 300


# --- SSRF ---------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Allowlist:
    """Operator-named exceptions to "public addresses only": host names and networks."""

    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> "Allowlist":
        hosts: set[str] = set()
        networks: list[Network] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))


@dataclass(frozen=True)
class UrlRefusal:
    """Why a URL may not be a webhook target, in Quorum's words and in MLflow's.

    `mlflow_message` is what MLflow's own server says for the same refusal (its clients and tests
    match on that wording), answered on the MLflow routes; Quorum-only refusals (credentials,
    control characters, length, the allowlist) say the same there as on the native API.
    """

    message: str
    mlflow_message: str


def _refusal(message: str, mlflow_message: str | None = None) -> UrlRefusal:
    return UrlRefusal(message, mlflow_message or message)


def url_refusal(url: object, *, https_only: bool) -> UrlRefusal | None:
    """Why `url` may not be a webhook target, or None. Addresses are checked separately."""
    if not isinstance(url, str):
        return _refusal(
            "The webhook URL is required.",
            None if url is None else f"Webhook URL must be a string, got {type(url).__name__!r}",
        )
    if not url.strip():
        return _refusal(
            "The webhook URL is required.", f"Webhook URL cannot be empty or just whitespace: {url!r}"
        )
    if len(url) > 2000:
        return _refusal("The webhook URL is longer than 2000 characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return _refusal("The webhook URL cannot contain whitespace or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        return _refusal(f"The webhook URL is malformed: {exc}.", f"Invalid webhook URL {url!r}: {exc!r}")
    scheme = parts.scheme.lower()
    allowed = ("https",) if https_only else ("http", "https")
    if scheme not in allowed:
        mlflow_message = f"Invalid webhook URL scheme: {scheme!r}. Allowed schemes are: {', '.join(allowed)}."
        if scheme == "http":
            return _refusal("The webhook URL must use https in production.", mlflow_message)
        return _refusal(
            f"The webhook URL must use https (or http outside production), not '{parts.scheme}'.",
            mlflow_message,
        )
    if parts.username is not None or parts.password is not None:
        return _refusal("The webhook URL cannot contain credentials; sign with the webhook secret instead.")
    if not parts.hostname:
        return _refusal("The webhook URL must name a host.", f"Webhook URL must include a hostname: {url!r}")
    return None


def url_problem(url: object, *, https_only: bool) -> str | None:
    """Quorum's wording of `url_refusal` (deliveries log it; the native API answers it)."""
    refusal = url_refusal(url, https_only=https_only)
    return refusal.message if refusal else None


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Translation prefixes whose last 32 bits are the IPv4 destination (RFC 6052 well-known NAT64
# prefix; the deprecated IPv4-compatible ::a.b.c.d).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _as_ip(address: str) -> IPAddress:
    return ipaddress.ip_address(address.split("%", 1)[0])


def _carried_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 destinations an IPv6 address carries: mapped, compatible, 6to4, Teredo, NAT64.

    A packet to such an address ends up at the IPv4 address inside it (::ffff:127.0.0.1 is
    loopback, 2002:7f00:1:: is 6to4 of loopback, 64:ff9b::a9fe:a9fe is the metadata service
    through NAT64), so the filter judges what is inside.
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the Teredo server and the (de-obfuscated) client
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _ip_allowed(ip: IPAddress, allowlist: Allowlist) -> bool:
    if any(ip in network for network in allowlist.networks):
        return True
    # is_global excludes private, loopback, link-local (169.254.169.254), CGNAT, documentation …
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def address_allowed(host: str, address: str, allowlist: Allowlist) -> bool:
    """Whether connecting to `address` (resolved from `host`) is allowed: public, or allowlisted.

    For an IPv6 address that carries an IPv4 destination, every carried address must be allowed.
    """
    try:
        ip = _as_ip(address)
    except ValueError:
        return False
    if host.lower().rstrip(".") in allowlist.hosts:
        return True
    carried = _carried_ipv4(ip)
    if carried:
        return all(_ip_allowed(inner, allowlist) for inner in carried)
    return _ip_allowed(ip, allowlist)


def addresses_refusal(host: str, addresses: Iterable[str], allowlist: Allowlist) -> UrlRefusal | None:
    """Refuse a host if any of its addresses is non-public and not allowlisted (rebinding-proof at
    creation; each connection is checked again when it is made)."""
    addresses = list(addresses)
    if not addresses:
        return _refusal(
            f"The webhook host '{host}' does not resolve.",
            f"Cannot resolve Webhook URL hostname {host!r}: it has no address.",
        )
    for address in addresses:
        if not address_allowed(host, address, allowlist):
            hint = "an operator can allow it with QUORUM_WEBHOOK_ALLOWLIST."
            return _refusal(
                f"The webhook host '{host}' resolves to {address}, which is not a public address; {hint}",
                # MLflow's sentence, then Quorum's way out (MLflow's is MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS).
                f"Webhook URL must not resolve to a non-public IP address. {host!r} resolves to {address}, "
                f"which is not a public address; {hint}",
            )
    return None


def addresses_problem(host: str, addresses: Iterable[str], allowlist: Allowlist) -> str | None:
    refusal = addresses_refusal(host, addresses, allowlist)
    return refusal.message if refusal else None
