"""Appends from concurrent transactions (PostgreSQL row locks): gap-free, chained, and not waiting early."""

import threading
import time

import pytest
from django.db import connections, transaction

import audit
from audit.models import Action, AuditEvent
from audit.verify import chain_verify
from tests.conftest import make_user
from tests.fixtures_foundation import postgres_or_skip

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
EVENTS_PER_THREAD = 10


def _in_thread(work, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # re-raised by the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_concurrent_appends_stay_gap_free_and_chained():
    postgres_or_skip()
    user = make_user("writer")
    barrier = threading.Barrier(THREADS)
    errors: list = []

    def append_many() -> None:
        barrier.wait(timeout=10)
        for _ in range(EVENTS_PER_THREAD):
            with transaction.atomic():
                audit.record(actor=user, action=Action.MODEL_UPDATED, model_name="race")

    threads = [_in_thread(append_many, errors) for _ in range(THREADS)]
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, THREADS * EVENTS_PER_THREAD + 1))
    assert chain_verify().ok


def test_a_long_transaction_does_not_hold_the_chain_before_its_own_append():
    postgres_or_skip()
    user = make_user("writer")
    started, errors = threading.Event(), []

    def slow_change() -> None:
        with transaction.atomic():
            started.set()
            time.sleep(1.5)  # the change's own work; the chain head is not locked yet
            audit.record(actor=user, action=Action.MODEL_UPDATED, model_name="slow")

    slow = _in_thread(slow_change, errors)
    assert started.wait(timeout=10)
    begun = time.monotonic()
    with transaction.atomic():
        audit.record(actor=user, action=Action.MODEL_UPDATED, model_name="quick")
    waited = time.monotonic() - begun
    slow.join(timeout=30)
    assert not errors, errors
    assert waited < 1.0, f"the quick append waited {waited:.2f}s behind an unrelated transaction"
    assert list(AuditEvent.objects.order_by("seq").values_list("model_name", flat=True)) == ["quick", "slow"]
