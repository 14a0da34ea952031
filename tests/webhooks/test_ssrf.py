"""SSRF refusals, at creation through the API and at delivery time on the actual connection."""

import socket

import pytest

from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def create(client, url: str, **extra):
    body = {"name": "hook", "url": url, "events": ["model_version_tag.set"], "model": "fraud", **extra}
    return client.post("/api/v1/webhooks", body, format="json")


@pytest.fixture
def owner_client(cast, fraud, client_for, settings):
    settings.QUORUM_WEBHOOK_ALLOWLIST = []
    settings.QUORUM_WEBHOOK_HTTPS_ONLY = False
    return client_for(cast.owner)


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> None:
    """Resolve the given names to the given addresses (a DNS server the attacker controls)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0))
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.5/hook", "10.0.0.5, which is not a public address"),
        ("http://192.168.0.10:8080/hook", "not a public address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, which is not a public address"),
        ("http://[::1]:8000/hook", "::1, which is not a public address"),
        ("http://127.0.0.1:8000/hook", "127.0.0.1"),
        ("http://localhost:8000/hook", "which is not a public address"),
        ("http://0x7f000001/hook", "not a public address"),
        ("http://user:secret@hooks.example.com/hook", "cannot contain credentials"),
        ("gopher://hooks.example.com/", "must use https"),
        ("file:///etc/passwd", "must use https"),
    ],
)
def test_non_public_or_malformed_targets_are_refused_at_creation(owner_client, url, message):
    response = create(owner_client, url)
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["error_code"], body["field"]) == ("INVALID_PARAMETER_VALUE", "url")
    assert message in body["message"]


def test_dns_names_resolving_to_private_or_metadata_addresses_are_refused(owner_client, monkeypatch):
    fake_dns(
        monkeypatch,
        {
            "rebind.attacker.example": ["93.184.215.14", "127.0.0.1"],
            "metadata.attacker.example": ["169.254.169.254"],
        },
    )
    for host, address in (
        ("rebind.attacker.example", "127.0.0.1"),
        ("metadata.attacker.example", "169.254.169.254"),
    ):
        response = create(owner_client, f"http://{host}/hook")
        assert response.status_code == 400
        assert f"resolves to {address}" in response.json()["message"]


def test_production_refuses_plain_http(owner_client, settings, monkeypatch):
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.215.14"]})
    settings.QUORUM_WEBHOOK_HTTPS_ONLY = True
    response = create(owner_client, "http://hooks.example.com/hook")
    assert response.status_code == 400 and "https in production" in response.json()["message"]
    assert create(owner_client, "https://hooks.example.com/hook").status_code == 201


def test_the_allowlist_lets_loopback_in(owner_client, settings, receiver):
    assert create(owner_client, receiver.url).status_code == 400
    settings.QUORUM_WEBHOOK_ALLOWLIST = ["127.0.0.1/32"]
    assert create(owner_client, receiver.url).status_code == 201


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("webhooks_in_process")
def test_a_host_that_rebinds_to_loopback_after_creation_is_refused_on_connect(
    owner_client, cast, settings, receiver, monkeypatch
):
    from registry import services as registry_services

    fake_dns(monkeypatch, {"hooks.attacker.example": ["93.184.215.14"]})
    response = create(owner_client, f"http://hooks.attacker.example:{receiver.port}/hook")
    assert response.status_code == 201, response.content
    fake_dns(monkeypatch, {"hooks.attacker.example": ["127.0.0.1"]})  # the rebinding answer

    registry_services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="v")

    assert receiver.received == []  # never connected, although the receiver listens there
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 1 and delivery.status == "PENDING"
    assert delivery.last_error.startswith("refused: ") and "127.0.0.1" in delivery.last_error
    assert delivery.attempt_log.get().status_code is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("webhooks_in_process", "loopback_allowed")
def test_redirects_are_not_followed_and_responses_not_echoed(
    cast, fraud, client_for, receiver, other_receiver
):
    owner = client_for(cast.owner)
    webhook = create(owner, receiver.url, secret=receiver.secret).json()
    receiver.default_status = ("redirect", other_receiver.url)

    from registry import services as registry_services

    registry_services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="v")

    assert len(receiver.received) == 1 and other_receiver.received == []
    [logged] = owner.get(f"/api/v1/webhooks/{webhook['id']}/deliveries").json()["results"]
    assert (logged["status"], logged["last_status_code"]) == ("PENDING", 302)
    assert logged["last_error"] == "receiver answered HTTP 302"

    tested = owner.post(f"/api/v1/webhooks/{webhook['id']}/test").json()
    assert tested["status"] == "DEAD" and other_receiver.received == []
    assert "must never be echoed" not in str(tested)
