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
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

from audit.chain import CHAIN_FIELDS, canonical_timestamp
from audit.models import AuditEvent

EXPORT_FIELDS = (*CHAIN_FIELDS, "hash")
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
CHUNK_SIZE = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def event_dicts(events: QuerySet[AuditEvent], chunk_size: int = CHUNK_SIZE) -> Iterator[dict[str, Any]]:
    for values in events.values_list(*EXPORT_FIELDS).iterator(chunk_size=chunk_size):
        row = dict(zip(EXPORT_FIELDS, values, strict=True))
        row["timestamp"] = canonical_timestamp(row["timestamp"])
        yield row


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def csv_lines(rows: Iterable[dict[str, Any]], fields: tuple[str, ...] | None = None) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_cell(v) for v in values])
        return buffer.getvalue()

    header_written = False
    for row in rows:
        if not header_written:
            fields = fields or tuple(row)
            yield line(fields)
            header_written = True
        yield line(row.get(name) for name in fields)
    if not header_written and fields:
        yield line(fields)


def lines(
    rows: Iterable[dict[str, Any]], export_format: str, fields: tuple[str, ...] | None = None
) -> Iterator[str]:
    if export_format == "csv":
        return csv_lines(rows, fields)
    return jsonl_lines(rows)


def events_export_lines(events: QuerySet[AuditEvent], export_format: str) -> Iterator[str]:
    return lines(event_dicts(events), export_format, EXPORT_FIELDS)
