"""python manage.py create_user alice [--email ...] [--full-name "Alice Risk"] [--one-time-password]
[--service-account] [--can-create-models]."""

import getpass
import secrets

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services
from accounts.management.operator import as_operator


class Command(BaseCommand):
    help = "Create a person (asks for a password unless --no-password) or a token-only service account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--service-account", action="store_true", help="non-human, token-only")
        parser.add_argument("--no-password", action="store_true", help="person without a usable password")
        parser.add_argument(
            "--can-create-models", action="store_true", help="global add_registeredmodel grant"
        )
        parser.add_argument("--full-name", default="", help="printed name, shown on electronic signatures")
        parser.add_argument(
            "--one-time-password",
            action="store_true",
            help="generate and print a password, to be changed at first sign-in (no prompt)",
        )

    def handle(self, *args, **options) -> None:
        password = None
        if options["one_time_password"]:
            if options["service_account"] or options["no_password"]:
                raise CommandError("--one-time-password is for people with a password.")
            password = secrets.token_urlsafe(12)
        elif not options["service_account"] and not options["no_password"]:
            password = getpass.getpass("Password: ")
            if not password:
                raise CommandError("Empty password; use --no-password for an account without one.")
        with as_operator("create_user"):
            user = services.user_create(
                actor=services.OPERATOR,
                username=options["username"],
                email=options["email"],
                password=password,
                is_service_account=options["service_account"],
                can_create_models=options["can_create_models"],
                full_name=options["full_name"],
                one_time_password=options["one_time_password"],
            )
        kind = "service account" if user.is_service_account else "user"
        if options["one_time_password"]:
            # Printed once, never stored in clear; the first sign-in asks for a password of their own.
            self.stdout.write(f"Created {kind} '{user.username}' with one-time password: {password}")
        else:
            self.stdout.write(f"Created {kind} '{user.username}'.")
