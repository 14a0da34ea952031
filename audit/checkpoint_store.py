"""A second copy of each checkpoint outside the database, in the governed store.

Someone who can rewrite the database (and its checkpoint table) cannot also rewrite objects in
a write-once bucket, so the copy there anchors the chain: `audit_verify` reads these objects back
(`store_checkpoints`) and checks the chain and the table against them. A failed copy is logged,
never rolled back into the checkpoint.

The store is the governed store (QUORUM_GOVERNED_STORE), written through the artifact pipeline's
store interface, so the checkpoint lands wherever governed copies of versions go, with the same
write-once rules. The pipeline sits above audit, so it fills this module's port at start-up
(`checkpoint_sink_install`: a writer, and a reader that lists and reads objects); unfilled, a
copy fails (and is logged) rather than going nowhere, and verification says it could not read.
"""

import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from audit.chain import CHECKPOINT_PREFIX, CHECKPOINT_PREFIX_V2, HMAC_SHA256, canonical_timestamp
from audit.models import AuditCheckpoint

logger = logging.getLogger(__name__)

STORE_PREFIX = "audit/checkpoints"
OBJECT_NAME = re.compile(r"(?:^|/)(\d{20})-(\d+)\.json$")


def checkpoint_dict(checkpoint: AuditCheckpoint) -> dict:
    """A checkpoint as the governed store and the export carry it: enough to check it alone."""
    return {
        "format": CHECKPOINT_PREFIX if checkpoint.algorithm == HMAC_SHA256 else CHECKPOINT_PREFIX_V2,
        "id": checkpoint.pk,
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "created_at": canonical_timestamp(checkpoint.created_at),
        "key_id": checkpoint.key_id,
        "algorithm": checkpoint.algorithm,
        "signature": checkpoint.signature,
        "created_by": checkpoint.created_by,
    }


def checkpoint_document(checkpoint: AuditCheckpoint) -> bytes:
    """The object written for a checkpoint: everything needed to check it against the chain."""
    return json.dumps(checkpoint_dict(checkpoint), sort_keys=True, indent=2).encode()


def checkpoint_object_key(checkpoint: AuditCheckpoint) -> str:
    return f"{STORE_PREFIX}/{checkpoint.seq:020d}-{checkpoint.pk}.json"


# put(key, stream, size, sha256) -> the object's URI; filled by the artifact pipeline.
CheckpointSink = Callable[[str, io.BytesIO, int, str], str]
# list(prefix) -> keys in key order; read(key) -> bytes. Also filled by the artifact pipeline.
CheckpointLister = Callable[[str], Iterator[str]]
CheckpointReader = Callable[[str], bytes]
_sink: list[CheckpointSink] = []
_reader: list[tuple[CheckpointLister, CheckpointReader]] = []


def checkpoint_sink_install(
    sink: CheckpointSink, lister: CheckpointLister | None = None, reader: CheckpointReader | None = None
) -> None:
    _sink[:] = [sink]
    _reader[:] = [(lister, reader)] if lister is not None and reader is not None else []


class StoreUnreadable(RuntimeError):
    """The governed store could not be listed or read: external checkpoints cannot be checked."""


@dataclass(frozen=True)
class StoredCheckpointName:
    """One object under audit/checkpoints/, as its name says (seq and row id); the content is read on demand."""

    key: str
    seq: int
    checkpoint_id: int


def store_checkpoint_names() -> Iterator[StoredCheckpointName]:
    """Every checkpoint object's name in the governed store, in seq order (constant memory)."""
    if not _reader:
        raise StoreUnreadable("no governed store reader is installed (is the artifacts app installed?)")
    lister, _ = _reader[0]
    try:
        for key in lister(STORE_PREFIX):
            match = OBJECT_NAME.search(key)
            if match is not None:
                yield StoredCheckpointName(key, int(match[1]), int(match[2]))
    except StoreUnreadable:
        raise
    except Exception as exc:
        raise StoreUnreadable(f"cannot list the governed store's checkpoints: {exc}") from exc


def store_checkpoint_read(name: StoredCheckpointName) -> dict:
    """The document of one stored checkpoint (json); StoreUnreadable if it cannot be read or parsed."""
    if not _reader:
        raise StoreUnreadable("no governed store reader is installed")
    _, reader = _reader[0]
    try:
        document = json.loads(reader(name.key))
    except Exception as exc:
        raise StoreUnreadable(f"cannot read the governed store's {name.key}: {exc}") from exc
    if not isinstance(document, dict):
        raise StoreUnreadable(f"{name.key} is not a checkpoint document")
    return document


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
