"""Send due webhook deliveries (retries, and any a lost worker or broker outage left): what beat runs."""

import threading
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from webhooks import scheduler
from webhooks.tasks import deliveries_sweep


class Command(BaseCommand):
    help = (
        "Send webhook deliveries that are due (the sweep Celery beat runs). Without a broker the server "
        "already sweeps in-process; this is for cron, or for a process serving without config.wsgi."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--loop", action="store_true", help="Sweep every QUORUM_WEBHOOK_SWEEP_SECONDS until interrupted."
        )
        parser.add_argument(
            "--max-sweeps", type=int, default=0, help="With --loop: stop after this many sweeps (0: never)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["loop"]:  # once, for cron: a failure is the command's failure
            self.stdout.write(f"dispatched {deliveries_sweep()} due delivery(ies)")
            return
        period = max(float(settings.QUORUM_WEBHOOK_SWEEP_SECONDS), 0.1)
        pause = threading.Event()
        sweeps = 0
        try:
            while True:
                self.stdout.write(f"dispatched {scheduler.sweep_once()} due delivery(ies)")
                sweeps += 1
                if sweeps == options["max_sweeps"]:
                    return
                pause.wait(period)
        except KeyboardInterrupt:
            return
