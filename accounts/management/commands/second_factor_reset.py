"""python manage.py second_factor_reset <username> --reason "lost phone, identity checked by ..."."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import selectors
from accounts.second_factor import second_factor_remove
from registry.errors import NotFound


class Command(BaseCommand):
    help = (
        "Remove a person's second factor (TOTP and recovery codes) when they lost both; audited. "
        "They enrol again at /admin/two-factor/."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reason", required=True, help="Why, and how the person's identity was checked.")

    def handle(self, *args: object, username: str, reason: str, **options: object) -> None:
        if not reason.strip():
            raise CommandError("--reason must say why the second factor is removed.")
        try:
            user = selectors.user_get(username)
        except NotFound as exc:
            raise CommandError(exc.message) from None
        removed = second_factor_remove(
            actor="system", user=user, reason=f"manage.py second_factor_reset: {reason}"
        )
        self.stdout.write(f"Removed {removed} second-factor device(s) of '{username}'.")
