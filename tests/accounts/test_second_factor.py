"""TOTP second factor (issue 23): enrolment, admin sign-in and signing with codes computed here."""

import re
import time
from base64 import b32decode

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, AuditEvent
from tests.fixtures_workflow import password_of, signature_of
from workflows.models import Signature

pytestmark = pytest.mark.django_db


def code_for(secret: str, user=None) -> str:
    """The 6-digit code an authenticator app shows for `secret` (base32): now, or, for an enrolled
    `user`, at the step after their last used code (a code works once; one step of drift is allowed)."""
    key = b32decode(secret + "=" * (-len(secret) % 8))
    clock = TOTP(key, step=30, t0=0, digits=6)
    if user is not None:
        last_t = TOTPDevice.objects.get(user=user, confirmed=True).last_t
        clock.time = (max(last_t + 1, int(time.time()) // 30)) * 30
    return f"{clock.token():06d}"


def signed_in(user) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(user)
    return browser


def enrol(user) -> tuple[str, list[str]]:
    """Enrol `user` through the page, as a person would; returns the secret and the recovery codes."""
    browser = signed_in(user)
    page = browser.post("/admin/two-factor/", {"action": "start"}).content.decode()
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page).group(1)
    assert "otpauth://totp/" in page
    wrong = browser.post("/admin/two-factor/", {"action": "confirm", "token": "000000"}).content.decode()
    assert "does not match" in wrong
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    time.sleep(1.1)  # django-otp throttles a device for 1 s after a wrong code, 2 s after two, ...
    done = browser.post(
        "/admin/two-factor/", {"action": "confirm", "token": code_for(secret)}
    ).content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done)
    assert len(codes) == 10
    return secret, codes


def test_enrolment_is_confirmed_by_a_code_and_audited(governed):
    enrol(governed.approver)
    assert TOTPDevice.objects.get(user=governed.approver).confirmed
    event = AuditEvent.objects.get(action=Action.SECOND_FACTOR_ENROLLED)
    assert event.target_name == "approver"


def _login(username: str, password: str, otp: str = "") -> Client:
    browser = Client()
    browser.post(
        "/admin/login/", {"username": username, "password": password, "otp_token": otp, "next": "/admin/"}
    )
    return browser


def test_admin_sign_in_needs_the_code_once_enrolled(governed):
    secret, codes = enrol(governed.approver)
    assert "_auth_user_id" not in _login("approver", password_of(governed.approver)).session
    assert "_auth_user_id" not in _login("approver", password_of(governed.approver), "123456").session
    time.sleep(1.1)  # the wrong code throttled the device for a second
    # The enrolment used this step's code, and a code works once: the next step's is accepted (drift 1).
    browser = _login("approver", password_of(governed.approver), code_for(secret, governed.approver))
    assert browser.session.get("_auth_user_id") == str(governed.approver.pk)
    assert browser.get("/admin/").status_code == 200
    # A recovery code works once, and its use is audited.
    assert "_auth_user_id" in _login("approver", password_of(governed.approver), codes[0]).session
    assert "_auth_user_id" not in _login("approver", password_of(governed.approver), codes[0]).session
    assert AuditEvent.objects.filter(action=Action.RECOVERY_CODE_USED).count() == 1


def test_signing_needs_the_code_once_enrolled(governed, file_request, client_for):
    secret, _ = enrol(governed.approver)
    request = file_request(2)
    client = client_for(governed.approver)
    url = f"/api/v1/requests/{request.pk}/approve"
    without = client.post(url, {"comment": "ok", "signature": signature_of(governed.approver)}, format="json")
    assert without.status_code == 403 and "one-time code" in without.json()["message"]
    wrong = client.post(
        url, {"comment": "ok", "signature": signature_of(governed.approver, otp="000000")}, format="json"
    )
    assert wrong.status_code == 403
    assert AuditEvent.objects.filter(action=Action.SIGNATURE_FAILED).count() == 2
    time.sleep(1.1)  # the wrong code throttled the device for a second
    right = client.post(
        url,
        {
            "comment": "ok",
            "signature": signature_of(governed.approver, otp=code_for(secret, governed.approver)),
        },
        format="json",
    )
    assert right.status_code == 200, right.content
    assert Signature.objects.get().authentication == "password+totp"


def test_an_organisation_can_require_a_second_factor_to_sign(governed, file_request, client_for, settings):
    settings.QUORUM_APPROVERS_NEED_SECOND_FACTOR = True
    request = file_request(2)
    answer = client_for(governed.approver).post(
        f"/api/v1/requests/{request.pk}/approve",
        {"comment": "ok", "signature": signature_of(governed.approver)},
        format="json",
    )
    assert answer.status_code == 403 and "/admin/two-factor/" in answer.json()["message"]


def test_removal_needs_password_and_code_and_is_audited(governed):
    secret, _ = enrol(governed.approver)
    browser = signed_in(governed.approver)
    refused = browser.post(
        "/admin/two-factor/",
        {"action": "remove", "password": password_of(governed.approver), "token": "1"},
        follow=True,
    )
    assert "needs your password and a current code" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=governed.approver).exists()
    time.sleep(1.1)
    browser.post(
        "/admin/two-factor/",
        {
            "action": "remove",
            "password": password_of(governed.approver),
            "token": code_for(secret, governed.approver),
        },
    )
    assert not TOTPDevice.objects.filter(user=governed.approver).exists()
    assert AuditEvent.objects.filter(action=Action.SECOND_FACTOR_REMOVED, target_name="approver").exists()


def test_a_lost_second_factor_is_reset_by_command_with_a_reason_audited(governed):
    from django.core.management import CommandError, call_command

    enrol(governed.approver)
    with pytest.raises(CommandError):
        call_command("second_factor_reset", "approver", "--reason", " ")
    call_command("second_factor_reset", "approver", "--reason", "lost phone; ID checked by the service desk")
    assert not TOTPDevice.objects.filter(user=governed.approver).exists()
    event = AuditEvent.objects.get(action=Action.SECOND_FACTOR_REMOVED)
    assert "lost phone" in event.reason


def test_device_secrets_are_not_exposed_in_the_admin(cast):
    browser = Client()
    browser.force_login(cast.admin)
    assert browser.get("/admin/otp_totp/totpdevice/").status_code == 404
