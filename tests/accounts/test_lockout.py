"""Sign-in throttling cannot be turned against users (issue 20, item 4).

Attacks through HTTP: guesses behind a shared NAT address, a stranger locking a victim from
elsewhere, a flood of usernames from one address. Every case ends with a correct password working.
"""

import base64

import pytest
from django.test import Client

from config import login_throttle

pytestmark = pytest.mark.django_db

NAT = "198.51.100.7"
ELSEWHERE = "203.0.113.66"
MODELS = "/api/v1/models"
MLFLOW_SEARCH = "/api/2.0/mlflow/registered-models/search"


def basic(username: str, password: str, *, address: str, path: str = MODELS):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Client(REMOTE_ADDR=address).get(path, HTTP_AUTHORIZATION=f"Basic {token}")


def admin_login(username: str, password: str, *, address: str) -> bool:
    """True when the admin sign-in form accepted the password (it redirects on success)."""
    client = Client(REMOTE_ADDR=address)
    response = client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})
    return response.status_code == 302


def test_a_colleague_behind_the_same_nat_signs_in_while_guesses_continue(cast):
    # B has used Quorum from the office before (any earlier sign-in from this address).
    assert basic("approver", "approver-pw-123!", address=NAT).status_code == 200
    assert admin_login("admin", "admin-pw-123!", address=NAT)
    # A's script keeps guessing, one username and then many (typos, a list): 60 failures.
    for n in range(30):
        assert basic("owner", "wrong-guess", address=NAT).status_code == 401
        assert basic(f"owner{n}", "wrong-guess", address=NAT).status_code == 401
    # Meanwhile B signs in, by HTTP Basic on the native and MLflow routes and on the admin form.
    assert basic("approver", "approver-pw-123!", address=NAT).status_code == 200
    assert basic("approver", "approver-pw-123!", address=NAT, path=MLFLOW_SEARCH).status_code == 200
    assert admin_login("admin", "admin-pw-123!", address=NAT)
    for _ in range(10):
        assert basic("owner", "wrong-guess", address=NAT).status_code == 401
    assert basic("approver", "approver-pw-123!", address=NAT).status_code == 200


def test_a_first_sign_in_behind_the_nat_works_while_a_neighbour_guesses_one_account(cast):
    for _ in range(40):
        assert basic("owner", "wrong-guess", address=NAT).status_code == 401
    assert basic("editor", "editor-pw-123!", address=NAT).status_code == 200
    assert admin_login("admin", "admin-pw-123!", address=NAT)


def test_five_wrong_passwords_from_elsewhere_do_not_lock_the_victim_out(cast):
    for _ in range(10):
        assert basic("owner", "wrong-guess", address=ELSEWHERE).status_code == 401
    for _ in range(10):
        assert not admin_login("owner", "wrong-guess", address=ELSEWHERE)
    assert basic("owner", "owner-pw-123!", address=NAT).status_code == 200
    assert basic("owner", "owner-pw-123!", address=NAT, path=MLFLOW_SEARCH).status_code == 200
    assert admin_login("admin", "admin-pw-123!", address=NAT)
    for _ in range(10):
        assert not admin_login("admin", "wrong-guess", address=ELSEWHERE)
    assert admin_login("admin", "admin-pw-123!", address=NAT)


def test_the_guessing_pair_itself_is_locked_and_says_so(cast, settings):
    for _ in range(settings.QUORUM_LOGIN_MAX_FAILURES):
        assert basic("owner", "wrong-guess", address=ELSEWHERE).status_code == 401
    refused = basic("owner", "owner-pw-123!", address=ELSEWHERE)
    assert refused.status_code == 401
    assert "Too many failed sign-ins" in refused.json()["message"]
    mlflow = basic("owner", "owner-pw-123!", address=ELSEWHERE, path=MLFLOW_SEARCH)
    assert mlflow.status_code == 401 and "Too many failed sign-ins" in mlflow.json()["message"]
    assert not admin_login("owner", "owner-pw-123!", address=ELSEWHERE)


def test_an_ipv6_attacker_cannot_rotate_addresses_within_its_64(cast, settings):
    for n in range(settings.QUORUM_LOGIN_MAX_FAILURES):
        assert basic("owner", "wrong-guess", address=f"2001:db8:1:2::{n + 1:x}").status_code == 401
    assert basic("owner", "owner-pw-123!", address="2001:db8:1:2::99").status_code == 401
    assert basic("owner", "owner-pw-123!", address="2001:db8:1:3::1").status_code == 200


def test_a_username_flood_from_one_address_is_slowed_with_backoff(cast, settings, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(login_throttle, "_now", lambda: clock[0])
    # The editor has signed in from this address before: a known pair, exempt from the backoff.
    assert basic("editor", "editor-pw-123!", address=NAT).status_code == 200
    free = settings.QUORUM_LOGIN_NETWORK_FREE_FAILURES
    for n in range(free):
        response = basic(f"sprayed-{n}", "Winter2026!", address=NAT)
        assert response.status_code == 401 and "Too many" not in response.json()["message"]
    # Past the free failures each further failure opens a doubling wait: 1 s, 2 s, 4 s ...
    waits = []
    for n in range(5):
        refused = basic(f"more-{n}", "Winter2026!", address=NAT).json()["message"]
        assert "Too many failed sign-ins" in refused
        waits.append(int(refused.split("try again in ")[1].split(" ")[0]))
        clock[0] += waits[-1]
        assert "Too many" not in basic(f"more-{n}", "Winter2026!", address=NAT).json()["message"]
    assert waits == [1, 2, 4, 8, 16]
    # During the wait, a username new to this address waits too; the known editor never does.
    assert "Too many" in basic("approver", "approver-pw-123!", address=NAT).json()["message"]
    assert basic("editor", "editor-pw-123!", address=NAT).status_code == 200
    # Another address is not slowed by this one's flood.
    assert basic("approver", "approver-pw-123!", address=ELSEWHERE).status_code == 200
    # The wait passes and a correct password from a new username is accepted again.
    clock[0] += 32
    assert basic("approver", "approver-pw-123!", address=NAT).status_code == 200


def test_the_backoff_never_grows_past_its_maximum(cast, settings, monkeypatch):
    settings.QUORUM_LOGIN_NETWORK_FREE_FAILURES = 0
    settings.QUORUM_LOGIN_BACKOFF_MAX_SECONDS = 5
    clock = [2_000_000.0]
    monkeypatch.setattr(login_throttle, "_now", lambda: clock[0])
    for n in range(12):
        basic(f"sprayed-{n}", "x", address=NAT)
        clock[0] += 5
    refused = basic("sprayed-x", "x", address=NAT)
    assert "Too many" not in refused.json()["message"]
    refused = basic("sprayed-y", "x", address=NAT).json()["message"]
    assert "try again in 5 s" in refused


def test_the_address_is_the_peer_not_a_forwarded_header(cast, settings):
    """Without a trusted proxy, X-Forwarded-For cannot move the guesses to a fresh pair."""
    client = Client(REMOTE_ADDR=ELSEWHERE)
    token = base64.b64encode(b"owner:wrong-guess").decode()
    for n in range(settings.QUORUM_LOGIN_MAX_FAILURES):
        client.get(MODELS, HTTP_AUTHORIZATION=f"Basic {token}", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    right = base64.b64encode(b"owner:owner-pw-123!").decode()
    response = client.get(MODELS, HTTP_AUTHORIZATION=f"Basic {right}", HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert response.status_code == 401 and "Too many" in response.json()["message"]
