"""python manage.py create_user alice [--email ...] [--service-account] [--can-create-models]."""

import getpass

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

    def handle(self, *args, **options) -> None:
        password = None
        if not options["service_account"] and not options["no_password"]:
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
            )
        kind = "service account" if user.is_service_account else "user"
        self.stdout.write(f"Created {kind} '{user.username}'.")
