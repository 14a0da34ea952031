"""Streaming exports of audit events (CSV, JSON Lines) in constant memory.

Rows come from a database iterator with a fixed chunk size and leave as text lines one at a
time, so an export of millions of events holds one chunk in memory, never the result set.

JSON Lines is the verbatim format: each line carries every chained field exactly as hashed,
plus `hash`, so an auditor can re-verify the chain from the file alone. The *verifiable* export
(`verifiable_export_lines`) adds what the offline verifier (audit/offline_verify.py) needs: a
header line (`"record": "quorum-audit-export"`, when, and the chain head), then every checkpoint
with its signature and key id (`"record": "checkpoint"`), then every event up to that head. CSV is for people:
JSON values are serialized as JSON text, and cells that a spreadsheet would run as a formula
(starting with = + - @ or a control character) are prefixed with a single quote. Reports keep
their own values clear of those starts where they can (an alias target is `alias:champion`, see
audit.reports.alias_label), so the escape only marks text someone typed.
"""

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from audit.chain import CHAIN_FIELDS, GENESIS_HASH, canonical_timestamp
from audit.checkpoint_store import checkpoint_dict
from audit.models import AuditCheckpoint, AuditEvent, ChainHead

EXPORT_FIELDS = (*CHAIN_FIELDS, "hash")
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
CHUNK_SIZE = 2000
BATCH_ROWS = 500
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def event_dicts(events: QuerySet[AuditEvent], chunk_size: int = CHUNK_SIZE) -> Iterator[dict[str, Any]]:
    for values in events.values_list(*EXPORT_FIELDS).iterator(chunk_size=chunk_size):
        row = dict(zip(EXPORT_FIELDS, values, strict=True))
        row["timestamp"] = canonical_timestamp(row["timestamp"])
        yield row


def jsonl_lines(rows: Iterable[dict[str, Any]], batch: int = BATCH_ROWS) -> Iterator[str]:
    """JSON Lines text, yielded a batch of rows at a time (fewer, larger chunks stream faster)."""
    pending: list[str] = []
    for row in rows:
        pending.append(json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
        if len(pending) >= batch:
            yield "".join(pending)
            pending.clear()
    if pending:
        yield "".join(pending)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        return "'" + text if text.startswith(FORMULA_STARTS) else text
    return value


def csv_lines(
    rows: Iterable[dict[str, Any]], fields: tuple[str, ...] | None = None, batch: int = BATCH_ROWS
) -> Iterator[str]:
    """CSV text with a header (even for no rows, when `fields` is given), a batch of rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rows = iter(rows)
    first = next(rows, None)
    fields = fields or (tuple(first) if first is not None else ())
    if fields:
        writer.writerow(fields)
    if first is not None:
        for count, row in enumerate(itertools.chain([first], rows), start=1):
            writer.writerow([_csv_cell(row.get(name)) for name in fields])
            if count % batch == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def lines(
    rows: Iterable[dict[str, Any]], export_format: str, fields: tuple[str, ...] | None = None
) -> Iterator[str]:
    if export_format == "csv":
        return csv_lines(rows, fields)
    return jsonl_lines(rows)


def events_export_lines(events: QuerySet[AuditEvent], export_format: str) -> Iterator[str]:
    return lines(event_dicts(events), export_format, EXPORT_FIELDS)


def verifiable_export_lines(chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """The whole chain, as the offline verifier reads it: header, checkpoints, then events."""
    # The head first, the time after it: every checkpoint whose event is at or below the head was
    # made before `exported_at`, so none of them is left out.
    head_seq, head_hash = ChainHead.objects.filter(pk=1).values_list("seq", "hash").first() or (
        0,
        GENESIS_HASH,
    )
    exported_at = timezone.now()
    header = {
        "record": "quorum-audit-export",
        "format": 1,
        "exported_at": canonical_timestamp(exported_at),
        "head_seq": head_seq,
        "head_hash": head_hash,
    }
    yield json.dumps(header, separators=(",", ":")) + "\n"
    checkpoints = AuditCheckpoint.objects.filter(seq__lte=head_seq, created_at__lte=exported_at).order_by(
        "seq", "pk"
    )
    yield from jsonl_lines(
        {"record": "checkpoint", **checkpoint_dict(c)} for c in checkpoints.iterator(chunk_size=chunk_size)
    )
    yield from jsonl_lines(
        event_dicts(AuditEvent.objects.filter(seq__lte=head_seq).order_by("seq"), chunk_size)
    )


def chain_segment_lines(first_seq: int, checkpoint: AuditCheckpoint) -> Iterator[str]:
    """A verifiable export of the chain from `first_seq` up to what `checkpoint` signed, for the
    offline verifier: it proves the events in it are unaltered and covered by that signature.

    Carries the checkpoint, and every checkpoint whose `audit.checkpoint_created` event falls in
    the segment (the verifier accounts for each). Its link below `first_seq` is not checked (the
    verifier says so): the segment's events are bound to the signed head, not to the genesis.
    """
    exported_at = timezone.now()
    header = {
        "record": "quorum-audit-export",
        "format": 1,
        "exported_at": canonical_timestamp(exported_at),
        "head_seq": checkpoint.seq,
        "head_hash": checkpoint.hash,
        "first_seq": first_seq,
    }
    yield json.dumps(header, separators=(",", ":")) + "\n"
    events = AuditEvent.objects.filter(seq__gte=first_seq, seq__lte=checkpoint.seq).order_by("seq")
    recorded = events.filter(action="audit.checkpoint_created").values_list("target_id", flat=True)
    ids = {checkpoint.pk, *(int(target) for target in recorded if str(target).isdigit())}
    checkpoints = AuditCheckpoint.objects.filter(pk__in=ids, seq__lte=checkpoint.seq).order_by("seq", "pk")
    yield from jsonl_lines({"record": "checkpoint", **checkpoint_dict(c)} for c in checkpoints)
    yield from jsonl_lines(event_dicts(events))
