"""Login events, from django.contrib.auth's signals.

Each is recorded in its own transaction: a login is not part of any domain change. Credentials never enter the event;
only the user name that was tried.
"""

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver

from audit.models import Action
from audit.services import event_record


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


# Failed sign-ins are counted and audited per (username, network, window) by the accounts app
# (accounts.services.sign_in_failure_count, called by the throttled backend): one chained event per
# guess would let anyone grow the chain without bound.
