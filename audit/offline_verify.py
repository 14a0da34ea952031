"""Verify an audit export on your own machine: no database, no secret, no Django settings.

    python -m audit.offline_verify EXPORT.jsonl --keys KEYS [--keys ...] [--checkpoints PATH ...]

EXPORT.jsonl is a verifiable export (`GET /api/v1/audit/events/export.jsonl?verifiable=true` or
`manage.py audit_report events --verifiable`): a header line, every event, then every checkpoint
with its signature and key id. KEYS is the public key set (`GET /api/v1/audit/keys` saved as
JSON, or `manage.py audit_keys --pem`), obtained from Quorum's operators through a channel you
trust. PATH (repeatable) is a copy of the checkpoint objects of the governed store
(`aws s3 sync s3://<governed>/audit/checkpoints ./checkpoints`): a folder of JSON files, or one file.

Checks, each problem named as `audit_verify` names it: every event hashes to its hash and links
to its predecessor (changed_row, deleted_row); every checkpoint's Ed25519 signature verifies
under a given key (forged_checkpoint, unverifiable_checkpoint); the chain matches what every
checkpoint signed (rewritten_history); no checkpoint made before the export signed a longer chain
(cut_tail); every governed-store checkpoint is in the export (deleted_checkpoint) and every
`audit.checkpoint_created` event's checkpoint too (checkpoint_event_without_row). HMAC checkpoints
from before issue 20 need Quorum's secret and are skipped (counted). Exit 0 OK, 1 broken, 2 usage.
"""

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.chain import (
    CHAIN_FIELDS,
    ED25519,
    GENESIS_HASH,
    checkpoint_signature_problem,
    event_hash,
    public_key_id,
    public_keys_from_pem,
)

EXPORT_HEADER = "quorum-audit-export"
CHECKPOINT_RECORD = "checkpoint"
CHECKPOINT_EVENT = "audit.checkpoint_created"


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"BROKEN at seq {self.seq} ({self.kind}): {self.detail}"


