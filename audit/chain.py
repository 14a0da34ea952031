"""The hash chain's canonical serialization. Auditors re-implement this; keep it stable.

An event's hash is SHA-256 over the UTF-8 bytes of a JSON object holding exactly the fields
in CHAIN_FIELDS, with keys sorted, separators "," and ":" (no whitespace), non-ASCII kept as
UTF-8, `timestamp` as ISO 8601 in UTC with microseconds and a trailing "Z", absent values as
null, and `prev_hash` the previous event's hash (64 zeros for the first event).
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64

CHAIN_FIELDS = (
    "seq",
    "timestamp",
    "actor_id",
    "actor_username",
    "actor_kind",
    "actor_detail",
    "action",
    "target_type",
    "target_id",
    "target_name",
    "model_name",
    "version",
    "before",
    "after",
    "reason",
    "request_id",
    "client_ip",
    "user_agent",
    "prev_hash",
)


def canonical_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    payload = {name: fields.get(name) for name in CHAIN_FIELDS}
    if isinstance(payload["timestamp"], datetime):
        payload["timestamp"] = canonical_timestamp(payload["timestamp"])
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()
