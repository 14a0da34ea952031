"""Unit tests for the permission helpers: level parsing and grant-only checks (superuser aside)."""

import pytest
from django.contrib.auth.models import Group, Permission
from guardian.shortcuts import assign_perm

from access.grants import Level, level_parse, user_can, user_holds, user_holds_global
from tests.fixtures_access import access_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("READ", Level.READ),
        ("read", Level.READ),
        (" approve_production ", Level.APPROVE_PRODUCTION),
        ("manage_registeredmodel", Level.MANAGE),
        ("change_registeredmodel", Level.EDIT),
    ],
)
def test_level_parse_accepts_names_and_codenames(raw: str, level: Level) -> None:
    assert level_parse(raw) is level


@pytest.mark.parametrize("raw", ["", "OWNER", "delete_registeredmodel", None, 3, "READ;DROP"])
def test_level_parse_refuses_anything_else(raw) -> None:
    with pytest.raises(ValueError):
        level_parse(raw)


def test_superuser_can_everything_but_holds_only_what_was_granted(access_cast) -> None:
    root, fraud = access_cast.superuser, access_cast.fraud
    assert all(user_can(root, level, fraud) for level in Level)
    assert not any(user_holds(root, level, fraud) for level in Level)
    assign_perm("approve_staging_registeredmodel", root, fraud)
    assert user_holds(root, Level.APPROVE_STAGING, fraud)
    assert not user_holds(root, Level.APPROVE_PRODUCTION, fraud)


def test_grants_count_directly_through_teams_and_globally(access_cast) -> None:
    fraud = access_cast.fraud
    person = access_user("person")
    assert not user_holds(person, Level.READ, fraud)
    team = Group.objects.create(name="auditors")
    person.groups.add(team)
    team.permissions.add(Permission.objects.get(codename="view_registeredmodel"))
    assert user_holds(person, Level.READ, fraud) and user_can(person, Level.READ, fraud)
    assert not user_holds(person, Level.EDIT, fraud)
    assert not user_holds_global(person, "registry.add_registeredmodel")
    assert user_holds_global(access_cast.manager, "registry.add_registeredmodel")


def test_manage_implies_every_level_but_no_other_level_implies_another(access_cast) -> None:
    fraud = access_cast.fraud
    assert all(user_can(access_cast.manager, level, fraud) for level in Level)
    approver = access_cast.production_approver
    assert user_can(approver, Level.APPROVE_PRODUCTION, fraud)
    assert not user_can(approver, Level.APPROVE_STAGING, fraud)
    assert not user_can(approver, Level.EDIT, fraud)


def test_inactive_users_can_nothing(access_cast) -> None:
    manager = access_cast.manager
    manager.is_active = False
    assert not user_can(manager, Level.READ, access_cast.fraud)
    assert not user_holds(manager, Level.READ, access_cast.fraud)
