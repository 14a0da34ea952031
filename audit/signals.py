"""Login and failed-login events, from django.contrib.auth's signals.

Each is recorded in its own transaction: a login is not part of any domain change, and a failed
login must be recorded even though nothing else is written. Credentials never enter the event;
only the user name that was tried.
"""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from audit.models import Action
from audit.services import event_record

USERNAME_KEYS = ("username", "email")


@receiver(user_logged_in, dispatch_uid="audit_user_logged_in")
def login_record(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    with transaction.atomic():
        event_record(
            actor=user,
            action=Action.LOGIN,
            target=user,
            target_name=user.get_username(),
            after={"backend": getattr(user, "backend", "")},
        )


@receiver(user_login_failed, dispatch_uid="audit_user_login_failed")
def login_failed_record(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    tried = next((str(credentials[k]) for k in USERNAME_KEYS if credentials.get(k)), "")[:150]
    with transaction.atomic():
        event_record(
            actor=None,
            action=Action.LOGIN_FAILED,
            target_type="accounts.user",
            target_name=tried,
            after={"username": tried},
        )
