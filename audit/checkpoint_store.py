"""A second copy of each checkpoint outside the database, in the governed store.

Someone who can rewrite the database (and its checkpoint table) cannot also rewrite objects in
a write-once bucket, so the copy there anchors the chain. The database row stays authoritative
for `audit_verify`; a failed copy is logged, never rolled back into the checkpoint.

The store is addressed by QUORUM_GOVERNED_STORE: `s3://bucket/prefix` (boto3, honouring the
usual AWS_* variables and AWS_ENDPOINT_URL) or `file:///path`. When the artifact-store
interface (registry.artifacts.stores.governed_store) is installed, it is used instead, so the
checkpoint lands wherever governed copies of versions go, with the same write-once rules.
"""

import hashlib
import io
import json
import logging
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

from audit.chain import canonical_timestamp
from audit.models import AuditCheckpoint

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "audit/checkpoints"


def checkpoint_document(checkpoint: AuditCheckpoint) -> bytes:
    """The object written for a checkpoint: everything needed to check it against the chain."""
    return json.dumps(
        {
            "format": "quorum-audit-checkpoint/v1",
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "created_at": canonical_timestamp(checkpoint.created_at),
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
            "created_by": checkpoint.created_by,
        },
        sort_keys=True,
        indent=2,
    ).encode()


def checkpoint_object_key(checkpoint: AuditCheckpoint) -> str:
    return f"{CHECKPOINT_PREFIX}/{checkpoint.seq:020d}-{checkpoint.pk}.json"


def _store_put(key: str, data: bytes) -> str:
    try:
        from registry.artifacts.stores import governed_store  # type: ignore[import-not-found]
    except ImportError:
        governed_store = None
    if governed_store is not None:
        store = governed_store()
        store.put(key, io.BytesIO(data), size=len(data), sha256=hashlib.sha256(data).hexdigest())
        return store.uri_for(key)
    uri = urlparse(settings.QUORUM_GOVERNED_STORE)
    if uri.scheme == "s3":
        import boto3

        object_key = "/".join(part for part in (uri.path.strip("/"), key) if part)
        client = boto3.client(
            "s3",
            endpoint_url=getattr(settings, "QUORUM_S3_ENDPOINT_URL", "") or None,
            region_name=getattr(settings, "QUORUM_S3_REGION", "") or None,
        )
        client.put_object(Bucket=uri.netloc, Key=object_key, Body=data)
        return f"s3://{uri.netloc}/{object_key}"
    if uri.scheme == "file":
        target = Path(uri.netloc + uri.path) / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return str(target)
    raise ValueError(f"unsupported governed store '{settings.QUORUM_GOVERNED_STORE}'")


def checkpoint_publish(checkpoint_id: int) -> str | None:
    """Write the checkpoint's document to the governed store; returns where, or None if it failed."""
    checkpoint = AuditCheckpoint.objects.filter(pk=checkpoint_id).first()
    if checkpoint is None:
        return None
    try:
        return _store_put(checkpoint_object_key(checkpoint), checkpoint_document(checkpoint))
    except Exception:  # the copy is best effort; the row is already committed and verifiable
        logger.exception("could not copy audit checkpoint #%s to the governed store", checkpoint.seq)
        return None
