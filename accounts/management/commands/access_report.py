"""python manage.py access_report [--format csv|json] [--model fraud] [--user alice] [--output file]."""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from access import entitlements
from accounts import selectors
from accounts.api.views import entitlements_csv
from registry.errors import NotFound
from registry.models import RegisteredModel


class Command(BaseCommand):
    help = "Entitlement report: for every model, who can read, edit, approve and manage, through which grant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--model", help="only this registered model")
        parser.add_argument("--user", help='only this user ("what can alice do?")')
        parser.add_argument("--output", help="write to this file instead of standard output")

    def handle(self, *args, **options) -> None:
        models = RegisteredModel.objects.all()
        if options["model"]:
            models = models.filter(name=options["model"])
            if not models.exists():
                raise CommandError(f"Registered model '{options['model']}' not found.")
        subject = None
        if options["user"]:
            try:
                subject = selectors.user_get(options["user"])
            except NotFound as exc:
                raise CommandError(exc.message)
        rows = entitlements.entitlements(models, user=subject)
        if options["format"] == "csv":
            text = entitlements_csv(rows)
        else:
            text = json.dumps(
                {"generated_at": timezone.now(), "models": entitlements.entitlement_report(rows)},
                cls=DjangoJSONEncoder,
                indent=2,
            )
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as handle:
                handle.write(text)
            self.stdout.write(f"Wrote {len(rows)} entitlement rows to {options['output']}.")
        else:
            self.stdout.write(text, ending="" if text.endswith("\n") else "\n")
