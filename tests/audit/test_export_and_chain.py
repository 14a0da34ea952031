"""Unit tests: the documented canonical serialization, and batched CSV / JSON Lines output."""

import csv
import hashlib
import io
import json

import pytest
from django.db import transaction

import audit
from audit.chain import CHAIN_FIELDS, canonical_bytes, event_hash
from audit.export import csv_lines, jsonl_lines
from audit.models import Action, AuditEvent


def test_the_hash_is_reproducible_from_the_documented_rules_alone():
    event = {
        "seq": 7,
        "timestamp": "2026-03-03T09:05:00.000000Z",
        "actor_username": "zoë",
        "action": "alias.set",
        "after": {"version": 3, "alias": "champion"},
        "prev_hash": "ab" * 32,
    }
    # docs/audit.md, written out independently of audit.chain:
    payload = {key: event.get(key) for key in CHAIN_FIELDS}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert '"actor_username":"zoë"' in text
    assert '"after":{"alias":"champion","version":3}' in text
    assert event_hash(event) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert canonical_bytes(event) == text.encode("utf-8")


@pytest.mark.django_db
def test_a_stored_event_rehashes_identically_after_a_database_round_trip(cast):
    with transaction.atomic():
        audit.record(
            actor=cast.owner,
            action=Action.MODEL_UPDATED,
            model_name="fraud",
            before={"description": "ünïcode ✓", "n": 1.5, "nested": {"b": [1, 2], "a": None}},
            after={"description": "x" * 1000},
            reason="line\nbreak",
        )
    stored = AuditEvent.objects.values(*CHAIN_FIELDS, "hash").get()
    assert event_hash(stored) == stored["hash"]


ROWS = [
    {"seq": n, "name": f"row {n}", "after": {"k": n}, "note": "=HYPERLINK()" if n == 3 else None}
    for n in range(1, 6)
]


def test_csv_is_written_in_batches_with_one_header():
    chunks = list(csv_lines(ROWS, ("seq", "name", "after", "note"), batch=2))
    assert len(chunks) == 3
    table = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert [row["seq"] for row in table] == ["1", "2", "3", "4", "5"]
    assert json.loads(table[0]["after"]) == {"k": 1}
    assert table[2]["note"] == "'=HYPERLINK()"
    assert table[0]["note"] == ""


def test_csv_of_no_rows_is_the_header():
    assert "".join(csv_lines([], ("seq", "name"))) == "seq,name\r\n"


def test_jsonl_is_written_in_batches_one_object_per_line():
    chunks = list(jsonl_lines(ROWS, batch=2))
    assert len(chunks) == 3
    assert [json.loads(line)["seq"] for line in "".join(chunks).splitlines()] == [1, 2, 3, 4, 5]
