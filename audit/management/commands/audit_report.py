"""manage.py audit_report: export events or a ready-made report, to a file or stdout."""

from contextlib import nullcontext
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import reports
from audit.export import event_dicts, lines, verifiable_export_lines
from audit.models import AuditEvent
from audit.selectors import EventFilter
from registry.errors import InvalidParameter
from registry.models import RegisteredModel

REPORTS = ["events", *reports.REPORTS]


FILTER_OPTIONS = ("model", "model_version", "actor", "action", "since", "until", "after_seq")


class Command(BaseCommand):
    help = (
        "Write audit events (with the API's filters) or a ready-made report as CSV or JSON Lines. "
        "Runs as an auditor: every event is included."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("report", nargs="?", default="events", choices=sorted(REPORTS))
        parser.add_argument("--format", dest="export_format", choices=["csv", "jsonl"], default="jsonl")
        parser.add_argument("--output", "-o", default="-", help="File to write; '-' for stdout (default).")
        parser.add_argument("--model", default="")
        parser.add_argument("--model-version", default=None, help="Version number; needs --model.")
        parser.add_argument("--actor", default="")
        parser.add_argument("--action", action="append", default=[], help="Repeatable; 'request.*' prefixes.")
        parser.add_argument("--since", default="", help="ISO 8601 date or date-time.")
        parser.add_argument("--until", default="", help="ISO 8601 date or date-time (a date means its end).")
        parser.add_argument("--after-seq", default=None)
        parser.add_argument(
            "--verifiable",
            action="store_true",
            help="events only, JSON Lines, no filters: header, checkpoints and the whole chain, for "
            "python -m audit.offline_verify.",
        )

    def handle(self, *args: Any, report: str, export_format: str, output: str, **options: Any) -> None:
        if options["verifiable"]:
            filters = [name for name in FILTER_OPTIONS if options[name] not in (None, "", [])]
            if report != "events" or export_format != "jsonl" or filters:
                raise CommandError(
                    "--verifiable exports the whole chain: events, JSON Lines, no filters.", returncode=2
                )
            self._write(verifiable_export_lines(), output)
            return
        try:
            event_filter = EventFilter.from_params(
                {
                    "model": options["model"],
                    "version": options["model_version"],
                    "actor": options["actor"],
                    "action": options["action"],
                    "since": options["since"],
                    "until": options["until"],
                    "after_seq": options["after_seq"],
                }
            )
        except InvalidParameter as exc:
            raise CommandError(exc.message, returncode=2)
        if report == "events":
            texts = lines(event_dicts(event_filter.apply(AuditEvent.objects.all())), export_format)
        else:
            try:
                rows = reports.report_rows(
                    report, AuditEvent.objects.all(), event_filter, RegisteredModel.objects.order_by("name")
                )
            except InvalidParameter as exc:
                raise CommandError(exc.message, returncode=2)
            if export_format == "csv":
                fields, rows = reports.REPORTS[report].csv(rows)
                texts = lines(rows, export_format, fields)
            else:
                texts = lines(rows, export_format)
        self._write(texts, output)
        if output != "-":
            self.stderr.write(f"wrote {report} ({export_format}) to {output}")

    def _write(self, texts, output: str) -> None:
        target = (
            nullcontext(self.stdout) if output == "-" else open(output, "w", encoding="utf-8", newline="")
        )
        with target as stream:
            for text in texts:
                stream.write(text, ending="") if output == "-" else stream.write(text)
