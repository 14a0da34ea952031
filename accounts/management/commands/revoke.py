"""python manage.py revoke --user alice --model fraud --level READ (or --team model-risk)."""

from django.core.management.base import BaseCommand, CommandParser

from accounts import services
from accounts.management.commands.grant import add_grant_arguments, principal_from
from accounts.management.operator import as_operator


class Command(BaseCommand):
    help = "Revoke a permission level on a registered model from a user or a team (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_grant_arguments(parser)

    def handle(self, *args, **options) -> None:
        principal = principal_from(options)
        with as_operator("revoke"):
            services.grant_remove(
                actor=services.OPERATOR,
                model_name=options["model"],
                principal=principal,
                level=options["level"],
            )
        self.stdout.write(
            f"Revoked {options['level'].upper()} on '{options['model']}' from {principal.kind} '{principal.name}'."
        )
