"""The HTTP side of a delivery: a requests session whose connections go only to checked addresses.

Each connection resolves the host itself, keeps only addresses the SSRF rules allow, and connects
to one of those very addresses, so there is no second DNS lookup between check and connect for a
rebinding attacker to exploit. TLS still verifies the certificate against the URL's host name.
Redirects are never followed and proxies from the environment are ignored (a proxy would make the
checked peer the proxy, not the receiver).
"""

import socket
import time
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.poolmanager import PoolManager

from webhooks import rules


class AddressRefused(Exception):
    """The receiver's host resolves to no address the SSRF rules allow. Never retried by urllib3."""


def allowlist() -> rules.Allowlist:
    return rules.Allowlist.parse(settings.QUORUM_WEBHOOK_ALLOWLIST)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (empty if it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return list(dict.fromkeys(info[4][0] for info in infos))


def _checked_connection(conn: HTTPConnection) -> socket.socket:
    host = conn.host.strip("[]")
    port = conn.port or (443 if isinstance(conn, HTTPSConnection) else 80)
    addresses = resolve(host, port)
    policy = allowlist()
    allowed = [a for a in addresses if rules.address_allowed(host, a, policy)]
    refused = [a for a in addresses if a not in allowed]
    if refused or not allowed:
        # Any refused address refuses the host: a name mixing public and private answers is an attack.
        raise AddressRefused(rules.addresses_problem(host, addresses, policy) or f"Refused {host}.")
    last_error: OSError | None = None
    for address in allowed:
        try:
            sock = socket.create_connection((address, port), conn.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            last_error = exc
    raise NewConnectionError(conn, f"Failed to establish a new connection: {last_error}")


class _PinnedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_connection(self)


class _PinnedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:  # the TLS handshake wraps this socket with server_hostname=host
        return _checked_connection(self)


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedPoolManager(PoolManager):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}


class PinnedAdapter(HTTPAdapter):
    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs) -> None:
        self.poolmanager = _PinnedPoolManager(
            num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> NoReturn:
        raise AddressRefused("Webhook deliveries never go through a proxy.")


def session_new() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies or netrc credentials from the environment
    adapter = PinnedAdapter(max_retries=0)  # retries are the delivery's business, with backoff
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    latency_ms: int
    error: str


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> PostResult:
    """POST once; never raises. The response body is read (bounded) and dropped, never echoed."""
    started = time.monotonic()
    session = session_new()
    try:
        response = session.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        )
        try:
            response.raw.read(64 * 1024, decode_content=False)
        except Exception:  # the status is what matters; a receiver that hangs up after it is fine
            pass
        response.close()
        return PostResult(response.status_code, _ms(started), "")
    except AddressRefused as exc:
        return PostResult(None, _ms(started), f"refused: {exc}")
    except requests.exceptions.Timeout:  # before ConnectionError: a connect timeout is both
        return PostResult(None, _ms(started), f"timed out after {timeout:g} s")
    except requests.exceptions.ConnectionError as exc:
        refused = _find_cause(exc, AddressRefused)
        if refused is not None:
            return PostResult(None, _ms(started), f"refused: {refused}")
        return PostResult(
            None, _ms(started), f"connection failed: {_short(exc.args[0] if exc.args else exc)}"
        )
    except requests.exceptions.RequestException as exc:
        refused = _find_cause(exc, AddressRefused)
        if refused is not None:
            return PostResult(None, _ms(started), f"refused: {refused}")
        return PostResult(None, _ms(started), f"request failed: {_short(exc)}")
    finally:
        session.close()


def _find_cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return None


def _short(exc: object) -> str:
    return str(exc)[:500]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def urlsplit_host_port(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL already checked by rules.url_problem."""
    parts = urlsplit(url)
    return (parts.hostname or ""), (parts.port or (443 if parts.scheme.lower() == "https" else 80))
