"""Benchmark: stream-export 1M audit events (CSV and JSON Lines) and verify the chain in bounded memory.

Run by hand, not in CI:

    # SQLite file under a temporary folder (default)
    python bench/audit_export.py --events 1000000
    # PostgreSQL (a database of its own; created by migrate if needed)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/quorum_audit_bench python bench/audit_export.py

It seeds a valid hash chain of synthetic events once (reused if already there), then runs
each measurement in a fresh process so its peak RSS is its own: export to CSV, export to
JSON Lines (through the same generator the API's StreamingHttpResponse uses), and
`chain_verify`. It prints events per second and peak resident memory for each; a constant
memory implementation has the same peak for 100k and 1M events.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import warnings

    warnings.filterwarnings("ignore")
    import django

    django.setup()


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Unlike ru_maxrss it is not inherited across fork+exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(total: int, batch: int = 5000) -> None:
    from django.core.management import call_command
    from django.db import transaction

    from audit.chain import GENESIS_HASH, event_hash
    from audit.models import AuditEvent, ChainHead

    call_command("migrate", verbosity=0)
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev_hash = last if last else (0, GENESIS_HASH)
    if seq >= total:
        print(f"seed: {seq} events already present")
        return
    started = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    while seq < total:
        rows = []
        for _ in range(min(batch, total - seq)):
            seq += 1
            fields = {
                "seq": seq,
                "timestamp": base + timedelta(milliseconds=seq),
                "actor_id": seq % 50 + 1,
                "actor_username": f"user{seq % 50}",
                "actor_kind": "user",
                "actor_detail": "",
                "action": "model_version.tag_set",
                "target_type": "registry.modelversion",
                "target_id": str(seq % 1000),
                "target_name": f"model-{seq % 200}/v{seq % 7 + 1}",
                "model_name": f"model-{seq % 200}",
                "registered_model_id": seq % 200 + 1,
                "version": seq % 7 + 1,
                "before": {"stage": "None"},
                "after": {"stage": "Staging", "note": "x" * 40},
                "reason": "benchmark",
                "request_id": f"{seq:032x}",
                "client_ip": "10.0.0.1",
                "user_agent": "bench/1.0",
                "prev_hash": prev_hash,
            }
            fields["hash"] = event_hash(fields)
            prev_hash = fields["hash"]
            rows.append(AuditEvent(**fields))
        with transaction.atomic():
            AuditEvent.objects.bulk_create(rows)
            ChainHead.objects.update_or_create(pk=1, defaults={"seq": seq, "hash": prev_hash})
        print(f"\rseed: {seq}/{total}", end="", flush=True)
    print(f"\nseed: {total} events in {time.perf_counter() - started:.1f}s")


def measure(kind: str) -> dict:
    from audit.export import EXPORT_FIELDS, event_dicts, lines
    from audit.models import AuditEvent
    from audit.verify import chain_verify

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    count = 0
    size = 0
    if kind in {"csv", "jsonl"}:
        rows = 0

        def counted(source):
            nonlocal rows
            for row in source:
                rows += 1
                yield row

        # The same pipeline as events_export_lines (what the API streams), with a row counter.
        events = AuditEvent.objects.order_by("seq")
        with open(os.devnull, "w", encoding="utf-8") as sink:
            for text in lines(counted(event_dicts(events)), kind, EXPORT_FIELDS):
                sink.write(text)
                size += len(text)
        count = rows
    else:
        result = chain_verify(key="")
        assert result.ok, result.problem
        count = result.events_checked
    elapsed = time.perf_counter() - started
    return {
        "measure": kind,
        "events": count,
        "seconds": round(elapsed, 2),
        "events_per_second": round(count / elapsed),
        "megabytes_written": round(size / 1e6, 1) if size else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_mb": round(rss_before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--skip-seed", action="store_true", help="Measure what is already there.")
    parser.add_argument("--measure", choices=["csv", "jsonl", "verify"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    database_url = (
        args.database_url or f"sqlite:///{Path(tempfile.gettempdir()) / 'quorum_audit_bench.sqlite3'}"
    )
    if args.measure:
        django_setup(database_url)
        print(json.dumps(measure(args.measure)))
        return
    django_setup(database_url)
    if not args.skip_seed:
        seed(args.events)
    print(f"database: {database_url.split('@')[-1]}")
    for kind in ("csv", "jsonl", "verify"):
        output = subprocess.run(
            [sys.executable, __file__, "--measure", kind, "--database-url", database_url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(
            f"{kind:>6}: {result['events']} events in {result['seconds']}s = {result['events_per_second']}/s, "
            f"peak RSS {result['peak_rss_mb']} MB (after startup {result['rss_before_mb']} MB)"
            + (f", {result['megabytes_written']} MB written" if result["megabytes_written"] else "")
        )


if __name__ == "__main__":
    main()
