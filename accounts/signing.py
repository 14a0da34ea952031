"""Re-authentication for electronic signatures (21 CFR 11.200): both identification components, every time.

A signature is never inferred from a session or an API token: the signer gives their password again
(and the one-time code of their second factor, when they have one). The password goes through the
same throttled backend as a sign-in, so failed signings count towards the (username, network)
lockout, and a locked pair cannot sign either. Callers audit the failures (`SigningRefused`).
"""

from dataclasses import dataclass

import django_otp
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice

import audit
from audit.models import Action
from config.login_throttle import login_failure_count, login_refusal

PASSWORD = "password"
PASSWORD_AND_TOTP = "password+totp"
PASSWORD_AND_RECOVERY_CODE = "password+recovery_code"


@dataclass(frozen=True)
class SigningCredentials:
    """What a signer sends with a decision: their password, their one-time code, and the meaning."""

    password: str
    otp: str = ""
    meaning: str = ""


class SigningRefused(Exception):
    """The signer's re-authentication failed, or they may not sign; `message` says why."""

    def __init__(self, message: str, *, counted: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.counted = counted  # a checked, wrong credential (not: a refusal before checking)


def has_second_factor(user: object) -> bool:
    return bool(getattr(user, "pk", None)) and django_otp.user_has_device(user, confirmed=True)


def second_factor_refusal(user: object) -> str | None:
    """Why `user` may not sign for want of a second factor (the organisation requires one), or None."""
    if settings.QUORUM_APPROVERS_NEED_SECOND_FACTOR and not has_second_factor(user):
        return (
            "Your organisation requires a second factor to sign: enrol one at /admin/two-factor/ "
            "(an authenticator app), then sign again."
        )
    return None


def signer_full_name(user: object) -> str:
    return (user.get_full_name() or "").strip()  # type: ignore[attr-defined]


def signer_reauthenticate(
    user: object, credentials: SigningCredentials, http_request: HttpRequest | None
) -> str:
    """Check both identification components of `user` now; returns how (PASSWORD, PASSWORD_AND_TOTP, ...).

    Raises SigningRefused with a message a person can act on. A wrong password or code counts
    towards the sign-in lockout of the (username, network) pair.
    """
    if getattr(user, "is_service_account", False):
        raise SigningRefused(
            "Service accounts cannot sign: an electronic signature is a person's, given with their password.",
            counted=False,
        )
    if not signer_full_name(user):
        raise SigningRefused(
            "Your account has no full name, and a signature shows the signer's printed name "
            "(21 CFR 11.50); an administrator sets it on your user page.",
            counted=False,
        )
    refusal = second_factor_refusal(user)
    if refusal:
        raise SigningRefused(refusal, counted=False)
    username = user.get_username()  # type: ignore[attr-defined]
    locked = login_refusal(username, http_request)
    if locked is not None:
        raise SigningRefused(f"Too many failed sign-ins or signings; try again in {locked.retry_after} s.")
    if not credentials.password:
        raise SigningRefused(
            "Signing needs your password again (signature.password), and your one-time code "
            "(signature.otp) when you have a second factor.",
            counted=False,
        )
    # The throttled backend counts a wrong password against the pair and audits it as a failed sign-in.
    checked = authenticate(http_request, username=username, password=credentials.password)
    if checked is None or checked.pk != user.pk:  # type: ignore[attr-defined]
        raise SigningRefused("The password is not correct; the decision was not signed.")
    if not has_second_factor(user):
        return PASSWORD
    if not credentials.otp:
        raise SigningRefused(
            "You have a second factor: signing needs its current one-time code (signature.otp).",
            counted=False,
        )
    device = second_factor_match(user, credentials.otp, "sign")
    if device is None:
        login_failure_count(username, http_request)
        raise SigningRefused(
            "The one-time code is not correct (or was used already); the decision was not signed."
        )
    return PASSWORD_AND_RECOVERY_CODE if isinstance(device, StaticDevice) else PASSWORD_AND_TOTP


@transaction.atomic
def second_factor_match(user: object, token: str, doing: str) -> Device | None:
    """The device whose code `token` is (None: none), spending it; a recovery code's use is audited
    in the same transaction that consumes it."""
    device = django_otp.match_token(user, token.strip()) if token.strip() else None
    if isinstance(device, StaticDevice):
        audit.record(
            actor=user,
            action=Action.RECOVERY_CODE_USED,
            target=user,
            target_name=user.get_username(),  # type: ignore[attr-defined]
            after={"remaining": device.token_set.count()},
            reason=f"A recovery code was used to {doing}.",
        )
    return device
