"""The hash chain's canonical serialization and checkpoint signatures. Auditors re-implement this.

Importable without Django (the offline verifier, `python -m audit.offline_verify`, uses it alone).

An event's hash is SHA-256 over the UTF-8 bytes of a JSON object holding exactly the fields
in CHAIN_FIELDS, with keys sorted, separators "," and ":" (no whitespace), non-ASCII kept as
UTF-8, `timestamp` as ISO 8601 in UTC with microseconds and a trailing "Z", absent values as
null, and `prev_hash` the previous event's hash (64 zeros for the first event).
"""

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
# Since issue 20 a checkpoint signs, with Ed25519,
#     "quorum-audit-checkpoint/v2\n<seq>\n<hash>\n<created_at>\n<key_id>"
# (created_at in the canonical timestamp form; key_id the first 16 hex digits of SHA-256 over the
# raw 32-byte public key). Anyone holding the public key verifies it; only the signer can make one.
# Older checkpoints signed "quorum-audit-checkpoint/v1\n<seq>\n<hash>\n<created_at>" with
# HMAC-SHA256 under QUORUM_AUDIT_HMAC_KEY; they still verify where that key is configured.

ED25519 = "ed25519"
HMAC_SHA256 = "hmac-sha256"
CHECKPOINT_PREFIX = "quorum-audit-checkpoint/v1"
CHECKPOINT_PREFIX_V2 = "quorum-audit-checkpoint/v2"


def _timestamp_text(created_at: datetime | str) -> str:
    return created_at if isinstance(created_at, str) else canonical_timestamp(created_at)


def checkpoint_message(seq: int, head_hash: str, created_at: datetime | str) -> bytes:
    return f"{CHECKPOINT_PREFIX}\n{seq}\n{head_hash}\n{_timestamp_text(created_at)}".encode()


def checkpoint_message_v2(seq: int, head_hash: str, created_at: datetime | str, signer_key_id: str) -> bytes:
    """The bytes an Ed25519 checkpoint signature covers (the key id is bound in, too)."""
    text = f"{CHECKPOINT_PREFIX_V2}\n{seq}\n{head_hash}\n{_timestamp_text(created_at)}\n{signer_key_id}"
    return text.encode()


def checkpoint_signature(key: str, seq: int, head_hash: str, created_at: datetime | str) -> str:
    return hmac.new(
        key.encode("utf-8"), checkpoint_message(seq, head_hash, created_at), hashlib.sha256
    ).hexdigest()


def key_id(key: str) -> str:
    """Names the key without revealing it, so a verifier knows which key a checkpoint needs."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def checkpoint_signature_valid(
    key: str, seq: int, head_hash: str, created_at: datetime | str, signature: str
) -> bool:
    return hmac.compare_digest(checkpoint_signature(key, seq, head_hash, created_at), signature)


# --- Ed25519 ---------------------------------------------------------------------------------


def public_key_raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_id(public_key: Ed25519PublicKey) -> str:
    """Names an Ed25519 key: the first 16 hex digits of SHA-256 over its raw 32 bytes."""
    return hashlib.sha256(public_key_raw(public_key)).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_keys_from_pem(text: str | bytes) -> list[Ed25519PublicKey]:
    """Every Ed25519 public key in a PEM bundle (other PEM blocks are refused, not skipped)."""
    data = text.encode("ascii") if isinstance(text, str) else text
    keys = []
    for block in _PEM_BLOCK.findall(data):
        key = serialization.load_pem_public_key(block)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        keys.append(key)
    return keys


_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


def checkpoint_sign_ed25519(
    private_key: Ed25519PrivateKey, seq: int, head_hash: str, created_at: datetime | str
) -> tuple[str, str]:
    """(key_id, hex signature) of a checkpoint of (seq, head_hash) at created_at."""
    signer = public_key_id(private_key.public_key())
    message = checkpoint_message_v2(seq, head_hash, created_at, signer)
    return signer, private_key.sign(message).hex()


def checkpoint_ed25519_valid(
    public_key: Ed25519PublicKey, seq: int, head_hash: str, created_at: datetime | str, signature: str
) -> bool:
    try:
        public_key.verify(
            bytes.fromhex(signature),
            checkpoint_message_v2(seq, head_hash, created_at, public_key_id(public_key)),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoint_signature_problem(
    checkpoint: dict[str, Any], public_keys: dict[str, Ed25519PublicKey], hmac_key: str = ""
) -> tuple[str, str] | None:
    """(kind, why) if a checkpoint's signature cannot be trusted, else None. The one signature rule.

    `checkpoint` holds seq, hash, created_at (canonical text or datetime), key_id, algorithm and
    signature. Kinds: `forged_checkpoint` (the signature does not verify under the key it names),
    `unverifiable_checkpoint` (no trusted key with that id, or no HMAC key for an HMAC one).
    """
    seq, head_hash, created_at = checkpoint["seq"], checkpoint["hash"], checkpoint["created_at"]
    signer, signature = checkpoint.get("key_id") or "", checkpoint.get("signature") or ""
    algorithm = checkpoint.get("algorithm") or HMAC_SHA256
    if algorithm == ED25519:
        public_key = public_keys.get(signer)
        if public_key is None:
            return (
                "unverifiable_checkpoint",
                f"signed by key {signer}, which is not among the trusted public keys",
            )
        if not checkpoint_ed25519_valid(public_key, seq, head_hash, created_at, signature):
            return "forged_checkpoint", f"the Ed25519 signature does not verify under key {signer}"
        return None
    if algorithm == HMAC_SHA256:
        if not hmac_key:
            return (
                "unverifiable_checkpoint",
                "HMAC-signed (before issue 20) and QUORUM_AUDIT_HMAC_KEY is not set",
            )
        if signer != key_id(hmac_key):
            return (
                "unverifiable_checkpoint",
                f"signed by HMAC key {signer}, not the configured key {key_id(hmac_key)}",
            )
        if not checkpoint_signature_valid(hmac_key, seq, head_hash, created_at, signature):
            return "forged_checkpoint", "the HMAC signature does not verify"
        return None
    return "unverifiable_checkpoint", f"unknown signature algorithm {algorithm!r}"
