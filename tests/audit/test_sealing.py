"""PostgreSQL seals audit events at COMMIT: the chain head is never held across a client round trip.

These tests commit for real (transaction=True): the rest of the suite runs inside rolled-back
transactions and makes the sealing trigger immediate (tests/fixtures_audit.py).
"""

import threading

import pytest
from django.db import DataError, connection, transaction

import audit
from audit.models import Action, AuditEvent, ChainHead
from audit.services import last_recorded_seq, pending_seal
from audit.triggers import PENDING_TABLE
from audit.verify import chain_verify
from tests.fixtures_foundation import postgres_or_skip

pytestmark = pytest.mark.django_db(transaction=True)


def _record(actor, name: str) -> AuditEvent:
    return audit.record(actor=actor, action=Action.MODEL_UPDATED, model_name=name)


def _seqs(*names: str) -> dict[str, int]:
    return dict(AuditEvent.objects.filter(model_name__in=names).values_list("model_name", "seq"))


def _pending_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {PENDING_TABLE}")
        return cursor.fetchone()[0]


def test_an_open_transaction_that_appended_does_not_block_other_appends(cast):
    """Before sealing moved to COMMIT, 'fast' waited for 'slow' to commit (and timed out here)."""
    postgres_or_skip()
    appended, fast_committed, errors = threading.Event(), threading.Event(), []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                _record(cast.owner, "slow-1")
                appended.set()
                assert fast_committed.wait(10)
                _record(cast.owner, "slow-2")
        except Exception as exc:  # reported to the test thread
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert appended.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            _record(cast.owner, "fast")
    finally:
        fast_committed.set()
        writer.join(10)
    assert not errors
    seqs = _seqs("slow-1", "slow-2", "fast")
    # Chained in commit order, and one transaction's events stay consecutive.
    assert seqs["slow-1"] == seqs["fast"] + 1
    assert seqs["slow-2"] == seqs["slow-1"] + 1
    assert ChainHead.objects.get().seq == seqs["slow-2"]
    assert _pending_rows() == 0
    assert chain_verify().ok


def test_a_rolled_back_append_leaves_no_event_no_pending_row_and_no_gap(cast):
    postgres_or_skip()
    with transaction.atomic():
        _record(cast.owner, "before")
    with pytest.raises(RuntimeError), transaction.atomic():
        _record(cast.owner, "doomed")
        raise RuntimeError("the change fails after its event was appended")
    with transaction.atomic():
        _record(cast.owner, "after")
    seqs = _seqs("before", "doomed", "after")
    assert "doomed" not in seqs
    assert seqs["after"] == seqs["before"] + 1
    assert _pending_rows() == 0
    assert chain_verify().ok


def test_pending_seal_chains_the_transactions_events_before_commit_and_only_once(cast):
    postgres_or_skip()
    with transaction.atomic():
        first = _record(cast.owner, "first")
        assert first.seq is None  # sealed at COMMIT unless someone needs it earlier
        assert not AuditEvent.objects.filter(pk=first.pk).exists()
        pending_seal()
        sealed = AuditEvent.objects.get(pk=first.pk)
        second = _record(cast.owner, "second")
    assert AuditEvent.objects.filter(model_name__in=["first", "second"]).count() == 2
    assert AuditEvent.objects.get(pk=second.pk).seq == sealed.seq + 1
    assert AuditEvent.objects.get(pk=second.pk).prev_hash == sealed.hash
    assert chain_verify().ok


def test_asking_for_the_seq_seals_the_event_at_once(cast):
    """The webhook outbox stores its operation's audit seq, so asking for it seals the event there and then."""
    postgres_or_skip()
    with transaction.atomic():
        event = _record(cast.owner, "asked")
        assert event.seq is None  # queued for COMMIT
        seq = last_recorded_seq()
        assert AuditEvent.objects.filter(pk=event.pk, seq=seq).exists()  # sealed inside the transaction
    stored = AuditEvent.objects.get(model_name="asked")
    assert (stored.seq, stored.hash) == (seq, event.hash)
    assert chain_verify().ok


def test_an_over_long_value_fails_the_commit_and_nothing_lands(cast, fraud):
    """The sealed row is checked by its column at COMMIT: refused, not cut to fit, change rolled back."""
    postgres_or_skip()
    events_before = AuditEvent.objects.count()
    with pytest.raises(DataError), transaction.atomic():
        type(fraud).objects.filter(pk=fraud.pk).update(description="changed")
        audit.record(actor=cast.owner, action=Action.MODEL_UPDATED, target=fraud, model_name="m" * 300)
    fraud.refresh_from_db()
    assert fraud.description != "changed"
    assert AuditEvent.objects.count() == events_before
    assert _pending_rows() == 0
    assert chain_verify().ok


def test_a_lost_chain_head_is_rebuilt_from_the_last_event_at_commit(cast):
    postgres_or_skip()
    with transaction.atomic():
        _record(cast.owner, "one")
    last = AuditEvent.objects.order_by("-seq").first()
    ChainHead.objects.all().delete()
    with transaction.atomic():
        _record(cast.owner, "two")
    two = AuditEvent.objects.get(model_name="two")
    assert (two.seq, two.prev_hash) == (last.seq + 1, last.hash)
    assert chain_verify().ok


def test_the_seal_builds_each_event_record_once(cast):
    """`SELECT (f(...)).*` would call jsonb_populate_record once per column (22), holding the head;
    migration 0005 installs the form that calls it once. A sealed event keeps every field."""
    postgres_or_skip()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_functiondef('quorum_audit_seal_one'::regproc)")
        definition = cursor.fetchone()[0]
    assert "SELECT * FROM jsonb_populate_record(" in definition
    assert ")).*" not in definition
    with transaction.atomic():
        audit.record(
            actor=cast.owner, action=Action.MODEL_UPDATED, model_name="m", after={"description": "d"}
        )
    stored = AuditEvent.objects.get(model_name="m")
    assert (stored.actor_username, stored.model_name, stored.after) == ("owner", "m", {"description": "d"})
    assert chain_verify().ok
