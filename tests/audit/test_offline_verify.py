"""Issue 20, item 3: an auditor verifies an export on their own machine, with the public key only.

The export and the keys come out of the real commands (`audit_report events --verifiable`,
`audit_keys --pem`), the checkpoint copies out of the governed store; the verifier runs as the
auditor would run it, `python -m audit.offline_verify`, in a process without Django settings.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from audit.chain import CHAIN_FIELDS, event_hash
from audit.models import Action, AuditEvent
from audit.offline_verify import main as offline_main
from audit.services import checkpoint_create
from registry import services

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
GRANTS = "/api/v1/models/fraud/grants"


@pytest.fixture
def exported(fraud, cast, client_for, governed_dir, tmp_path, django_capture_on_commit_callbacks):
    """A history with a committed grant (anchored), tag changes and a timer checkpoint, exported."""
    with django_capture_on_commit_callbacks(execute=True):  # the request commits: its checkpoint follows
        response = client_for(cast.owner).post(GRANTS, {"user": "outsider", "level": "READ"}, format="json")
    assert response.status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        for value in ("a", "b"):
            services.registered_model_tag_set(actor=cast.owner, name="fraud", key="k", value=value)
        checkpoint_create(actor="system")
        services.registered_model_tag_set(actor=cast.owner, name="fraud", key="k", value="c")
    export = tmp_path / "export.jsonl"
    keys = tmp_path / "keys.pem"
    call_command("audit_report", "events", "--verifiable", "--output", str(export))
    with keys.open("w") as out:
        call_command("audit_keys", "--pem", stdout=out)
    return export, keys, governed_dir / "audit" / "checkpoints"


def _records(export: Path) -> list[dict]:
    return [json.loads(line) for line in export.read_text().splitlines()]


def _write(export: Path, records: list[dict]) -> None:
    export.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def _offline(export: Path, keys: Path, checkpoints: Path | None, capsys) -> tuple[int, str]:
    args = [str(export), "--keys", str(keys)]
    if checkpoints is not None:
        args += ["--checkpoints", str(checkpoints)]
    code = offline_main(args)
    return code, capsys.readouterr().out


def _events(records: list[dict]) -> list[dict]:
    return [r for r in records if "record" not in r]


def _rechain(records: list[dict], from_seq: int) -> None:
    """Recompute every event's hash from `from_seq` on, as someone rewriting the history would."""
    previous = None
    for record in _events(records):
        if record["seq"] >= from_seq:
            record["prev_hash"] = previous
            record["hash"] = event_hash({k: record.get(k) for k in CHAIN_FIELDS})
        previous = record["hash"]


def test_the_export_carries_a_header_and_signed_checkpoints(exported):
    export, _, _ = exported
    records = _records(export)
    assert records[0]["record"] == "quorum-audit-export"
    checkpoints = [r for r in records if r.get("record") == "checkpoint"]
    assert len(checkpoints) == 2
    assert {c["algorithm"] for c in checkpoints} == {"ed25519"}
    assert all(len(c["signature"]) == 128 and len(c["key_id"]) == 16 for c in checkpoints)
    assert (
        records[0]["head_seq"]
        == _events(records)[-1]["seq"]
        == AuditEvent.objects.order_by("-seq").first().seq
    )


