"""manage.py audit_verify [--since SEQ]: recompute the hash chain, check it against the signed checkpoints."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verify import chain_verify


class Command(BaseCommand):
    help = (
        "Recompute the audit hash chain (streaming) and check it against the signed checkpoints, both "
        "the table's and the copies in the governed store. Exits 1 naming each problem by kind and "
        "sequence number (changed_row, deleted_row, reordered_rows, forged_checkpoint, rewritten_history, "
        "cut_tail, deleted_checkpoint, checkpoint_event_without_row, ...)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=int, default=1, help="Verify from this sequence number on.")
        parser.add_argument("--chunk-size", type=int, default=2000, help="Rows fetched per round trip.")
        parser.add_argument(
            "--skip-store",
            action="store_true",
            help="Do not read the checkpoints in the governed store (weaker: the database alone).",
        )

    def handle(self, *args: Any, since: int, chunk_size: int, skip_store: bool, **options: Any) -> None:
        if since < 1 or chunk_size < 1:
            raise CommandError("--since and --chunk-size must be positive integers.", returncode=2)
        result = chain_verify(since=since, chunk_size=chunk_size, read_store=not skip_store)
        store = (
            f"{result.store_checkpoints} in the governed store ({result.store_checkpoints_read} read)"
            if result.store_checkpoints is not None
            else "governed store not read"
        )
        for note in result.notes:
            self.stderr.write(f"note: {note}")
        if result.problems:
            lines = [
                f"audit chain BROKEN at seq {p.seq} ({p.kind}): {p.detail}."
                for p in sorted(result.problems, key=lambda p: p.seq)
            ]
            raise CommandError(
                "\n".join(lines)
                + f"\nChecked {result.events_checked} events and {result.checkpoints_checked} checkpoints "
                f"({store}) before it.",
                returncode=1,
            )
        span = f"seq {result.first_seq} to {result.last_seq}" if result.first_seq else "no events"
        self.stdout.write(
            self.style.SUCCESS(
                f"audit chain OK: {result.events_checked} events ({span}), "
                f"{result.checkpoints_checked} checkpoints verified; {store}."
            )
        )
        if result.rows_without_copy:
            self.stdout.write(
                f"note: {result.rows_without_copy} checkpoint rows have no copy in the governed store "
                "(a copy failed, or the store changed); they vouch for the chain only as far as the "
                "database does."
            )
