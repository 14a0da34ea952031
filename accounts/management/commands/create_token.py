"""python manage.py create_token --user ci-bot --name pipeline [--expires-days 90]: prints the secret once."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts import services
from accounts.management.operator import as_operator
from accounts.models import User
from registry.errors import RegistryError


class Command(BaseCommand):
    help = "Create an API token for a user or service account; the secret is printed once and never stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            help="lifetime in days (default: QUORUM_TOKEN_DEFAULT_DAYS)",
        )

    def handle(self, *args, **options) -> None:
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"User '{options['user']}' does not exist.")
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-days must be at least 1.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        with as_operator("create_token"):
            try:
                issued = services.token_create(
                    actor=services.OPERATOR, user=user, name=options["name"], expires_at=expires_at
                )
            except RegistryError as exc:
                raise CommandError(exc.message)
        self.stderr.write(f"Token '{issued.token.name}' for '{user.username}' (shown once, store it now):")
        # The secret alone on stdout, so `TOKEN=$(manage.py create_token ...)` works.
        self.stdout.write(issued.secret)