def test_an_untampered_export_verifies_in_a_process_without_django(exported):
    export, keys, checkpoints = exported
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE", "QUORUM"))}
    command = [sys.executable, "-m", "audit.offline_verify", str(export), "--keys", str(keys)]
    done = subprocess.run(
        [*command, "--checkpoints", str(checkpoints)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit export OK" in done.stdout
    assert "2 exported checkpoints, 2 governed-store checkpoints" in done.stdout
    imports = subprocess.run(
        [sys.executable, "-c", "import sys, audit.offline_verify; print('django' in sys.modules)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert imports.stdout.strip() == "False"


def test_a_changed_event_is_named(exported, capsys):
    export, keys, checkpoints = exported
    records = _records(export)
    _events(records)[2]["actor_username"] = "mallory"
    _write(export, records)
    code, out = _offline(export, keys, checkpoints, capsys)
    assert code == 1
    assert "BROKEN at seq 3 (changed_row)" in out


def test_rewritten_history_with_recomputed_hashes_is_named(exported, capsys):
    export, keys, checkpoints = exported
    records = _records(export)
    granted = next(r for r in _events(records) if r["action"] == Action.ACCESS_GRANTED)
    granted["actor_username"] = "editor"
    _rechain(records, granted["seq"])
    records[0]["head_hash"] = _events(records)[-1]["hash"]
    # ... and the checkpoints that signed the old chain dropped from the export.
    records = [r for r in records if r.get("record") != "checkpoint"] + []
    _write(export, records)
    code, out = _offline(export, keys, checkpoints, capsys)
    assert code == 1
    assert f"BROKEN at seq {granted['seq']} (rewritten_history)" in out


def test_a_rewrite_in_the_database_is_found_in_its_export_by_the_store_copies(exported, tamper, capsys):
    export, keys, checkpoints = exported
    granted = AuditEvent.objects.get(action=Action.ACCESS_GRANTED).seq
    previous = AuditEvent.objects.get(seq=granted - 1).hash
    for seq in range(granted, AuditEvent.objects.order_by("-seq").first().seq + 1):
        row = {**AuditEvent.objects.filter(seq=seq).values(*CHAIN_FIELDS).get(), "prev_hash": previous}
        if seq == granted:
            row["actor_username"] = "editor"
        previous = event_hash(row)
        tamper(
            "UPDATE audit_auditevent SET actor_username = %s, prev_hash = %s, hash = %s WHERE seq = %s",
            [row["actor_username"], row["prev_hash"], previous, seq],
        )
    tamper("UPDATE audit_chainhead SET hash = %s", [previous])
    tamper("DELETE FROM audit_auditcheckpoint")
    call_command("audit_report", "events", "--verifiable", "--output", str(export))
    code, out = _offline(export, keys, checkpoints, capsys)
    assert code == 1
    assert f"BROKEN at seq {granted} (rewritten_history)" in out
    assert "(deleted_checkpoint)" in out


def test_a_cut_tail_is_named(exported, capsys):
    export, keys, checkpoints = exported
    records = _records(export)
    granted = next(r for r in _events(records) if r["action"] == Action.ACCESS_GRANTED)["seq"]
    kept = [r for r in records if r.get("record") == "quorum-audit-export" or r.get("seq", 0) < granted]
    kept[0]["head_seq"] = granted - 1
    _write(export, kept)
    code, out = _offline(export, keys, checkpoints, capsys)
    assert code == 1
    assert f"BROKEN at seq {granted} (cut_tail)" in out
    assert "(deleted_checkpoint)" in out


def test_a_dropped_checkpoint_is_named(exported, capsys):
    export, keys, checkpoints = exported
    records = _records(export)
    dropped = next(r for r in records if r.get("record") == "checkpoint")
    _write(export, [r for r in records if r is not dropped])
    code, out = _offline(export, keys, checkpoints, capsys)
    assert code == 1
    assert f"BROKEN at seq {dropped['seq']} (deleted_checkpoint)" in out
    assert "(checkpoint_event_without_row)" in out


def test_a_forged_checkpoint_and_an_unknown_key_are_named(exported, tmp_path, capsys):
    export, keys, checkpoints = exported
    records = _records(export)
    checkpoint = next(r for r in records if r.get("record") == "checkpoint")
    checkpoint["hash"] = "f" * 64
    _write(export, records)
    code, out = _offline(export, keys, None, capsys)
    assert code == 1
    assert f"BROKEN at seq {checkpoint['seq']} (forged_checkpoint)" in out

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit.chain import public_key_pem

    other = tmp_path / "other.pem"
    other.write_text(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    code, out = _offline(export, other, None, capsys)
    assert code == 1
    assert "(unverifiable_checkpoint)" in out


def test_keys_from_the_api_json_work_too(exported, cast, client_for, tmp_path, capsys):
    export, _, checkpoints = exported
    response = client_for(cast.admin).get("/api/v1/audit/keys")
    assert response.status_code == 200
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(response.json()))
    code, out = _offline(export, keys, checkpoints, capsys)
    assert code == 0, out


def test_the_verifiable_export_over_http_is_for_auditors_and_whole(exported, cast, client_for):
    url = "/api/v1/audit/events/export.jsonl?verifiable=true"
    assert client_for(cast.outsider).get(url).status_code == 403
    assert client_for(cast.admin).get(url + "&model=fraud").status_code == 400
    assert client_for(cast.admin).get(url.replace(".jsonl", ".csv")).status_code == 400
    response = client_for(cast.admin).get(url)
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert json.loads(lines[0])["record"] == "quorum-audit-export"
    export, _, _ = exported
    assert len(lines) == len(export.read_text().splitlines())
