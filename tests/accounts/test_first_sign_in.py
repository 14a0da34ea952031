"""A printed one-time password must be replaced at first sign-in (issue 21), over HTTP.

Attack first: someone who read the quickstart's output (a shared terminal, a CI log) tries the
printed password on the API, or keeps using the admin with it.
"""

import base64

import pytest
from django.test import Client

from accounts import services
from accounts.models import User
from audit.models import Action, AuditEvent
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "printed-once-pw-123!"
NEW_PASSWORD = "my-own-secret-pw-456?"


@pytest.fixture
def printed(db) -> User:
    """An approver as quickstart makes one: staff, password printed, marked to change it."""
    user = make_user("demo-approver", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    services.one_time_password_issued(user=user)
    return User.objects.get(pk=user.pk)


def _basic(username: str, password: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_the_printed_password_is_refused_on_the_native_and_the_mlflow_api(printed):
    native = Client().get("/api/v1/models", **_basic(printed.username, PASSWORD))
    assert native.status_code == 403
    assert "one-time password" in native.json()["message"]
    mlflow = Client().get("/api/2.0/mlflow/registered-models/search", **_basic(printed.username, PASSWORD))
    assert mlflow.status_code == 403
    assert mlflow.json()["error_code"] == "PERMISSION_DENIED"
    assert "set a new password" in mlflow.json()["message"]


def test_the_admin_holds_the_user_at_the_password_change_page(printed):
    browser = Client()
    assert browser.login(username=printed.username, password=PASSWORD)
    for page in ("/admin/", "/admin/approvals/", "/admin/registry/registeredmodel/"):
        response = browser.get(page)
        assert response.status_code == 302, page
        assert response["Location"] == "/admin/password_change/"
    assert browser.get("/admin/password_change/").status_code == 200
    # The session cannot be used for the API either, in each API's format.
    native = browser.get("/api/v1/models")
    assert native.status_code == 403 and native.json()["error_code"] == "PERMISSION_DENIED"
    mlflow = browser.get("/api/2.0/mlflow/registered-models/search")
    assert mlflow.status_code == 403 and mlflow.json()["error_code"] == "PERMISSION_DENIED"


def test_changing_it_ends_the_one_time_password_audited_and_unlocks_everything(printed):
    browser = Client()
    assert browser.login(username=printed.username, password=PASSWORD)
    response = browser.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == "/admin/password_change/done/"
    user = User.objects.get(pk=printed.pk)
    assert not user.must_change_password and user.check_password(NEW_PASSWORD)
    event = AuditEvent.objects.filter(action=Action.USER_UPDATED, target_name=printed.username).get()
    assert event.actor_username == printed.username
    assert event.before == {"must_change_password": True}
    assert event.after == {"must_change_password": False, "password_changed": True}
    assert browser.get("/admin/").status_code == 200  # the session survives the change
    assert Client().get("/api/v1/models", **_basic(printed.username, NEW_PASSWORD)).status_code == 200
    assert Client().get("/api/v1/models", **_basic(printed.username, PASSWORD)).status_code == 401


def test_a_wrong_old_password_changes_nothing(printed):
    browser = Client()
    assert browser.login(username=printed.username, password=PASSWORD)
    response = browser.post(
        "/admin/password_change/",
        {"old_password": "guess", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200  # the form again, with its error
    assert User.objects.get(pk=printed.pk).must_change_password
    assert not AuditEvent.objects.filter(action=Action.USER_UPDATED, target_name=printed.username).exists()


def test_users_without_a_printed_password_are_not_held(cast):
    browser = Client()
    staff = make_user("staffer", is_staff=True)
    assert browser.login(username=staff.username, password="staffer-pw-123!")
    assert browser.get("/admin/").status_code == 200
    assert Client().get("/api/v1/models", **_basic("owner", "owner-pw-123!")).status_code == 200
