"""Second factor (TOTP through django-otp): enrolment, recovery codes, removal, and the admin sign-in.

A person enrols an authenticator app at /admin/two-factor/: Quorum shows a secret (and its otpauth
URI), the person proves the app works by entering a code, and only then is the device confirmed
and ten one-time recovery codes shown, once. From then on the admin sign-in and every electronic
signature ask for a current code (accounts/signing.py). Enrolment and removal are audited, in the
transaction that makes them.
"""

from base64 import b32encode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from accounts.signing import has_second_factor, second_factor_match
from audit.models import Action
from config.login_throttle import login_failure_count

RECOVERY_CODES = 10
AUTHENTICATOR = "authenticator"
RECOVERY = "recovery codes"


class SecondFactorAuthenticationForm(AdminAuthenticationForm):
    """The admin sign-in: password, then the one-time code when the person has a second factor."""

    otp_token = forms.CharField(
        required=False,
        label="One-time code (if you enrolled a second factor)",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        user = self.get_user()
        if user is None or not has_second_factor(user):
            return cleaned
        device = second_factor_match(user, cleaned.get("otp_token") or "", "sign in")
        if device is None:
            # A right password with a wrong code is a failed sign-in for the lockout, too.
            login_failure_count(user.get_username(), self.request)
            self.user_cache = None
            raise forms.ValidationError(
                "Enter the current one-time code from your authenticator app (or a recovery code).",
                code="otp_required",
            )
        user.otp_device = device  # django-otp marks the session verified when the login completes
        return cleaned


def _pending_device(user: object) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False, name=AUTHENTICATOR).first()


@transaction.atomic
def enrolment_start(user: object) -> TOTPDevice:
    """A new unconfirmed TOTP device for `user` (an earlier unconfirmed one is replaced)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)


@transaction.atomic
def enrolment_confirm(user: object, token: str) -> list[str] | None:
    """Confirm the pending device with a code it produced; returns the new recovery codes (None: wrong code)."""
    device = (
        TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False, name=AUTHENTICATOR).first()
    )
    if device is None or not device.verify_token(token.strip()):
        return None
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()  # one authenticator per person
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    recovery = StaticDevice.objects.create(user=user, name=RECOVERY, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=recovery, token=code) for code in codes])
    audit.record(
        actor=user,
        action=Action.SECOND_FACTOR_ENROLLED,
        target=user,
        target_name=user.get_username(),
        after={"device": "totp", "recovery_codes": RECOVERY_CODES},
        reason="TOTP authenticator enrolled; recovery codes issued.",
    )
    return codes


@transaction.atomic
def second_factor_remove(*, actor: object, user: object, reason: str) -> int:
    """Remove every second-factor device of `user` (by themselves, or a superuser); returns how many."""
    removed = 0
    for model in (TOTPDevice, StaticDevice):
        removed += model.objects.filter(user=user).delete()[1].get(model._meta.label, 0)
    audit.record(
        actor=actor,
        action=Action.SECOND_FACTOR_REMOVED,
        target=user,
        target_name=user.get_username(),
        after={"devices_removed": removed},
        reason=reason,
    )
    return removed


def _secret_of(device: TOTPDevice) -> str:
    return b32encode(device.bin_key).decode().rstrip("=")


def two_factor_view(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own second factor: enrol, confirm, or remove (password and code again)."""
    user = request.user
    context: dict = {**admin.site.each_context(request), "title": "Two-factor authentication"}
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "start":
            device = enrolment_start(user)
            context |= {"pending": device, "secret": _secret_of(device), "otpauth": device.config_url}
        elif action == "confirm":
            codes = enrolment_confirm(user, request.POST.get("token", ""))
            if codes is None:
                messages.error(
                    request, "That code does not match; check the time on your device and try again."
                )
                device = _pending_device(user)
                if device is not None:
                    context |= {"pending": device, "secret": _secret_of(device), "otpauth": device.config_url}
            else:
                context["recovery_codes"] = codes
                messages.success(request, "Second factor enrolled. Keep these recovery codes somewhere safe.")
        elif action == "remove":
            checked = authenticate(
                request, username=user.get_username(), password=request.POST.get("password", "")
            )
            token = request.POST.get("token", "").strip()
            if (
                checked is None
                or checked.pk != user.pk
                or second_factor_match(user, token, "remove it") is None
            ):
                messages.error(request, "Removing your second factor needs your password and a current code.")
            else:
                second_factor_remove(actor=user, user=user, reason="Removed by its owner.")
                messages.success(request, "Second factor removed.")
                return HttpResponseRedirect(request.path)
        else:
            messages.error(request, "Unknown action.")
    context["enrolled"] = has_second_factor(user)
    return render(request, "accounts/two_factor.html", context)


urlpatterns = [path("", admin.site.admin_view(two_factor_view), name="two-factor")]
