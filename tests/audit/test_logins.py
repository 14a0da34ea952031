"""Logins and failed logins are audited, with where they came from and never with the password."""

import json

import pytest
from django.test import Client

from audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db


def _admin_login(username: str, password: str) -> None:
    Client(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="pytest-browser").post(
        "/admin/login/", {"username": username, "password": password, "next": "/admin/"}
    )


def test_a_successful_admin_login_is_recorded(cast):
    _admin_login("admin", "admin-pw-123!")
    event = AuditEvent.objects.get(action=Action.LOGIN)
    assert (event.actor_username, event.actor_id, event.actor_kind) == ("admin", cast.admin.pk, "user")
    assert (event.client_ip, event.user_agent) == ("203.0.113.9", "pytest-browser")
    assert event.request_id


def test_a_failed_login_is_recorded_without_the_password(cast):
    _admin_login("admin", "Wr0ng-but-secret!")
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.actor_kind == "anonymous"
    assert event.target_name == "admin"
    assert event.after == {"username": "admin"}
    assert event.client_ip == "203.0.113.9"
    stored = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "Wr0ng-but-secret!" not in stored
    assert not AuditEvent.objects.filter(action=Action.LOGIN).exists()


def test_a_failed_basic_auth_on_the_api_is_a_failed_login(cast):
    import base64

    credentials = base64.b64encode(b"owner:not-the-password").decode()
    response = Client().get("/api/v1/models", HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert response.status_code == 401
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.target_name == "owner"
    assert "not-the-password" not in json.dumps([event.before, event.after, event.reason, event.target_name])
