"""python manage.py team create model-risk [--description ...] | team add model-risk alice | team remove ..."""

from django.core.management.base import BaseCommand, CommandParser

from accounts import services
from accounts.management.operator import as_operator


class Command(BaseCommand):
    help = "Create teams and change their members (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("name")
        create.add_argument("--description", default="")
        for action in ("add", "remove"):
            member = sub.add_parser(action)
            member.add_argument("name")
            member.add_argument("username")

    def handle(self, *args, **options) -> None:
        name = options["name"]
        with as_operator("team"):
            if options["action"] == "create":
                services.team_create(actor=services.OPERATOR, name=name, description=options["description"])
                self.stdout.write(f"Created team '{name}'.")
            elif options["action"] == "add":
                services.team_member_add(
                    actor=services.OPERATOR, team_name=name, username=options["username"]
                )
                self.stdout.write(f"Added '{options['username']}' to team '{name}'.")
            else:
                services.team_member_remove(
                    actor=services.OPERATOR, team_name=name, username=options["username"]
                )
                self.stdout.write(f"Removed '{options['username']}' from team '{name}'.")
