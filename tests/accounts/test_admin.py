"""The admin: registry pages show only visible models; object permissions only to MANAGE holders,
and permission edits there go through the audited grant services."""

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client

from accounts.models import User
from audit.models import Action, AuditEvent
from tests.fixtures_access import CAST_ROLES, ROLE_LEVELS

pytestmark = pytest.mark.django_db

RM = "/admin/registry/registeredmodel"


def staff_client(access_cast, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        user = access_cast.user(role)
        User.objects.filter(pk=user.pk).update(is_staff=True)
        client.force_login(User.objects.get(pk=user.pk))
    return client


def admin_expected(page: str, role: str) -> int:
    """What the admin answers: login redirect, hidden like missing, 403 without MANAGE."""
    if role == "anonymous":
        return 302
    held = ROLE_LEVELS[role]
    if page in ("index", "model-list", "version-list"):
        return 200
    if page == "token-list":
        return 200 if role == "superuser" else 403
    if page in ("model-change", "version-change"):
        return 200 if "READ" in held else 302  # Django admin redirects "does not exist" to the index
    if page in ("permissions", "permissions-user", "permissions-team"):
        if "READ" not in held:
            return 404
        return 200 if "MANAGE" in held else 403
    if page == "permissions-user-post":
        if "READ" not in held:
            return 404
        return 302 if "MANAGE" in held else 403
    raise AssertionError(page)


def admin_pages(access_cast) -> dict[str, tuple[str, str, dict | None]]:
    fraud = access_cast.fraud
    version = fraud.versions.get(version=1)
    team = Group.objects.get(name="model-risk")
    return {
        "index": ("GET", "/admin/", None),
        "model-list": ("GET", f"{RM}/", None),
        "model-change": ("GET", f"{RM}/{fraud.pk}/change/", None),
        "permissions": ("GET", f"{RM}/{fraud.pk}/permissions/", None),
        "permissions-user": (
            "GET",
            f"{RM}/{fraud.pk}/permissions/user-manage/{access_cast.reader.pk}/",
            None,
        ),
        "permissions-team": ("GET", f"{RM}/{fraud.pk}/permissions/group-manage/{team.pk}/", None),
        "permissions-user-post": (
            "POST",
            f"{RM}/{fraud.pk}/permissions/user-manage/{access_cast.outsider.pk}/",
            {"permissions": ["view_registeredmodel"]},
        ),
        "version-list": ("GET", "/admin/registry/modelversion/", None),
        "version-change": ("GET", f"/admin/registry/modelversion/{version.pk}/change/", None),
        "token-list": ("GET", "/admin/accounts/apitoken/", None),
    }


def test_admin_pages_answer_per_the_cast(access_cast) -> None:
    mismatches = []
    for page, (method, url, data) in admin_pages(access_cast).items():
        for role in CAST_ROLES:
            with transaction.atomic():
                client = staff_client(access_cast, role)
                response = client.post(url, data) if method == "POST" else client.get(url)
                transaction.set_rollback(True)
            if response.status_code != admin_expected(page, role):
                mismatches.append(
                    f"{page} as {role}: {response.status_code}, expected {admin_expected(page, role)}"
                )
    assert mismatches == []


def test_model_admin_lists_only_visible_models(access_cast) -> None:
    reader = staff_client(access_cast, "reader").get(f"{RM}/").content.decode()
    assert "fraud" in reader and "secret-model" not in reader
    outsider = staff_client(access_cast, "outsider").get(f"{RM}/").content.decode()
    assert "fraud" not in outsider and "secret-model" not in outsider
    versions = staff_client(access_cast, "reader").get("/admin/registry/modelversion/").content.decode()
    assert "secret-model" not in versions


def test_hidden_model_pages_answer_like_missing_ids(access_cast) -> None:
    client = staff_client(access_cast, "outsider")
    hidden, missing = access_cast.fraud.pk, 987654
    for suffix in ("change/", "permissions/", f"permissions/user-manage/{access_cast.reader.pk}/"):
        a = client.get(f"{RM}/{hidden}/{suffix}")
        b = client.get(f"{RM}/{missing}/{suffix}")
        assert a.status_code == b.status_code, suffix


def test_object_permissions_link_is_shown_only_to_managers(access_cast) -> None:
    url = f"{RM}/{access_cast.fraud.pk}/change/"
    assert "Object permissions" in staff_client(access_cast, "manager").get(url).content.decode()
    assert "Object permissions" not in staff_client(access_cast, "editor").get(url).content.decode()


def test_permission_form_offers_the_five_levels_and_grants_through_the_audited_service(access_cast) -> None:
    client = staff_client(access_cast, "manager")
    url = f"{RM}/{access_cast.fraud.pk}/permissions/user-manage/{access_cast.outsider.pk}/"
    form = client.get(url).content.decode()
    for codename in (
        "view_registeredmodel",
        "change_registeredmodel",
        "approve_staging_registeredmodel",
        "approve_production_registeredmodel",
        "manage_registeredmodel",
    ):
        assert f'value="{codename}"' in form
    assert 'value="delete_registeredmodel"' not in form and 'value="add_registeredmodel"' not in form

    response = client.post(url, {"permissions": ["view_registeredmodel", "change_registeredmodel"]})
    assert response.status_code == 302
    outsider = User.objects.get(pk=access_cast.outsider.pk)
    assert outsider.has_perm("registry.change_registeredmodel", access_cast.fraud)
    events = AuditEvent.objects.filter(action=Action.ACCESS_GRANTED, actor_username="manager")
    assert sorted(e.after["level"] for e in events) == ["EDIT", "READ"]

    client.post(url, {"permissions": ["view_registeredmodel"]})
    outsider = User.objects.get(pk=access_cast.outsider.pk)
    assert not outsider.has_perm("registry.change_registeredmodel", access_cast.fraud)
    assert AuditEvent.objects.filter(action=Action.ACCESS_REVOKED, actor_username="manager").count() == 1


def test_team_permission_form_changes_team_grants(access_cast) -> None:
    team = Group.objects.get(name="model-risk")
    client = staff_client(access_cast, "manager")
    url = f"{RM}/{access_cast.fraud.pk}/permissions/group-manage/{team.pk}/"
    assert client.post(url, {"permissions": ["view_registeredmodel"]}).status_code == 302
    approver = User.objects.get(username="production-approver")
    assert not approver.has_perm("registry.approve_production_registeredmodel", access_cast.fraud)
    event = AuditEvent.objects.filter(action=Action.ACCESS_REVOKED).latest("seq")
    assert event.before == {"model": "fraud", "team": "model-risk", "level": "APPROVE_PRODUCTION"}


def test_removing_the_last_manage_grant_in_the_admin_is_refused_with_a_message(access_cast) -> None:
    client = staff_client(access_cast, "manager")
    url = f"{RM}/{access_cast.fraud.pk}/permissions/user-manage/{access_cast.manager.pk}/"
    response = client.post(url, {"permissions": ["view_registeredmodel"]}, follow=True)
    assert response.status_code == 200
    assert "last MANAGE grant" in response.content.decode()
    manager = User.objects.get(pk=access_cast.manager.pk)
    assert manager.has_perm("registry.manage_registeredmodel", access_cast.fraud)
    # The whole submission rolled back: READ was not added either.
    assert not AuditEvent.objects.filter(action=Action.ACCESS_GRANTED, actor_username="manager").exists()


def test_registry_data_is_read_only_in_the_admin(access_cast) -> None:
    client = staff_client(access_cast, "superuser")
    url = f"{RM}/{access_cast.fraud.pk}/change/"
    client.post(url, {"description": "changed in admin"})
    access_cast.fraud.refresh_from_db()
    assert access_cast.fraud.description == "detects fraud"
    assert client.get(f"{RM}/add/").status_code == 403
    assert client.get(f"{RM}/{access_cast.fraud.pk}/delete/").status_code == 403


ADMIN_PAGE_LABELS = {
    "index": "GET /admin/",
    "model-list": "GET /admin/registry/registeredmodel/",
    "model-change": "GET …/registeredmodel/<fraud>/change/",
    "permissions": "GET …/registeredmodel/<fraud>/permissions/",
    "permissions-user": "GET …/permissions/user-manage/<user>/",
    "permissions-team": "GET …/permissions/group-manage/<team>/",
    "permissions-user-post": "POST …/permissions/user-manage/<user>/",
    "version-list": "GET /admin/registry/modelversion/",
    "version-change": "GET …/modelversion/<fraud v1>/change/",
    "token-list": "GET /admin/accounts/apitoken/",
}


def admin_matrix_markdown() -> str:
    lines = ["| Admin page | " + " | ".join(CAST_ROLES) + " |", "|" + "---|" * (len(CAST_ROLES) + 1)]
    for page, label in ADMIN_PAGE_LABELS.items():
        cells = [str(admin_expected(page, role)) for role in CAST_ROLES]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_readme_shows_the_tested_admin_matrix() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert admin_matrix_markdown() in readme, "README's admin matrix is stale; paste admin_matrix_markdown()"


@pytest.mark.parametrize(
    "suffix",
    [
        "99999999999999999999999/permissions/",
        "abc/permissions/",
        "{fraud}/permissions/user-manage/99999999999999999999999/",
        "{fraud}/permissions/group-manage/99999999999999999999999/",
        "{fraud}/permissions/user-manage/not-a-number/",
    ],
)
def test_hostile_ids_in_permission_pages_are_404_not_errors(suffix: str, access_cast) -> None:
    client = staff_client(access_cast, "manager")
    assert client.get(f"{RM}/{suffix.format(fraud=access_cast.fraud.pk)}").status_code == 404


def test_marking_a_user_as_service_account_in_the_admin_removes_password_login_and_is_audited(
    access_cast,
) -> None:
    person = User.objects.create_user("to-be-bot", password="a-long-password-123")
    client = staff_client(access_cast, "superuser")
    page = client.get(f"/admin/accounts/user/{person.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {
            "username": "to-be-bot",
            "is_service_account": "on",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "groups": [],
            "user_permissions": [],
        }
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = client.post(f"/admin/accounts/user/{person.pk}/change/", data)
    assert response.status_code == 302, response.content[:500]
    person.refresh_from_db()
    assert person.is_service_account and not person.has_usable_password()
    event = AuditEvent.objects.filter(action=Action.USER_UPDATED).latest("seq")
    assert event.actor_username == "root" and "is_service_account" in event.after["changed"]


def test_global_permissions_given_to_a_group_in_the_admin_are_audited(access_cast) -> None:
    from django.contrib.auth.models import Permission

    team = Group.objects.get(name="model-risk")
    add_model = Permission.objects.get(codename="add_registeredmodel")
    client = staff_client(access_cast, "superuser")
    response = client.post(
        f"/admin/auth/group/{team.pk}/change/", {"name": "model-risk", "permissions": [str(add_model.pk)]}
    )
    assert response.status_code == 302, response.content[:300]
    assert list(team.permissions.values_list("codename", flat=True)) == ["add_registeredmodel"]
    event = AuditEvent.objects.filter(action=Action.TEAM_CHANGED).latest("seq")
    assert event.actor_username == "root"
    assert event.after["global_permissions"] == ["registry.add_registeredmodel"]
