"""Ask the identity provider about every linked person now (what Celery beat runs every QUORUM_OIDC_SYNC_SECONDS)."""

import dataclasses

from django.core.management.base import BaseCommand, CommandError

from accounts import oidc
from audit.context import current_task_name


class Command(BaseCommand):
    help = "Redeem each linked person's refresh token at the identity provider; end accounts it refuses."

    def handle(self, *args, **options) -> None:
        if not oidc.enabled():
            raise CommandError("No identity provider is configured (QUORUM_OIDC_ISSUER).")
        reset = current_task_name.set("manage.py oidc_sync")
        try:
            result = oidc.identities_sync()
        except oidc.ProviderUnavailable as exc:
            raise CommandError(str(exc))
        finally:
            current_task_name.reset(reset)
        self.stdout.write(" ".join(f"{key}={value}" for key, value in dataclasses.asdict(result).items()))
