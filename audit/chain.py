"""The hash chain's canonical serialization. Auditors re-implement this; keep it stable.

An event's hash is SHA-256 over the UTF-8 bytes of a JSON object holding exactly the fields
in CHAIN_FIELDS, with keys sorted, separators "," and ":" (no whitespace), non-ASCII kept as
UTF-8, `timestamp` as ISO 8601 in UTC with microseconds and a trailing "Z", absent values as
null, and `prev_hash` the previous event's hash (64 zeros for the first event).
"""

import hashlib
import hmac
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
    "registered_model_id",
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
    """ISO 8601 in UTC with microseconds and a trailing Z: 2026-11-27T05:01:11.123456Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    """The bytes an event's hash covers (see the module docstring and docs/audit.md)."""
    payload = {name: fields.get(name) for name in CHAIN_FIELDS}
    if isinstance(payload["timestamp"], datetime):
        payload["timestamp"] = canonical_timestamp(payload["timestamp"])
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(fields: dict[str, Any]) -> str:
    """Hex SHA-256 of canonical_bytes(fields)."""
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


# --- Checkpoints -------------------------------------------------------------------------
# A checkpoint signs "quorum-audit-checkpoint/v1\n<seq>\n<hash>\n<created_at>" (created_at in the
# canonical timestamp form) with HMAC-SHA256 under QUORUM_AUDIT_HMAC_KEY (UTF-8 bytes).

CHECKPOINT_PREFIX = "quorum-audit-checkpoint/v1"


def checkpoint_message(seq: int, head_hash: str, created_at: datetime) -> bytes:
    return f"{CHECKPOINT_PREFIX}\n{seq}\n{head_hash}\n{canonical_timestamp(created_at)}".encode()


def checkpoint_signature(key: str, seq: int, head_hash: str, created_at: datetime) -> str:
    return hmac.new(
        key.encode("utf-8"), checkpoint_message(seq, head_hash, created_at), hashlib.sha256
    ).hexdigest()


def key_id(key: str) -> str:
    """Names the key without revealing it, so a verifier knows which key a checkpoint needs."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def checkpoint_signature_valid(
    key: str, seq: int, head_hash: str, created_at: datetime, signature: str
) -> bool:
    return hmac.compare_digest(checkpoint_signature(key, seq, head_hash, created_at), signature)
