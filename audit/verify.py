"""Recompute the hash chain and check it against the signed checkpoints, in the table and in the store.

One pass over the events in seq order, merged with the checkpoint rows and with the checkpoints
read back from the governed store (the copies the database cannot change). Problems are named by
kind and sequence number; the chain walk ends at its first problem, the checkpoint accounting
reports every checkpoint it finds missing:

- deleted_row: a sequence number is missing (or the chain head or a checkpoint row is beyond
  the last event), or rows were deleted and the rest renumbered;
- changed_row: a row's content does not hash to its stored hash, or its hash was recomputed
  after a change (the next row still links to the old hash), or the chain no longer matches a
  checkpoint row (a rewrite from that point);
- reordered_rows: a row links to a predecessor that sits elsewhere in the chain;
- forged_checkpoint: a checkpoint's signature does not verify;
- unverifiable_checkpoint: a checkpoint names a key that is not trusted (or no HMAC key is set);
- rewritten_history: the chain at a seq differs from what a checkpoint in the governed store
  signed (a past event changed and the hashes recomputed);
- cut_tail: the chain ends before the newest checkpoint in the governed store (its tail was cut
  and the head moved back);
- deleted_checkpoint: a checkpoint in the governed store has no row in the table;
- checkpoint_event_without_row: an `audit.checkpoint_created` event names a checkpoint row that
  is gone;
- store_unreadable: the governed store could not be listed or read (nothing external was checked).
"""

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

from django.conf import settings
from django.db.models import CharField, Exists, Max, OuterRef
from django.db.models.functions import Cast
from django.utils import timezone

from audit import checkpoint_store
from audit.chain import (
    CHAIN_FIELDS,
    GENESIS_HASH,
    canonical_timestamp,
    checkpoint_signature_problem,
    event_hash,
)
from audit.keys import public_keys
from audit.models import Action, AuditCheckpoint, AuditEvent, ChainHead
from audit.services import pending_seal

ROW_FIELDS = (*CHAIN_FIELDS, "hash")
# How many renumberings to try when classifying a broken row as "deleted, then renumbered".
RENUMBER_PROBE = 16
# At most this many missing checkpoints are named one by one; the rest are counted.
NAMED_MISSING = 20
# How many of the newest stored checkpoints (with rows) are read to bound the tail; one made while
# the run goes is skipped, so a few are read.
TAIL_READS = 3


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.kind.replace('_', ' ')}: {self.detail}"


@dataclass(frozen=True)
class VerifyResult:
    events_checked: int
    checkpoints_checked: int
    first_seq: int | None
    last_seq: int | None
    problems: tuple[Problem, ...] = ()
    store_checkpoints: int | None = None  # objects found in the governed store; None: not read
    store_checkpoints_read: int = 0
    rows_without_copy: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def problem(self) -> Problem | None:
        """The first problem along the chain (lowest seq), or None."""
        return min(self.problems, key=lambda p: p.seq) if self.problems else None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Signed:
    """A checkpoint from the table or the store, in the form the signature rule reads."""

    checkpoint_id: int
    seq: int
    hash: str
    created_at: str
    key_id: str
    algorithm: str
    signature: str
    where: str

    @classmethod
    def from_row(cls, row: AuditCheckpoint) -> "_Signed":
        return cls(
            row.pk,
            row.seq,
            row.hash,
            canonical_timestamp(row.created_at),
            row.key_id,
            row.algorithm,
            row.signature,
            "table",
        )

    @classmethod
    def from_document(cls, document: dict, name: checkpoint_store.StoredCheckpointName) -> "_Signed":
        return cls(
            int(document.get("id", name.checkpoint_id)),
            int(document["seq"]),
            str(document["hash"]),
            str(document["created_at"]),
            str(document.get("key_id", "")),
            str(document.get("algorithm", "hmac-sha256")),
            str(document.get("signature", "")),
            name.key,
        )

    @property
    def label(self) -> str:
        made = self.created_at[:16].replace("T", " ")
        source = "checkpoint" if self.where == "table" else f"governed-store checkpoint {self.where}"
        return f"{source} id {self.checkpoint_id} (seq {self.seq}, made {made} UTC)"

    def as_dict(self) -> dict:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "created_at": self.created_at,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "signature": self.signature,
        }


def _rows(since: int, until: int, chunk_size: int) -> Iterator[dict]:
    rows = AuditEvent.objects.filter(seq__gte=since, seq__lte=until).order_by("seq").values_list(*ROW_FIELDS)
    for values in rows.iterator(chunk_size=chunk_size):
        yield dict(zip(ROW_FIELDS, values, strict=True))


