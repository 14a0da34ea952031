"""Create or update the superuser named by QUORUM_ADMIN_USERNAME with QUORUM_ADMIN_PASSWORD (deployments)."""

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import audit
from accounts.models import User
from audit.context import current_task_name
from audit.models import Action


def _powers(user: User) -> dict[str, bool]:
    return {"superuser": user.is_superuser, "staff": user.is_staff, "active": user.is_active}


class Command(BaseCommand):
    help = "Ensure the admin account from QUORUM_ADMIN_USERNAME / QUORUM_ADMIN_PASSWORD exists."

    def handle(self, *args, **options):
        # Audited as actor 'system', detail 'manage.py ensure_admin', in the change's own transaction.
        reset = current_task_name.set("manage.py ensure_admin")
        try:
            self._ensure()
        finally:
            current_task_name.reset(reset)

    @transaction.atomic
    def _ensure(self) -> None:
        username = os.environ.get("QUORUM_ADMIN_USERNAME", "admin")
        password = os.environ.get("QUORUM_ADMIN_PASSWORD", "")
        if len(password) < 12:
            raise CommandError("QUORUM_ADMIN_PASSWORD must be set and at least 12 characters long.")
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_superuser(username, os.environ.get("QUORUM_ADMIN_EMAIL", ""), password)
            audit.record(
                actor="system",
                action=Action.USER_CREATED,
                target=user,
                target_name=username,
                after={"username": username, **_powers(user)},
            )
            self.stdout.write(f"Created superuser '{username}'.")
            return
        password_reset = not user.check_password(password)
        if password_reset or not user.is_superuser:
            before = _powers(user)
            user.set_password(password)
            user.is_superuser = user.is_staff = user.is_active = True
            user.save()
            audit.record(
                actor="system",
                action=Action.USER_UPDATED,
                target=user,
                target_name=username,
                before=before,
                after={**_powers(user), "password_reset": password_reset},
            )
            self.stdout.write(f"Updated superuser '{username}'.")
        else:
            self.stdout.write(f"Superuser '{username}' is up to date.")
