"""Fill the quickstart demo's inventory (called by `manage.py quickstart`; safe to skip)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from inventory.demo import inventory_demo_load


class Command(BaseCommand):
    help = "Give the quickstart demo models tiers, one independent validation and one approved model card."

    def handle(self, *args: Any, **options: Any) -> None:
        admin = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if admin is None:
            raise CommandError("No superuser: run `manage.py quickstart` first.")
        inventory_demo_load(admin=admin, say=self.stdout.write)
