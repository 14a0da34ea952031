"""Retention tests: a compliance officer (the retention.place_legal_hold permission through a group)."""

import pytest
from django.contrib.auth.models import Group, Permission

from tests.conftest import make_user


@pytest.fixture
def compliance(db):
    """A user in the 'compliance' group, which holds retention.place_legal_hold (no model grants)."""
    group, _ = Group.objects.get_or_create(name="compliance")
    group.permissions.add(
        Permission.objects.get(codename="place_legal_hold", content_type__app_label="retention")
    )
    user = make_user("compliance")
    user.groups.add(group)
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def hold(client_for, compliance):
    """hold(model, version=None, reason=...) -> the created hold's JSON (placed by the compliance officer)."""

    def place(model: str, version: int | None = None, reason: str = "litigation hold: case 2026-041") -> dict:
        response = client_for(compliance).post(
            "/api/v1/legal-holds", {"model": model, "version": version, "reason": reason}, format="json"
        )
        assert response.status_code == 201, response.content
        return response.json()

    return place
