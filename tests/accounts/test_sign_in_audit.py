"""Failed sign-ins are audited as counted windows, not one chained event per guess (issue 20, item 5).

An unauthenticated caller must not be able to grow the audit chain without bound: not by guessing,
not by hammering a lock, not by spraying invented usernames. Refused team joins are audited.
"""

import base64
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import SignInFailures
from accounts.tasks import sign_in_failure_windows_close
from audit.models import Action, AuditEvent
from config import login_throttle

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"


def basic(username: str, password: str, *, address: str = ATTACKER) -> int:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Client(REMOTE_ADDR=address).get("/api/v1/models", HTTP_AUTHORIZATION=f"Basic {token}").status_code


def failed_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.LOGIN_FAILED).order_by("seq"))


def close_ended_windows(settings) -> int:
    """Run the closing sweep as if the current window had ended."""
    SignInFailures.objects.update(
        window_start=timezone.now() - timedelta(seconds=2 * settings.QUORUM_LOGIN_AUDIT_WINDOW_SECONDS)
    )
    return sign_in_failure_windows_close()


def test_a_guessing_run_against_a_lock_appends_one_event_not_one_per_guess(cast, settings):
    chain_before = AuditEvent.objects.count()
    for _ in range(200):
        assert basic("owner", "wrong-guess") == 401
    assert AuditEvent.objects.count() == chain_before + 1
    (opened,) = failed_events()
    assert opened.target_name == "owner" and opened.client_ip == ATTACKER
    row = SignInFailures.objects.get()
    assert (row.username, row.network) == ("owner", ATTACKER)
    assert (row.failures, row.refused) == (
        settings.QUORUM_LOGIN_MAX_FAILURES,
        200 - settings.QUORUM_LOGIN_MAX_FAILURES,
    )


def test_the_window_closing_records_the_totals_once(cast, settings):
    for _ in range(12):
        basic("owner", "wrong-guess")
    assert close_ended_windows(settings) == 1
    assert sign_in_failure_windows_close() == 0  # already closed: never twice
    opened, closed = failed_events()
    assert closed.after["failures"] == settings.QUORUM_LOGIN_MAX_FAILURES
    assert closed.after["refused"] == 12 - settings.QUORUM_LOGIN_MAX_FAILURES
    assert closed.after["network"] == ATTACKER and closed.after["username"] == "owner"
    assert "window closed" in closed.reason


def test_a_single_failure_is_audited_at_once_and_not_again_at_closing(cast, settings):
    assert (
        not Client(REMOTE_ADDR=ATTACKER)
        .post("/admin/login/", {"username": "admin", "password": "typo", "next": "/admin/"})
        .status_code
        == 302
    )
    assert len(failed_events()) == 1
    assert close_ended_windows(settings) == 0
    assert len(failed_events()) == 1


def test_the_next_window_opens_with_its_own_event(cast, settings):
    basic("owner", "wrong-guess")
    close_ended_windows(settings)
    basic("owner", "wrong-guess")
    assert len(failed_events()) == 2
    assert SignInFailures.objects.count() == 2


def test_a_spray_of_invented_usernames_is_bounded_by_the_backoff(cast, settings, monkeypatch):
    # The throttle's clock stands still: on a loaded machine 300 guesses outlast backoff steps,
    # and the bound below would count how slow the machine was.
    frozen = login_throttle._now()
    monkeypatch.setattr(login_throttle, "_now", lambda: frozen)
    chain_before = AuditEvent.objects.count()
    for n in range(300):
        assert basic(f"invented-{n}", "Winter2026!") == 401
    added = AuditEvent.objects.count() - chain_before
    # The free failures, the window's first failure, and one refused window.
    assert added <= settings.QUORUM_LOGIN_NETWORK_FREE_FAILURES + 3
    network_wide = SignInFailures.objects.get(username="")
    assert network_wide.refused >= 300 - settings.QUORUM_LOGIN_NETWORK_FREE_FAILURES - 2


def test_a_refused_team_join_is_audited_with_who_what_and_why(api_as, access_cast):
    refused = api_as("outsider").post(
        "/api/v1/teams/model-risk/members", {"username": "outsider"}, format="json"
    )
    assert refused.status_code == 403
    event = AuditEvent.objects.get(action=Action.TEAM_JOIN_REFUSED)
    assert event.action.endswith(".refused")
    assert (event.actor_username, event.target_name) == ("outsider", "model-risk")
    assert event.after == {"team": "model-risk", "member": "outsider"}
    assert "needs a superuser" in event.reason
    assert api_as("superuser").get("/api/v1/teams/model-risk").json()["members"] == ["production-approver"]