def _checkpoints(since: int) -> Iterator[AuditCheckpoint]:
    # Checkpoints are many fewer than events; still streamed, never listed.
    return AuditCheckpoint.objects.filter(seq__gte=since - 1).order_by("seq", "pk").iterator(chunk_size=500)


def _seq_of_hash(value: str) -> int | None:
    return AuditEvent.objects.filter(hash=value).values_list("seq", flat=True).first()


def _classify_bad_content(row: dict, expected_prev_seq: int) -> Problem:
    """A row whose content does not hash to its stored hash: changed, moved, or renumbered."""
    seq = row["seq"]
    predecessor = _seq_of_hash(row["prev_hash"])
    if predecessor is not None and predecessor != expected_prev_seq:
        return Problem(
            seq,
            "reordered_rows",
            f"the event stored as seq {seq} follows the event now stored as seq {predecessor}",
        )
    for shift in range(1, RENUMBER_PROBE + 1):
        if event_hash({**row, "seq": seq + shift}) == row["hash"]:
            deleted = f"seq {seq}" if shift == 1 else f"seq {seq} to {seq + shift - 1}"
            return Problem(
                seq,
                "deleted_row",
                f"{deleted} deleted and the later rows renumbered (the event stored as seq {seq} "
                f"was seq {seq + shift})",
            )
    return Problem(
        seq,
        "changed_row",
        f"content does not match its hash (stored {row['hash'][:16]}…, recomputed {event_hash(row)[:16]}…)",
    )


class _Trust:
    """The keys a run trusts: the configured public keys, and the HMAC key for old checkpoints."""

    def __init__(self, hmac_key: str):
        self.public = {key.key_id: key.key for key in public_keys()}
        self.hmac_key = hmac_key

    def problem(self, checkpoint: _Signed) -> Problem | None:
        found = checkpoint_signature_problem(checkpoint.as_dict(), self.public, self.hmac_key)
        if found is None:
            return None
        kind, why = found
        return Problem(checkpoint.seq, kind, f"{checkpoint.label}: {why}")


def _check_row_checkpoint(checkpoint: _Signed, trust: _Trust, actual_hash: str | None) -> Problem | None:
    if problem := trust.problem(checkpoint):
        return problem
    if actual_hash is None:
        return Problem(
            checkpoint.seq,
            "deleted_row",
            f"{checkpoint.label} signs seq {checkpoint.seq}, but the chain has no event with that number",
        )
    if checkpoint.hash != actual_hash:
        return Problem(
            checkpoint.seq,
            "changed_row",
            f"the chain at seq {checkpoint.seq} ({actual_hash[:16]}…) differs from what {checkpoint.label} "
            f"signed ({checkpoint.hash[:16]}…): rows up to here were rewritten",
        )
    return None


def _check_store_checkpoint(checkpoint: _Signed, actual_hash: str) -> Problem | None:
    if checkpoint.hash != actual_hash:
        return Problem(
            checkpoint.seq,
            "rewritten_history",
            f"the chain at seq {checkpoint.seq} ({actual_hash[:16]}…) differs from what {checkpoint.label} "
            f"signed ({checkpoint.hash[:16]}…): events up to seq {checkpoint.seq} were changed and the "
            "hashes recomputed",
        )
    return None


@dataclass
class _StoreScan:
    """What the governed store says: the checkpoints to hold the chain to, and what is missing."""

    external: list[_Signed] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    names: int = 0
    read: int = 0
    rows_without_copy: int = 0
    missing: int = 0


def _grouped(items: Iterator, seq_of) -> Iterator[tuple[int, list]]:
    for seq, group in groupby(items, key=seq_of):
        yield seq, list(group)


