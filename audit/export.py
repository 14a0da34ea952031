"""Streaming exports of audit events (CSV, JSON Lines) in constant memory.

Rows come from a database iterator with a fixed chunk size and leave as text lines one at a
time, so an export of millions of events holds one chunk in memory, never the result set.

JSON Lines is the verbatim format: each line carries every chained field exactly as hashed,
plus `hash`, so an auditor can re-verify the chain from the file alone. CSV is for people:
JSON values are serialized as JSON text, and cells that a spreadsheet would run as a formula
(starting with = + - @ or a control character) are prefixed with a single quote.
"""

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

from audit.chain import CHAIN_FIELDS, canonical_timestamp
from audit.models import AuditEvent

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
