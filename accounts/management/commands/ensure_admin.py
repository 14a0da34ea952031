"""Create or update the superuser named by QUORUM_ADMIN_USERNAME with QUORUM_ADMIN_PASSWORD (deployments)."""

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User


class Command(BaseCommand):
    help = "Ensure the admin account from QUORUM_ADMIN_USERNAME / QUORUM_ADMIN_PASSWORD exists."

    @transaction.atomic
    def handle(self, *args, **options):
        username = os.environ.get("QUORUM_ADMIN_USERNAME", "admin")
        password = os.environ.get("QUORUM_ADMIN_PASSWORD", "")
        if len(password) < 12:
            raise CommandError("QUORUM_ADMIN_PASSWORD must be set and at least 12 characters long.")
        user = User.objects.filter(username=username).first()
        if user is None:
            User.objects.create_superuser(username, os.environ.get("QUORUM_ADMIN_EMAIL", ""), password)
            self.stdout.write(f"Created superuser '{username}'.")
            return
        if not user.check_password(password) or not user.is_superuser:
            user.set_password(password)
            user.is_superuser = user.is_staff = user.is_active = True
            user.save()
            self.stdout.write(f"Updated superuser '{username}'.")
        else:
            self.stdout.write(f"Superuser '{username}' is up to date.")