def _store_scan(since: int, started_at: datetime, trust: _Trust) -> _StoreScan:
    """Merge the store's checkpoint names with the table's rows, by seq (both streamed in seq order).

    A row with its object is checked by signature in the chain walk; the store's copy adds nothing
    then, since only the key holder can sign another one. Objects are read (one GET each) only for
    names without a row, and for the newest few, which bound the chain's tail.
    """
    scan = _StoreScan()
    names = (n for n in checkpoint_store.store_checkpoint_names() if n.seq >= since - 1)
    rows = AuditCheckpoint.objects.filter(seq__gte=since - 1).order_by("seq", "pk").values_list("seq", "pk")
    store_groups = _grouped(names, lambda n: n.seq)
    row_groups = _grouped(rows.iterator(chunk_size=2000), lambda r: r[0])
    store_next, row_next = next(store_groups, None), next(row_groups, None)
    # The newest few names with rows are read too: the newest made before this run bounds the tail.
    newest: deque[checkpoint_store.StoredCheckpointName] = deque(maxlen=TAIL_READS)
    to_read: list[tuple[checkpoint_store.StoredCheckpointName, bool]] = []  # (name, has a row)
    while store_next is not None or row_next is not None:
        if row_next is not None and (store_next is None or row_next[0] < store_next[0]):
            scan.rows_without_copy += len(row_next[1])
            row_next = next(row_groups, None)
            continue
        seq, stored = store_next
        row_ids = set()
        if row_next is not None and row_next[0] == seq:
            row_ids = {pk for _, pk in row_next[1]}
            row_next = next(row_groups, None)
        scan.names += len(stored)
        scan.rows_without_copy += len(row_ids - {n.checkpoint_id for n in stored})
        to_read += [(n, False) for n in stored if n.checkpoint_id not in row_ids]
        newest.extend(n for n in stored if n.checkpoint_id in row_ids)
        store_next = next(store_groups, None)
    to_read += [(n, True) for n in newest]

    for name, has_row in to_read:
        document = checkpoint_store.store_checkpoint_read(name)
        scan.read += 1
        try:
            checkpoint = _Signed.from_document(document, name)
        except (KeyError, TypeError, ValueError):
            scan.problems.append(
                Problem(name.seq, "forged_checkpoint", f"{name.key} is not a checkpoint document")
            )
            continue
        if problem := trust.problem(checkpoint):
            scan.problems.append(problem)
            continue
        if checkpoint.created_at > canonical_timestamp(started_at):
            continue  # made (and signed) while this run was going: the next run checks it
        if (checkpoint.seq, checkpoint.checkpoint_id) != (name.seq, name.checkpoint_id):
            scan.problems.append(
                Problem(
                    name.seq,
                    "forged_checkpoint",
                    f"{name.key} holds checkpoint id {checkpoint.checkpoint_id}",
                )
            )
            continue
        scan.external.append(checkpoint)
        if not has_row:
            scan.missing += 1
            if scan.missing <= NAMED_MISSING:
                scan.problems.append(
                    Problem(
                        checkpoint.seq,
                        "deleted_checkpoint",
                        f"{checkpoint.label} has no row in the checkpoint table: the row was deleted",
                    )
                )
    if scan.missing > NAMED_MISSING:
        scan.problems.append(
            Problem(
                scan.external[-1].seq,
                "deleted_checkpoint",
                f"and {scan.missing - NAMED_MISSING} more checkpoints of the governed store have no row",
            )
        )
    scan.external.sort(key=lambda c: (c.seq, c.checkpoint_id))
    return scan


def _events_without_rows(since: int, until: int) -> list[Problem]:
    """`audit.checkpoint_created` events whose checkpoint row (their target id) is gone."""
    row_exists = AuditCheckpoint.objects.annotate(id_text=Cast("pk", CharField())).filter(
        id_text=OuterRef("target_id")
    )
    orphans = (
        AuditEvent.objects.filter(action=Action.CHECKPOINT_CREATED, seq__gte=since, seq__lte=until)
        .exclude(Exists(row_exists))
        .order_by("seq")
        .values_list("seq", "target_id", "after")
    )
    problems = []
    for count, (seq, target_id, after) in enumerate(orphans.iterator(chunk_size=500), start=1):
        if count > NAMED_MISSING:
            problems.append(Problem(seq, "checkpoint_event_without_row", "and more such events after it"))
            break
        signed = after.get("seq") if isinstance(after, dict) else None
        problems.append(
            Problem(
                seq,
                "checkpoint_event_without_row",
                f"event seq {seq} records checkpoint id {target_id} (of seq {signed}), whose row is gone",
            )
        )
    return problems


