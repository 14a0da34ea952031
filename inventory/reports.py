"""The inventory report: one row per visible model, as JSON rows or CSV text."""

import csv
import io
from collections.abc import Iterable
from datetime import date
from typing import Any

from inventory import rules
from inventory.models import InventoryRecord

REPORT_COLUMNS = (
    "model",
    "risk_tier",
    "review_interval_days",
    "lifecycle_status",
    "intended_use",
    "business_owner",
    "developer",
    "third_party",
    "regulatory_tags",
    "production_version",
    "validation_status",
    "next_review_on",
)


def inventory_rows(
    records: Iterable[InventoryRecord], intervals: dict[str, int], today: date
) -> list[dict[str, Any]]:
    """The report's rows (records come from inventory_visible_to, annotated with the production
    version and its latest validation)."""
    return [
        {
            "model": record.model.name,
            "risk_tier": record.risk_tier,
            "review_interval_days": intervals.get(record.risk_tier),
            "lifecycle_status": record.lifecycle_status,
            "intended_use": record.intended_use,
            "business_owner": record.business_owner,
            "developer": record.developer.get_username() if record.developer_id else None,
            "third_party": record.third_party,
            "regulatory_tags": list(record.regulatory_tags),
            "production_version": record.production_version,
            "validation_status": rules.validation_status(
                record.production_validation_outcome, record.production_next_review_on, today
            )
            if record.production_version is not None
            else None,
            "next_review_on": record.production_next_review_on,
        }
        for record in records
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A spreadsheet runs a cell starting with = + - @ as a formula: quote it (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def rows_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()