@dataclass
class Report:
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    store_checkpoints: int = 0
    skipped_hmac: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def load_public_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Keys from PEM bundles or the JSON of GET /api/v1/audit/keys, by key id."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("{"):
            pems = [entry["public_key_pem"] for entry in json.loads(text)["keys"]]
        else:
            pems = [text]
        for pem in pems:
            for key in public_keys_from_pem(pem):
                keys[public_key_id(key)] = key
    return keys


def _store_documents(paths: Iterable[Path]) -> Iterator[tuple[str, dict]]:
    for path in paths:
        files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        for file in files:
            yield str(file), json.loads(file.read_text(encoding="utf-8"))


def _label(checkpoint: dict, where: str) -> str:
    return f"{where} checkpoint id {checkpoint.get('id')} (seq {checkpoint.get('seq')}, made {checkpoint.get('created_at')})"


def export_verify(
    lines: Iterable[str],
    public_keys: dict[str, Ed25519PublicKey],
    store_documents: Iterable[tuple[str, dict]] = (),
) -> Report:
    """Verify a verifiable export's lines against the public keys and the governed-store copies.

    The export holds its header, then its checkpoints, then the events in seq order: the hashes
    checkpoints name are known before the events stream past, so memory stays small.
    """
    report = Report()
    header: dict[str, Any] | None = None
    exported: list[dict] = []  # the export's checkpoints (the table's copies)
    stored = list(store_documents)
    checkpoint_events: list[tuple[int, str]] = []  # (seq, target id) of audit.checkpoint_created
    wanted: set[int] | None = None  # seqs some checkpoint names, fixed when the first event arrives
    hashes: dict[int, str] = {}
    prev_seq: int | None = None
    prev_hash: str | None = None
    chain_broken = False

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        kind = record.get("record")
        if kind == EXPORT_HEADER:
            header = record
            continue
        if kind == CHECKPOINT_RECORD:
            if wanted is not None:
                raise ValueError(f"line {number}: checkpoints must precede the events")
            exported.append(record)
            continue
        if kind is not None:
            raise ValueError(f"line {number}: unknown record {kind!r}")
        if wanted is None:
            wanted = {int(c.get("seq", -1)) for c in exported} | {int(d.get("seq", -1)) for _, d in stored}
        if chain_broken:
            continue
        seq = record["seq"]
        if prev_seq is None:
            report.first_seq = seq
            if seq != 1:
                report.notes.append(
                    f"the export starts at seq {seq}: its link to seq {seq - 1} is not checked"
                )
        elif seq != prev_seq + 1:
            missing = f"seq {prev_seq + 1}" if seq == prev_seq + 2 else f"seq {prev_seq + 1} to {seq - 1}"
            report.problems.append(
                Problem(prev_seq + 1, "deleted_row", f"{missing} missing (next present is {seq})")
            )
            chain_broken = True
            continue
        if event_hash({k: record.get(k) for k in CHAIN_FIELDS}) != record.get("hash"):
            report.problems.append(Problem(seq, "changed_row", "content does not match its hash"))
            chain_broken = True
            continue
        expected_prev = GENESIS_HASH if seq == 1 else prev_hash
        if expected_prev is not None and record["prev_hash"] != expected_prev:
            report.problems.append(
                Problem(
                    prev_seq or 0, "changed_row", f"seq {seq} does not link to the hash of seq {prev_seq}"
                )
            )
            chain_broken = True
            continue
        if record.get("action") == CHECKPOINT_EVENT:
            checkpoint_events.append((seq, str(record.get("target_id"))))
        if seq in wanted:
            hashes[seq] = record["hash"]
        report.events += 1
        prev_seq, prev_hash = seq, record["hash"]
    report.last_seq = prev_seq

    if header is None:
        report.notes.append("no export header: every checkpoint counts as made before the export")
    exported_at = (header or {}).get("exported_at")
    if header is not None and header.get("head_seq") not in (None, prev_seq) and not chain_broken:
        report.problems.append(
            Problem(
                (prev_seq or 0) + 1,
                "deleted_row",
                f"the export's header names head seq {header['head_seq']}, its last event is {prev_seq}",
            )
        )

    def check(checkpoint: dict, where: str) -> None:
        label = _label(checkpoint, where)
        if (checkpoint.get("algorithm") or "hmac-sha256") != ED25519:
            report.skipped_hmac += 1
            return
        try:
            seq = int(checkpoint["seq"])
            found = checkpoint_signature_problem(checkpoint, public_keys)
        except (KeyError, TypeError, ValueError) as exc:
            report.problems.append(Problem(0, "forged_checkpoint", f"{label}: unreadable ({exc})"))
            return
        if found is not None:
            report.problems.append(Problem(seq, found[0], f"{label}: {found[1]}"))
            return
        if exported_at is not None and checkpoint["created_at"] > exported_at:
            return  # made after the export: says nothing about it
        if chain_broken:
            return
        if seq > (prev_seq or 0):
            report.problems.append(
                Problem(
                    (prev_seq or 0) + 1,
                    "cut_tail",
                    f"the export ends at seq {prev_seq}, but {label} signed the chain up to seq {seq}",
                )
            )
        elif seq in hashes and hashes[seq] != checkpoint["hash"]:
            report.problems.append(
                Problem(
                    seq,
                    "rewritten_history",
                    f"the chain at seq {seq} differs from what {label} signed: events up to it were changed",
                )
            )

    for checkpoint in exported:
        report.checkpoints += 1
        check(checkpoint, "exported")
    exported_ids = {str(c.get("id")) for c in exported}
    verifiable = header is not None  # the export says it holds every checkpoint up to its head
    for where, document in stored:
        report.store_checkpoints += 1
        check(document, f"governed-store ({where})")
        made_before = exported_at is None or str(document.get("created_at", "")) <= exported_at
        if verifiable and made_before and str(document.get("id")) not in exported_ids:
            report.problems.append(
                Problem(
                    int(document.get("seq", 0)),
                    "deleted_checkpoint",
                    f"{_label(document, 'governed-store')} is missing from the export's checkpoints",
                )
            )
    if verifiable:
        for seq, target in checkpoint_events:
            if target not in exported_ids:
                report.problems.append(
                    Problem(
                        seq,
                        "checkpoint_event_without_row",
                        f"event seq {seq} records checkpoint id {target}, which the export does not carry",
                    )
                )
    else:
        report.notes.append("not a verifiable export (no header): checkpoint rows cannot be accounted for")
    if report.skipped_hmac:
        report.notes.append(
            f"{report.skipped_hmac} HMAC checkpoints (before issue 20) skipped: they need Quorum's secret"
        )
    report.problems.sort(key=lambda p: p.seq)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audit.offline_verify", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("export", type=Path, help="A verifiable JSON Lines export.")
    parser.add_argument("--keys", type=Path, action="append", required=True, help="PEM bundle or keys JSON.")
    parser.add_argument(
        "--checkpoints", type=Path, action="append", default=[], help="Governed-store checkpoint copies."
    )
    args = parser.parse_args(argv)
    try:
        keys = load_public_keys(args.keys)
        if not keys:
            parser.error("no Ed25519 public key found in --keys")
        with args.export.open(encoding="utf-8") as lines:
            report = export_verify(lines, keys, list(_store_documents(args.checkpoints)))
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read the input: {exc}", file=sys.stderr)
        return 2
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    span = f"seq {report.first_seq} to {report.last_seq}" if report.first_seq else "no events"
    counts = (
        f"{report.events} events ({span}), {report.checkpoints} exported checkpoints, "
        f"{report.store_checkpoints} governed-store checkpoints, keys {', '.join(sorted(keys))}"
    )
    if report.problems:
        for problem in report.problems:
            print(problem)
        print(f"audit export BROKEN. Checked {counts}.")
        return 1
    print(f"audit export OK: {counts}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
