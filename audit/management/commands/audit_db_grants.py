"""manage.py audit_db_grants --app-role ROLE [--apply]: least-privilege grants for the application's role."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from audit.least_privilege import app_role_grants_sql


class Command(BaseCommand):
    help = (
        "Print (or, run as the tables' owner, --apply) the PostgreSQL grants that let the application's "
        "role use Quorum without owning anything: it cannot alter the audit tables, switch their triggers "
        "off or change session_replication_role. Run after every migrate (docs/operations.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--app-role", required=True, help="The role the application connects as.")
        parser.add_argument("--apply", action="store_true", help="Run the statements on this connection.")

    def handle(self, *args: Any, app_role: str, apply: bool, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Roles and grants need PostgreSQL (DATABASE_URL).", returncode=2)
        statements = app_role_grants_sql(app_role, connection.ops.quote_name)
        if not apply:
            self.stdout.write("\n".join(statements))
            return
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.stdout.write(
            self.style.SUCCESS(
                f"granted {app_role} the application's privileges ({len(statements)} statements)"
            )
        )
