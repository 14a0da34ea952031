"""manage.py audit_verify [--since SEQ]: recompute the hash chain and check signed checkpoints."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verify import chain_verify


class Command(BaseCommand):
    help = (
        "Recompute the audit hash chain (streaming) and check the signed checkpoints. Exits 1 naming "
        "the first broken sequence number and what is wrong (changed row, deleted row, reordered rows, "
        "forged checkpoint)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=int, default=1, help="Verify from this sequence number on.")
        parser.add_argument("--chunk-size", type=int, default=2000, help="Rows fetched per round trip.")

    def handle(self, *args: Any, since: int, chunk_size: int, **options: Any) -> None:
        if since < 1 or chunk_size < 1:
            raise CommandError("--since and --chunk-size must be positive integers.", returncode=2)
        result = chain_verify(since=since, chunk_size=chunk_size)
        if result.problem is not None:
            raise CommandError(
                f"audit chain BROKEN at seq {result.problem.seq} ({result.problem.kind}): "
                f"{result.problem.detail}. Checked {result.events_checked} events and "
                f"{result.checkpoints_checked} checkpoints before it.",
                returncode=1,
            )
        span = f"seq {result.first_seq} to {result.last_seq}" if result.first_seq else "no events"
        self.stdout.write(
            self.style.SUCCESS(
                f"audit chain OK: {result.events_checked} events ({span}), "
                f"{result.checkpoints_checked} checkpoints verified."
            )
        )
