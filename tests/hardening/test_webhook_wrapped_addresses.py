"""Private IPv4 wrapped in IPv6 transition addresses is still private (issue 20, item 7).

6to4 (2002::/16), Teredo (2001::/32), NAT64 (64:ff9b::/96), IPv4-mapped and IPv4-compatible
addresses carry an IPv4 destination; the webhook filter judges that destination.
"""

import pytest

from tests.webhooks.test_ssrf import create, fake_dns
from webhooks import rules

pytestmark = pytest.mark.django_db

NO_ALLOWLIST = rules.Allowlist.parse([])

WRAPPED_PRIVATE = [
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of the cloud metadata address
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::10.0.0.1",  # IPv4-compatible (deprecated)
]


@pytest.mark.parametrize("address", WRAPPED_PRIVATE)
def test_wrapped_private_addresses_are_refused(address):
    assert not rules.address_allowed("hooks.example.com", address, NO_ALLOWLIST)


@pytest.mark.parametrize("address", ["2002:808:808::1", "64:ff9b::808:808"])
def test_wrapped_public_addresses_are_allowed(address):
    """An IPv6-only network reaches public IPv4 receivers through NAT64/6to4: still allowed."""
    assert rules.address_allowed("hooks.example.com", address, NO_ALLOWLIST)


def test_the_allowlist_applies_to_the_carried_address():
    allowlist = rules.Allowlist.parse(["10.0.0.0/8"])
    assert rules.address_allowed("other", "2002:a00:1::1", allowlist)
    assert not rules.address_allowed("other", "2002:7f00:1::", allowlist)


@pytest.mark.parametrize(
    "address", ["2002:7f00:1::", "64:ff9b::a9fe:a9fe", "2001:0:4136:e378:8000:63bf:80ff:fffe"]
)
def test_a_host_resolving_to_a_wrapped_private_address_is_refused_over_http(
    cast, fraud, client_for, settings, monkeypatch, address
):
    settings.QUORUM_WEBHOOK_ALLOWLIST = []
    settings.QUORUM_WEBHOOK_HTTPS_ONLY = False
    fake_dns(monkeypatch, {"wrapped.attacker.example": [address]})
    response = create(client_for(cast.owner), "http://wrapped.attacker.example/hook")
    assert response.status_code == 400, response.content
    assert f"resolves to {address}" in response.json()["message"]
    literal = create(client_for(cast.owner), f"http://[{address}]/hook")
    assert literal.status_code == 400
