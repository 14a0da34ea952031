"""Issue 20, item 5: the accounts and grants that ensure_admin and quickstart make are audited.

Both commands used to create or reset superusers, approvers and their grants without a trace in
the chain. Each change is recorded in its own transaction, as actor `system` with the command's
name, and (being privileged) anchored by a checkpoint once the command commits.
"""

import pytest
from django.core.management import call_command

from accounts.models import User
from audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_ensure_admin_creating_the_superuser_is_audited(monkeypatch):
    monkeypatch.setenv("QUORUM_ADMIN_USERNAME", "root-admin")
    monkeypatch.setenv("QUORUM_ADMIN_PASSWORD", "a-long-admin-password")
    call_command("ensure_admin")
    [event] = _events(Action.USER_CREATED)
    assert (event.actor_username, event.actor_detail) == ("system", "manage.py ensure_admin")
    assert event.target_name == "root-admin"
    assert event.after == {"username": "root-admin", "superuser": True, "staff": True, "active": True}


def test_ensure_admin_resetting_a_password_or_restoring_superuser_is_audited(monkeypatch):
    User.objects.create_user("root-admin", password="old-password-123", is_active=False)
    monkeypatch.setenv("QUORUM_ADMIN_USERNAME", "root-admin")
    monkeypatch.setenv("QUORUM_ADMIN_PASSWORD", "a-long-admin-password")
    call_command("ensure_admin")
    [event] = _events(Action.USER_UPDATED)
    assert event.actor_detail == "manage.py ensure_admin"
    assert event.before == {"superuser": False, "staff": False, "active": False}
    assert event.after == {"superuser": True, "staff": True, "active": True, "password_reset": True}
    call_command("ensure_admin")  # up to date: nothing changes, nothing is recorded
    assert len(_events(Action.USER_UPDATED)) == 1


# Committed for real, as quickstart runs: the demo's versions validate on commit, and its signed demo
# approval needs their digests.
@pytest.mark.django_db(transaction=True)
def test_quickstart_users_and_grants_are_audited(settings, tmp_path):
    settings.QUORUM_ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.QUORUM_ALLOWED_LOCAL_ROOTS = [tmp_path / "artifacts"]
    call_command("quickstart", "--no-serve")
    created = {e.target_name: e for e in _events(Action.USER_CREATED)}
    assert set(created) == {"admin", "risk-approver", "ml-lead"}
    assert created["admin"].after["superuser"] is True
    assert {e.actor_detail for e in created.values()} == {"manage.py quickstart"}
    # Their passwords were printed: each is marked to be changed at first sign-in (issue 21).
    assert all(e.after["must_change_password"] is True for e in created.values())
    assert set(User.objects.filter(must_change_password=True).values_list("username", flat=True)) == set(
        created
    )
    granted = [e.after for e in _events(Action.ACCESS_GRANTED)]
    assert {"permission": "add_registeredmodel", "user": "admin"} in granted
    for approver in ("risk-approver", "ml-lead"):
        for model in ("fraud-detector", "churn-predictor", "credit-scoring"):
            for level in ("READ", "APPROVE_STAGING", "APPROVE_PRODUCTION"):
                assert {"model": model, "user": approver, "level": level} in granted
    assert "audit chain OK" in _verify()


def _verify() -> str:
    from io import StringIO

    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()
