"""Mark pending transition requests older than QUORUM_REQUEST_TTL_HOURS (default 30 days) as expired."""

from typing import Any

from django.core.management.base import BaseCommand

from workflows.services import transition_requests_expire


class Command(BaseCommand):
    help = "Expire stale pending transition requests (run it from cron or a scheduler)."

    def handle(self, *args: Any, **options: Any) -> None:
        expired = transition_requests_expire()
        self.stdout.write(f"Expired {expired} pending transition request(s).")
