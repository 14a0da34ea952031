"""A second copy of each checkpoint outside the database, in the governed store.

Someone who can rewrite the database (and its checkpoint table) cannot also rewrite objects in
a write-once bucket, so the copy there anchors the chain. The database row stays authoritative
for `audit_verify`; a failed copy is logged, never rolled back into the checkpoint.

The store is the governed store (QUORUM_GOVERNED_STORE), written through the artifact pipeline's
store interface, so the checkpoint lands wherever governed copies of versions go, with the same
write-once rules. The pipeline sits above audit, so it fills this module's port at start-up
(`checkpoint_sink_install`); unfilled, a copy fails (and is logged) rather than going nowhere.
"""

import hashlib
import io
import json
import logging
from collections.abc import Callable

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


# put(key, stream, size, sha256) -> the object's URI; filled by the artifact pipeline.
CheckpointSink = Callable[[str, io.BytesIO, int, str], str]
_sink: list[CheckpointSink] = []


def checkpoint_sink_install(sink: CheckpointSink) -> None:
    _sink[:] = [sink]


def _store_put(key: str, data: bytes) -> str:
    if not _sink:
        raise RuntimeError(
            "no governed store is installed (the artifacts app is missing from INSTALLED_APPS)"
        )
    return _sink[0](key, io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())


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
