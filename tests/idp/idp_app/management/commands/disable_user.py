"""Disable an account the way hosted providers do: no more sign-ins, and its issued tokens revoked."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from oauth2_provider.models import AccessToken, RefreshToken


class Command(BaseCommand):
    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--delete", action="store_true", help="remove the account altogether")

    def handle(self, *args, username: str, delete: bool, **options) -> None:
        user = User.objects.get(username=username)
        for refresh in RefreshToken.objects.filter(user=user, revoked__isnull=True):
            refresh.revoke()
        AccessToken.objects.filter(user=user).delete()
        if delete:
            user.delete()
        else:
            user.is_active = False
            user.save(update_fields=["is_active"])
