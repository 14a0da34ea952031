"""A real OpenID Connect provider on loopback: django-oauth-toolkit in its own process (tests/idp/).

`identity_provider` (session) starts it once, with people, groups and two clients: Quorum's
sign-in (authorization code, redirect to the live server's /oidc/callback/) and a pipeline
(password grant, the simplest way for a test to get a user's access token). `oidc_on` points
Quorum's settings at it for one test.
"""

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
import requests

IDP_DIR = Path(__file__).resolve().parent / "idp"
QUORUM_CLIENT = ("quorum", "quorum-client-secret-1")
PIPELINE_CLIENT = ("pipeline", "pipeline-client-secret-1")
AUDIENCE = "quorum-api"
PEOPLE = [
    {
        "username": "alice",
        "password": "alice-idp-pw-1",
        "email": "alice@example.org",
        "groups": ["ml-eng", "staff"],
    },
    {"username": "bob", "password": "bob-idp-pw-1", "email": "bob@example.org", "groups": ["finance"]},
    {"username": "carol", "password": "carol-idp-pw-1", "email": "carol@example.org", "groups": ["ml-eng"]},
    {"username": "root", "password": "root-idp-pw-1", "email": "root@example.org", "groups": ["ml-eng"]},
    {"username": "ci-pipeline", "password": "ci-idp-pw-1"},
]
GROUP_TEAMS = {"ml-eng": "ml-platform", "risk": "model-risk"}


@dataclass
class IdentityProvider:
    url: str
    issuer: str
    subjects: dict[str, str]  # username -> sub
    python: str
    env: dict[str, str]
    key_file: Path

    def manage(self, *args: str) -> None:
        subprocess.run(
            [self.python, "manage.py", *args], cwd=IDP_DIR, env=self.env, check=True, capture_output=True
        )

    def disable(self, username: str) -> None:
        self.manage("disable_user", username)

    def password_grant(self, username: str) -> dict:
        """Tokens for `username` from the pipeline client (what a CI job's credential helper fetches)."""
        password = next(p["password"] for p in PEOPLE if p["username"] == username)
        response = requests.post(
            f"{self.issuer}/token/",
            data={"grant_type": "password", "username": username, "password": password, "scope": "openid"},
            auth=PIPELINE_CLIENT,
            timeout=60,
        )
        response.raise_for_status()
        return response.json()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def identity_provider(live_server, tmp_path_factory) -> Iterator[IdentityProvider]:
    import os

    work = tmp_path_factory.mktemp("idp")
    key = work / "oidc.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))},
        "DJANGO_SETTINGS_MODULE": "idp_settings",
        "IDP_DATABASE": str(work / "idp.sqlite3"),
        "IDP_ISSUER": f"{url}/o",
        "IDP_RSA_KEY_FILE": str(key),
        "IDP_AUDIENCE": AUDIENCE,
    }
    python = sys.executable
    provider = IdentityProvider(url=url, issuer=f"{url}/o", subjects={}, python=python, env=env, key_file=key)
    provider.manage("migrate", "-v0")
    spec = {
        "users": PEOPLE,
        "clients": [
            {
                "client_id": QUORUM_CLIENT[0],
                "client_secret": QUORUM_CLIENT[1],
                "grant": "authorization-code",
                "redirect_uri": f"{live_server.url}/oidc/callback/",
            },
            {"client_id": PIPELINE_CLIENT[0], "client_secret": PIPELINE_CLIENT[1], "grant": "password"},
        ],
    }
    seeded = subprocess.run(
        [python, "manage.py", "idp_seed", "--spec", json.dumps(spec)],
        cwd=IDP_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    provider.subjects = {name: str(pk) for name, pk in json.loads(seeded.stdout).items()}
    log = (work / "idp.log").open("w")
    process = subprocess.Popen(
        [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=IDP_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the test identity provider did not start: {(work / 'idp.log').read_text()}"
                )
            time.sleep(0.2)
        yield provider
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


@pytest.fixture
def oidc_on(settings, identity_provider) -> IdentityProvider:
    """Quorum configured for the test provider, for one test."""
    settings.QUORUM_OIDC_ISSUER = identity_provider.issuer
    settings.QUORUM_OIDC_CLIENT_ID, settings.QUORUM_OIDC_CLIENT_SECRET = QUORUM_CLIENT
    settings.QUORUM_OIDC_GROUP_TEAMS = GROUP_TEAMS
    settings.QUORUM_OIDC_AUDIENCE = AUDIENCE
    settings.QUORUM_OIDC_INTROSPECTION_URL = f"{identity_provider.issuer}/introspect/"
    settings.QUORUM_OIDC_INTROSPECTION_SECONDS = 1
    settings.QUORUM_OIDC_TIMEOUT_SECONDS = 60  # a loaded test machine, not a slow provider
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.oidc.QuorumOIDCBackend"]
    return identity_provider


def sign_in_without_browser(
    live_url: str, username: str, password: str
) -> tuple[requests.Session, requests.Response]:
    """The authorization-code flow as a browser runs it, with requests (for tests that need no rendering)."""
    session = requests.Session()
    page = session.get(f"{live_url}/oidc/authenticate/?next=/admin/", timeout=60)
    if "csrfmiddlewaretoken" not in page.text:  # already signed in at the provider
        return session, page
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    next_value = unescape(re.search(r'name="next" value="([^"]*)"', page.text).group(1))
    answer = session.post(
        page.url,
        data={"csrfmiddlewaretoken": csrf, "username": username, "password": password, "next": next_value},
        headers={"Referer": page.url},
        timeout=60,
    )
    return session, answer
