"""python manage.py grant --user alice --model fraud --level READ (or --team model-risk)."""

from django.core.management.base import BaseCommand, CommandParser

from access.grants import Level
from accounts import services
from accounts.management.operator import as_operator


def add_grant_arguments(parser: CommandParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="username")
    who.add_argument("--team", help="team name")
    parser.add_argument("--model", required=True, help="registered model name")
    parser.add_argument("--level", required=True, help=f"one of {', '.join(Level)} (or its codename)")


def principal_from(options: dict) -> services.Principal:
    if options["user"]:
        return services.Principal("user", options["user"])
    return services.Principal("team", options["team"])


class Command(BaseCommand):
    help = "Grant a permission level on a registered model to a user or a team (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_grant_arguments(parser)

    def handle(self, *args, **options) -> None:
        principal = principal_from(options)
        with as_operator("grant"):
            created = services.grant_add(
                actor=services.OPERATOR,
                model_name=options["model"],
                principal=principal,
                level=options["level"],
            )
        state = "Granted" if created else "Already granted:"
        self.stdout.write(
            f"{state} {options['level'].upper()} on '{options['model']}' to {principal.kind} '{principal.name}'."
        )
