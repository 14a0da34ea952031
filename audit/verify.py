"""Recompute the hash chain and check the signed checkpoints, streaming in constant memory.

One pass over the events in seq order, merged with one pass over the checkpoints. The first
problem ends the run and is named by its sequence number and kind:

- deleted_row: a sequence number is missing (or the tail is gone: the chain head or a signed
  checkpoint is beyond the last event), or rows were deleted and the rest renumbered;
- changed_row: a row's content does not hash to its stored hash, or its hash was recomputed
  after a change (the next row still links to the old hash), or the chain no longer matches
  a signed checkpoint (a rewrite from that point);
- reordered_rows: a row links to a predecessor that sits elsewhere in the chain;
- forged_checkpoint: a checkpoint's HMAC does not verify under the configured key;
- unverifiable_checkpoint: a checkpoint was signed by a different key than the configured one.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max

from audit.chain import CHAIN_FIELDS, GENESIS_HASH, checkpoint_signature_valid, event_hash, key_id
from audit.models import AuditCheckpoint, AuditEvent, ChainHead
from audit.services import pending_seal

ROW_FIELDS = (*CHAIN_FIELDS, "hash")
# How many renumberings to try when classifying a broken row as "deleted, then renumbered".
RENUMBER_PROBE = 16


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
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _rows(since: int, until: int, chunk_size: int) -> Iterator[dict]:
    rows = AuditEvent.objects.filter(seq__gte=since, seq__lte=until).order_by("seq").values_list(*ROW_FIELDS)
    for values in rows.iterator(chunk_size=chunk_size):
        yield dict(zip(ROW_FIELDS, values, strict=True))


def _checkpoints(since: int) -> Iterator[AuditCheckpoint]:
    # Checkpoints are few (one an hour is ~9k a year); still streamed, never listed.
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


def _check_checkpoint(checkpoint: AuditCheckpoint, key: str, actual_hash: str | None) -> Problem | None:
    label = f"checkpoint id {checkpoint.pk} (seq {checkpoint.seq}, made {checkpoint.created_at:%Y-%m-%d %H:%M} UTC)"
    if not key:
        return Problem(
            checkpoint.seq,
            "unverifiable_checkpoint",
            f"{label} cannot be checked: QUORUM_AUDIT_HMAC_KEY is not set",
        )
    if checkpoint.key_id != key_id(key):
        return Problem(
            checkpoint.seq,
            "unverifiable_checkpoint",
            f"{label} was signed by key {checkpoint.key_id}, not the configured key {key_id(key)}",
        )
    if not checkpoint_signature_valid(
        key, checkpoint.seq, checkpoint.hash, checkpoint.created_at, checkpoint.signature
    ):
        return Problem(checkpoint.seq, "forged_checkpoint", f"{label}: the HMAC signature does not verify")
    if actual_hash is None:
        return Problem(
            checkpoint.seq,
            "deleted_row",
            f"{label} signs seq {checkpoint.seq}, but the chain has no event with that number",
        )
    if checkpoint.hash != actual_hash:
        return Problem(
            checkpoint.seq,
            "changed_row",
            f"the chain at seq {checkpoint.seq} ({actual_hash[:16]}…) differs from what {label} signed "
            f"({checkpoint.hash[:16]}…): rows up to here were rewritten",
        )
    return None


def chain_verify(*, since: int = 1, chunk_size: int = 2000, key: str | None = None) -> VerifyResult:
    """Verify events with seq >= since (linking the first to the stored hash of since - 1)."""
    key = settings.QUORUM_AUDIT_HMAC_KEY if key is None else key
    since = max(since, 1)
    pending_seal()  # called inside a transaction that appended: its own events are part of the chain
    if since == 1:
        prev_hash, prev_seq = GENESIS_HASH, 0
    else:
        anchor = AuditEvent.objects.filter(seq=since - 1).values_list("hash", flat=True).first()
        if anchor is None:
            return VerifyResult(
                0, 0, None, None, Problem(since - 1, "deleted_row", "the starting row is missing")
            )
        prev_hash, prev_seq = anchor, since - 1

    # The chain as it stood when verification began: events appended while it runs (new seqs above
    # these) are left for the next run instead of being mistaken for a broken tail.
    head_seq = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    last_seq = AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    until = max(head_seq, last_seq)

    last_checkpoint = AuditCheckpoint.objects.aggregate(last=Max("pk"))["last"] or 0
    checkpoints = (c for c in _checkpoints(since) if c.pk <= last_checkpoint)
    pending = next(checkpoints, None)
    events_checked = checkpoints_checked = 0
    first_seq: int | None = None

    def result(problem: Problem | None) -> VerifyResult:
        return VerifyResult(events_checked, checkpoints_checked, first_seq, prev_seq or None, problem)

    # A checkpoint of the anchor itself (or of the empty chain) is checked before any row.
    while pending is not None and pending.seq <= prev_seq:
        checkpoints_checked += 1
        if problem := _check_checkpoint(pending, key, prev_hash):
            return result(problem)
        pending = next(checkpoints, None)

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
        while pending is not None and pending.seq == seq:
            checkpoints_checked += 1
            if problem := _check_checkpoint(pending, key, row["hash"]):
                return result(problem)
            pending = next(checkpoints, None)
        events_checked += 1
        first_seq = first_seq or seq
        prev_seq, prev_hash = seq, row["hash"]

    if pending is not None:
        checkpoints_checked += 1
        return result(_check_checkpoint(pending, key, None))
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
