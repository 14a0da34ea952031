"""First sign-in with a one-time password: change it before anything else (issue 21).

quickstart prints the passwords it makes (admin, demo approvers), so the user is marked
`must_change_password` (accounts.services.one_time_password_issued). Until they set their own:
- the admin shows only its password change page (every other admin page redirects there);
- API calls authenticated by that password are refused: HTTP Basic in
  accounts.authentication.TokenBasicAuthentication (403 in the API's own error format), a session
  cookie here (403, `{"error_code", "message"}` with the route's API code).
Changing it (PasswordChangeRecordedForm) clears the mark and records `user.updated` in the same
transaction. API tokens are not affected: making one needs a signed-in user with a usable password.
`ensure_admin` is not marked: its password is the operator's own QUORUM_ADMIN_PASSWORD, never printed.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import PasswordChangeView
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts import services
from accounts.authentication import PASSWORD_CHANGE_REQUIRED
from config.middleware import _api_error

# What a user who must change their password may still reach in the admin.
ALLOWED_ADMIN_ROUTES = {"password-change", "admin:password_change_done", "admin:logout", "admin:login"}


class PasswordChangeRecordedForm(PasswordChangeForm):
    """Django's change-your-own-password form; saving it also ends a one-time password, audited."""

    def save(self, commit: bool = True):
        with transaction.atomic():
            user = super().save(commit=commit)
            if commit:
                services.password_changed(user=user)
        return user


def password_change(request: HttpRequest) -> HttpResponse:
    """The admin's password change page (same address, look and template), with the recorded form."""
    request.current_app = admin.site.name
    view = PasswordChangeView.as_view(
        form_class=PasswordChangeRecordedForm,
        success_url=reverse("admin:password_change_done"),
        template_name="registration/password_change_form.html",
        extra_context={
            **admin.site.each_context(request),
            "first_sign_in": getattr(request.user, "must_change_password", False),
        },
    )
    return view(request)


class PasswordChangeRequiredMiddleware:
    """Holds a signed-in user with a one-time password at the password change page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None  # no session: token and Basic callers are checked by their authenticator
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not getattr(user, "must_change_password", False):
            return None
        match = request.resolver_match
        name = match.view_name if match is not None else ""
        if name in ALLOWED_ADMIN_ROUTES or name == "page-not-found":
            return None
        if request.path.startswith("/admin/"):
            messages.warning(
                request, "You signed in with a one-time password: set a password of your own to continue."
            )
            return HttpResponseRedirect(reverse("password-change"))
        if name in {"landing", "healthz", "readyz", "swagger-ui", "schema"}:
            return None
        # An API call riding on the admin session of that user.
        return _api_error(
            request,
            403,
            PASSWORD_CHANGE_REQUIRED,
            native_code="PERMISSION_DENIED",
            mlflow_code="PERMISSION_DENIED",
        )
