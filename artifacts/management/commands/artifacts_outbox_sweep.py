"""Publish again outbox messages nobody picked up: what Celery beat does, for cron or by hand."""

from django.core.management.base import BaseCommand

from artifacts import services


class Command(BaseCommand):
    help = "Re-dispatch artifact jobs whose task was never picked up (e.g. after a broker outage)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"published {services.outbox_redispatch()} message(s)")