def chain_verify(
    *, since: int = 1, chunk_size: int = 2000, key: str | None = None, read_store: bool = True
) -> VerifyResult:
    """Verify events with seq >= since (linking the first to the stored hash of since - 1)."""
    trust = _Trust(settings.QUORUM_AUDIT_HMAC_KEY if key is None else key)
    since = max(since, 1)
    pending_seal()  # called inside a transaction that appended: its own events are part of the chain
    started_at = timezone.now()
    if since == 1:
        prev_hash, prev_seq = GENESIS_HASH, 0
    else:
        anchor = AuditEvent.objects.filter(seq=since - 1).values_list("hash", flat=True).first()
        if anchor is None:
            return VerifyResult(
                0, 0, None, None, (Problem(since - 1, "deleted_row", "the starting row is missing"),)
            )
        prev_hash, prev_seq = anchor, since - 1

    # The chain as it stood when verification began: events appended while it runs (new seqs above
    # these) are left for the next run instead of being mistaken for a broken tail.
    head_seq = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    last_seq = AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    until = max(head_seq, last_seq)
    last_checkpoint = AuditCheckpoint.objects.aggregate(last=Max("pk"))["last"] or 0

    problems: list[Problem] = []
    notes: list[str] = []
    scan: _StoreScan | None = None
    if read_store:
        try:
            scan = _store_scan(since, started_at, trust)
        except checkpoint_store.StoreUnreadable as exc:
            problems.append(Problem(since, "store_unreadable", f"{exc}; no external checkpoint was checked"))
        else:
            problems += scan.problems
    else:
        notes.append("the governed store was not read (--skip-store): external checkpoints not checked")
    problems += _events_without_rows(since, until)

    external = iter(scan.external if scan else [])
    store_pending = next(external, None)
    rows = (_Signed.from_row(c) for c in _checkpoints(since) if c.pk <= last_checkpoint)
    pending = next(rows, None)
    events_checked = checkpoints_checked = 0
    first_seq: int | None = None

    def result(problem: Problem | None) -> VerifyResult:
        found = tuple(problems + ([problem] if problem else []))
        return VerifyResult(
            events_checked,
            checkpoints_checked,
            first_seq,
            prev_seq or None,
            found,
            scan.names if scan else None,
            scan.read if scan else 0,
            scan.rows_without_copy if scan else 0,
            tuple(notes),
        )

    # A checkpoint of the anchor itself (or of the empty chain) is checked before any row.
    while store_pending is not None and store_pending.seq <= prev_seq:
        if store_pending.seq == prev_seq and (problem := _check_store_checkpoint(store_pending, prev_hash)):
            return result(problem)
        store_pending = next(external, None)
    while pending is not None and pending.seq <= prev_seq:
        checkpoints_checked += 1
        if problem := _check_row_checkpoint(pending, trust, prev_hash):
            return result(problem)
        pending = next(rows, None)

    for row in _rows(since, until, chunk_size):
        seq = row["seq"]
        expected = prev_seq + 1
        if seq != expected:
            missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected} to {seq - 1}"
            return result(Problem(expected, "deleted_row", f"{missing} missing (next present is {seq})"))
        if event_hash(row) != row["hash"]:
            return result(_classify_bad_content(row, prev_seq))
        if row["prev_hash"] != prev_hash:
            elsewhere = _seq_of_hash(row["prev_hash"])
            if elsewhere is not None:
                return result(
                    Problem(
                        seq, "reordered_rows", f"seq {seq} follows the event now stored as seq {elsewhere}"
                    )
                )
            return result(
                Problem(
                    prev_seq,
                    "changed_row",
                    f"seq {prev_seq} was changed and its hash recomputed (or seq {seq} was forged): "
                    f"seq {seq} links to {row['prev_hash'][:16]}…, the stored hash of seq {prev_seq} "
                    f"is {prev_hash[:16]}…",
                )
            )
        while store_pending is not None and store_pending.seq == seq:
            if problem := _check_store_checkpoint(store_pending, row["hash"]):
                return result(problem)
            store_pending = next(external, None)
        while pending is not None and pending.seq == seq:
            checkpoints_checked += 1
            if problem := _check_row_checkpoint(pending, trust, row["hash"]):
                return result(problem)
            pending = next(rows, None)
        events_checked += 1
        first_seq = first_seq or seq
        prev_seq, prev_hash = seq, row["hash"]

    if store_pending is not None:
        newest = max(scan.external, key=lambda c: c.seq)
        return result(
            Problem(
                prev_seq + 1,
                "cut_tail",
                f"the chain ends at seq {prev_seq or 'none'} (head at {head_seq}), but {newest.label} "
                f"signed the chain up to seq {newest.seq}: seq {prev_seq + 1} to {newest.seq} were cut "
                "and the head moved back",
            )
        )
    if pending is not None:
        checkpoints_checked += 1
        return result(_check_row_checkpoint(pending, trust, None))
    if head_seq > prev_seq:
        return result(
            Problem(
                prev_seq + 1,
                "deleted_row",
                f"seq {prev_seq + 1} to {head_seq} missing: the chain head is at {head_seq}, "
                f"the last event is {prev_seq or 'none'}",
            )
        )
    return result(None)
