"""Link a Quorum account (typically a service account) to a subject at the identity provider."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import oidc
from audit.context import current_task_name


class Command(BaseCommand):
    help = "Let the identity provider's access tokens for SUBJECT authenticate as USERNAME."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("subject", help="the `sub` claim of the provider's tokens for this account")

    def handle(self, *args, username: str, subject: str, **options) -> None:
        if not oidc.enabled():
            raise CommandError("No identity provider is configured (QUORUM_OIDC_ISSUER).")
        reset = current_task_name.set("manage.py oidc_link")
        try:
            oidc.identity_link(username=username, subject=subject)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages))
        finally:
            current_task_name.reset(reset)
        self.stdout.write(f"Linked {username} to subject {subject} at {oidc.issuer()}.")
