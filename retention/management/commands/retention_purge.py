"""manage.py retention_purge [--dry-run]: remove ended versions whose retention expired and that no
legal hold covers (tombstones and archived versions, with their governed copies), and print what."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from retention import services


class Command(BaseCommand):
    help = (
        "Remove deleted and archived versions (and their governed copies) whose retention class expired "
        "and that no legal hold covers; each removal and the run are audited. --dry-run only lists them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be removed; remove nothing."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = services.retention_purge(dry_run=options["dry_run"])
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "dry_run": report.dry_run,
                        "removed": report.removed,
                        "kept": report.kept,
                        "failed": report.failed,
                    },
                    indent=2,
                    default=str,
                )
            )
            return
        verb = "would remove" if report.dry_run else "removed"
        for item in report.removed:
            objects = item.get("governed_objects_removed")
            extra = f", {len(objects)} governed objects" if objects else ""
            self.stdout.write(
                f"{verb} {item['model']}/v{item['version']} ({item['state']}, class {item['class']}, "
                f"kept until {item['retain_until']}{extra})"
            )
        for item in report.kept:
            self.stdout.write(f"kept {item['model']}/v{item['version']}: {item['why']}")
        for item in report.failed:
            self.stderr.write(f"failed {item['model']}/v{item['version']}: {item['why']}")
        self.stdout.write(
            f"{len(report.removed)} {verb}, {len(report.kept)} kept, {len(report.failed)} failed"
            + (" (dry run: nothing removed)" if report.dry_run else "")
        )
