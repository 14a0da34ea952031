"""manage.py audit_verify detects each kind of tampering (triggers suspended on purpose in the test)."""

import pytest
from django.core.management.base import CommandError

from audit.chain import event_hash
from audit.models import AuditCheckpoint, AuditEvent, ChainHead
from audit.services import checkpoint_create
from registry import services
from tests.fixtures_audit import broken, chained_row, verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(fraud, cast) -> int:
    """fraud's 4 events, a checkpoint (event 5), then 3 tag events: seq 1-8. Returns the last seq."""
    checkpoint_create(actor=cast.owner)
    for value in ("a", "b", "c"):
        services.registered_model_tag_set(actor=cast.owner, name="fraud", key="k", value=value)
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()


def test_an_untouched_chain_verifies_with_its_checkpoint(chain):
    assert chain == 8
    assert "audit chain OK: 8 events (seq 1 to 8), 1 checkpoints verified" in verify()


def test_a_changed_row_is_named(chain, tamper):
    tamper("UPDATE audit_auditevent SET actor_username = %s WHERE seq = %s", ["mallory", 3])
    assert "BROKEN at seq 3 (changed_row)" in broken()


def test_a_changed_row_with_a_recomputed_hash_is_named(chain, tamper):
    row = {**chained_row(6), "reason": "backdated justification"}
    tamper(
        "UPDATE audit_auditevent SET reason = %s, hash = %s WHERE seq = %s",
        [row["reason"], event_hash(row), 6],
    )
    message = broken()
    assert "BROKEN at seq 6 (changed_row)" in message
    assert "hash recomputed" in message


def test_a_deleted_row_is_named(chain, tamper):
    tamper("DELETE FROM audit_auditevent WHERE seq = %s", [4])
    assert "BROKEN at seq 4 (deleted_row): seq 4 missing" in broken()


def test_deleted_rows_at_the_end_are_caught_by_the_chain_head(chain, tamper):
    tamper("DELETE FROM audit_auditevent WHERE seq >= %s", [7])
    assert "BROKEN at seq 7 (deleted_row)" in broken()


def test_deleted_rows_at_the_end_are_caught_by_a_checkpoint_even_if_the_head_is_reset(chain, cast, tamper):
    checkpoint_create(actor=cast.owner)  # signs seq 8; its own event is seq 9
    tamper("DELETE FROM audit_auditevent WHERE seq >= %s", [7])
    head = chained_row(6)
    ChainHead.objects.filter(pk=1).update(seq=6, hash=head["hash"])
    message = broken()
    assert "BROKEN at seq 8 (deleted_row)" in message
    assert "no event with that number" in message


def test_a_deleted_row_with_the_rest_renumbered_is_named(chain, tamper):
    tamper("DELETE FROM audit_auditevent WHERE seq = %s", [4])
    for seq in range(5, chain + 1):
        tamper("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [seq - 1, seq])
    message = broken()
    assert "BROKEN at seq 4 (deleted_row)" in message
    assert "renumbered" in message


def test_reordered_rows_are_named(chain, tamper):
    tamper("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [-1, 3])
    tamper("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [3, 4])
    tamper("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [4, -1])
    assert "BROKEN at seq 3 (reordered_rows)" in broken()


def test_a_forged_checkpoint_is_named(chain):
    real = AuditCheckpoint.objects.get()
    AuditCheckpoint.objects.create(
        seq=7,
        hash=chained_row(7)["hash"],
        created_at=real.created_at,
        key_id=real.key_id,
        signature="f" * 64,
        created_by="mallory",
    )
    assert "BROKEN at seq 7 (forged_checkpoint)" in broken()


def test_a_checkpoint_signed_with_another_key_is_not_accepted(chain, settings, tmp_path):
    # Another signing key, and the one that signed the checkpoint not kept among the trusted keys.
    settings.QUORUM_AUDIT_SIGNING_KEY_FILE = str(tmp_path / "other.pem")
    settings.QUORUM_AUDIT_PUBLIC_KEYS = []
    checkpoint_create(actor="system")
    message = broken()
    assert "(unverifiable_checkpoint)" in message
    assert "not among the trusted public keys" in message


def test_a_whole_rewrite_from_a_row_on_is_caught_by_the_signed_checkpoint(chain, tamper):
    # Rewrite seq 2 and recompute every hash after it: the chain is internally consistent again.
    previous_hash = chained_row(1)["hash"]
    for seq in range(2, chain + 1):
        row = {**chained_row(seq), "prev_hash": previous_hash}
        if seq == 2:
            row["actor_username"] = "mallory"
        row["hash"] = event_hash(row)
        tamper(
            "UPDATE audit_auditevent SET actor_username = %s, prev_hash = %s, hash = %s WHERE seq = %s",
            [row["actor_username"], row["prev_hash"], row["hash"], seq],
        )
        previous_hash = row["hash"]
    ChainHead.objects.filter(pk=1).update(hash=previous_hash)
    checkpoint_seq = AuditCheckpoint.objects.get().seq
    message = broken()
    assert f"BROKEN at seq {checkpoint_seq} (changed_row)" in message
    assert "rewritten" in message


def test_since_verifies_from_a_sequence_number_onward(chain, tamper):
    tamper("UPDATE audit_auditevent SET reason = %s WHERE seq = %s", ["edited", 2])
    assert "BROKEN at seq 2" in broken()
    assert "audit chain OK: 4 events (seq 5 to 8), 1 checkpoints verified" in verify("--since", "5")
    tamper("UPDATE audit_auditevent SET reason = %s WHERE seq = %s", ["edited", 7])
    assert "BROKEN at seq 7 (changed_row)" in broken("--since", "5")


def test_verify_reads_in_chunks(chain):
    assert "8 events" in verify("--chunk-size", "3")


def test_bad_arguments_exit_with_usage_error(chain):
    with pytest.raises(CommandError) as caught:
        verify("--since", "0")
    assert caught.value.returncode == 2


def test_a_removed_chain_head_continues_from_the_last_event(chain, cast):
    ChainHead.objects.all().delete()
    services.registered_model_tag_set(actor=cast.owner, name="fraud", key="k", value="d")
    assert AuditEvent.objects.order_by("-seq").first().seq == chain + 1
    assert f"audit chain OK: {chain + 1} events" in verify()


def test_events_appended_while_verifying_are_left_for_the_next_run(chain, cast, monkeypatch):
    from audit import verify as verify_module

    scan = verify_module._rows

    def rows_with_a_concurrent_append(since: int, until: int, chunk_size: int):
        for index, row in enumerate(scan(since, until, chunk_size)):
            if index == 2:  # another request commits an event (and a checkpoint) mid-scan
                services.registered_model_tag_set(actor=cast.owner, name="fraud", key="k", value="late")
                checkpoint_create(actor=cast.owner)
            yield row

    monkeypatch.setattr(verify_module, "_rows", rows_with_a_concurrent_append)
    assert "audit chain OK: 8 events (seq 1 to 8)" in verify()
    monkeypatch.setattr(verify_module, "_rows", scan)
    assert "audit chain OK: 10 events (seq 1 to 10), 2 checkpoints verified" in verify()
