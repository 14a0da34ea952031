"""Headers a client writes are not believed (issue 20, item 6).

Absolute links come from QUORUM_PUBLIC_URL, never the Host header; X-Request-ID and
X-Forwarded-For count only when the peer is a configured trusted proxy.
"""

import base64

import pytest
from django.test import Client

from audit.models import Action, AuditEvent
from registry import services
from tests.fixtures_mlflow import api_token_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords", "ungoverned")]

DOWNLOAD_URI = "/api/2.0/mlflow/model-versions/get-download-uri"


@pytest.fixture
def local_version(cast, artifact_root):
    folder = artifact_root / "fraud" / "1"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    services.registered_model_create(actor=cast.owner, name="fraud")
    services.model_version_create(actor=cast.owner, name="fraud", source=str(folder))
    return folder


def bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token_for(user)}"}


@pytest.mark.parametrize("host", ["127.0.0.1:6666", "localhost:4242", "testserver:31337"])
def test_a_host_header_port_never_reaches_the_download_uri(cast, local_version, settings, host):
    settings.QUORUM_PUBLIC_URL = "https://quorum.example.com"
    response = Client(HTTP_HOST=host).get(
        DOWNLOAD_URI, {"name": "fraud", "version": "1"}, **bearer(cast.owner)
    )
    assert response.status_code == 200, response.content
    uri = response.json()["artifact_uri"]
    assert uri == "https://quorum.example.com/api/2.0/mlflow-artifacts/artifacts/quorum-models/fraud/1"
    assert host.split(":")[1] not in uri


def test_page_links_of_native_lists_come_from_the_public_url(cast, settings):
    settings.QUORUM_PUBLIC_URL = "https://quorum.example.com"
    for name in ("a", "b", "c"):
        services.registered_model_create(actor=cast.owner, name=name)
    body = Client(HTTP_HOST="127.0.0.1:6666").get("/api/v1/models", {"limit": 1}, **bearer(cast.owner)).json()
    assert body["next"].startswith("https://quorum.example.com/api/v1/models?")
    assert "6666" not in body["next"]


def test_the_default_public_url_is_the_runserver_address(cast, local_version):
    uri = Client(HTTP_HOST="localhost:6666").get(
        DOWNLOAD_URI, {"name": "fraud", "version": "1"}, **bearer(cast.owner)
    )
    assert uri.json()["artifact_uri"].startswith("http://127.0.0.1:8000/")


def _failed_sign_in(client: Client, **headers) -> AuditEvent:
    token = base64.b64encode(b"owner:wrong-password").decode()
    response = client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Basic {token}", **headers)
    assert response.status_code == 401
    return AuditEvent.objects.filter(action=Action.LOGIN_FAILED).latest("id"), response


def test_a_client_chosen_request_id_is_not_the_audit_request_id(cast):
    event, response = _failed_sign_in(Client(REMOTE_ADDR="203.0.113.5"), HTTP_X_REQUEST_ID="forged-id-123")
    assert event.request_id != "forged-id-123"
    assert response["X-Request-ID"] == event.request_id


def test_a_client_forwarded_address_is_not_the_audit_address(cast):
    event, _ = _failed_sign_in(Client(REMOTE_ADDR="203.0.113.5"), HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert event.client_ip == "203.0.113.5"


def test_a_trusted_proxy_passes_on_the_request_id_and_the_client_address(cast, settings):
    settings.QUORUM_TRUSTED_PROXIES = ["10.0.0.0/24"]
    event, response = _failed_sign_in(
        Client(REMOTE_ADDR="10.0.0.7"),
        HTTP_X_REQUEST_ID="lb-req-42",
        # Left to right: what the client wrote, the client as the proxy saw it, an inner proxy.
        HTTP_X_FORWARDED_FOR="192.0.2.99, 198.51.100.23, 10.0.0.9",
    )
    assert (event.request_id, event.client_ip) == ("lb-req-42", "198.51.100.23")
    assert response["X-Request-ID"] == "lb-req-42"


def test_a_peer_outside_the_trusted_proxies_is_not_believed(cast, settings):
    settings.QUORUM_TRUSTED_PROXIES = ["10.0.0.0/24"]
    event, _ = _failed_sign_in(
        Client(REMOTE_ADDR="10.0.1.7"), HTTP_X_REQUEST_ID="lb-req-43", HTTP_X_FORWARDED_FOR="198.51.100.23"
    )
    assert (event.request_id != "lb-req-43", event.client_ip) == (True, "10.0.1.7")


def test_a_forwarded_address_decides_the_sign_in_lock_only_through_a_trusted_proxy(cast, settings):
    settings.QUORUM_TRUSTED_PROXIES = ["10.0.0.0/24"]
    wrong = base64.b64encode(b"owner:wrong-password").decode()
    right = base64.b64encode(b"owner:owner-pw-123!").decode()
    proxy = Client(REMOTE_ADDR="10.0.0.7")
    for _ in range(settings.QUORUM_LOGIN_MAX_FAILURES):
        proxy.get("/api/v1/models", HTTP_AUTHORIZATION=f"Basic {wrong}", HTTP_X_FORWARDED_FOR="198.51.100.23")
    # The guesser behind the load balancer is locked; the owner coming through it from home is not.
    guesser = proxy.get(
        "/api/v1/models", HTTP_AUTHORIZATION=f"Basic {right}", HTTP_X_FORWARDED_FOR="198.51.100.23"
    )
    assert guesser.status_code == 401
    owner = proxy.get(
        "/api/v1/models", HTTP_AUTHORIZATION=f"Basic {right}", HTTP_X_FORWARDED_FOR="192.0.2.10"
    )
    assert owner.status_code == 200


def test_a_public_url_with_a_path_is_refused_at_start_up():
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()",
        ],
        env={**__import__("os").environ, "QUORUM_PUBLIC_URL": "https://quorum.example.com/sub"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "QUORUM_PUBLIC_URL must be scheme://host" in result.stderr
