"""Announce validations past their review date (audit event and webhook event, once each); list them."""

from typing import Any

from django.core.management.base import BaseCommand

from inventory import services


class Command(BaseCommand):
    help = "Find versions whose latest passing validation is past its review date and announce each once."

    def handle(self, *args: Any, **options: Any) -> None:
        announced = services.validation_reviews_overdue_announce()
        for validation in announced:
            version = validation.version
            self.stdout.write(
                f"{version.model.name} v{version.version}: validation #{validation.pk} was due for review "
                f"on {validation.next_review_on.isoformat()}"
            )
        self.stdout.write(f"{len(announced)} overdue review(s) announced.")
