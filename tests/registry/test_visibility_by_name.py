"""Visibility by name sees what the list sees, and follows the one access rule (access/grants.py)."""

import pytest
from django.contrib.auth.models import Permission

from accounts.models import User
from registry.errors import NotFound
from registry.selectors import registered_model_get, registered_models_visible_to
from tests.fixtures_access import AccessCast, access_user

pytestmark = pytest.mark.django_db


def _found_by_name(user: User | None, name: str) -> bool:
    try:
        registered_model_get(user, name)
    except NotFound:
        return False
    return True


def visible_names(user: User | None, names: list[str]) -> tuple[list[str], list[str]]:
    by_list = sorted(registered_models_visible_to(user).filter(name__in=names).values_list("name", flat=True))
    by_name = sorted(n for n in names if _found_by_name(user, n))
    return by_list, by_name


def test_named_visibility_matches_the_list_query_for_every_role(access_cast: AccessCast) -> None:
    names = ["fraud", "secret-model", "no-such-model"]
    expected = {
        "outsider": [],
        "reader": ["fraud"],  # direct READ
        "production_approver": ["fraud"],  # READ through a team
        "manager": ["fraud"],  # MANAGE as creator
        "other_owner": ["secret-model"],
        "superuser": ["fraud", "secret-model"],
    }
    for role, names_seen in expected.items():
        by_list, by_name = visible_names(access_cast.user(role), names)
        assert by_list == by_name == names_seen, role
    assert visible_names(None, names) == ([], [])


def test_a_global_read_grant_shows_every_model_as_in_django(access_cast: AccessCast) -> None:
    watcher = access_user("watcher")
    watcher.user_permissions.add(Permission.objects.get(codename="view_registeredmodel"))
    names = ["fraud", "secret-model"]
    assert visible_names(User.objects.get(pk=watcher.pk), names) == (names, names)


def test_grants_that_do_not_give_read_do_not_make_a_model_visible(access_cast: AccessCast) -> None:
    # A global grant below READ (approve only) shows nothing, on both paths.
    watcher = access_user("watcher")
    watcher.user_permissions.add(Permission.objects.get(codename="approve_production_registeredmodel"))
    assert visible_names(User.objects.get(pk=watcher.pk), ["fraud"]) == ([], [])


def test_deactivated_user_sees_nothing(access_cast: AccessCast) -> None:
    User.objects.filter(pk=access_cast.reader.pk).update(is_active=False)
    assert visible_names(access_cast.user("reader"), ["fraud"]) == ([], [])
