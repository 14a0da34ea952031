"""The bounded load test (bench/loadtest.py) in its CI form: 16 clients for ~20 s on a live server.

It needs PostgreSQL: SQLite serializes every write behind one file lock and the in-memory test
database is shared between the server threads, so it would measure the test harness, not Quorum.
"""

import importlib.util
import os
from pathlib import Path

import pytest
from django.db import connection

SECONDS = float(os.environ.get("QUORUM_LOAD_SECONDS", "20"))
CLIENTS = int(os.environ.get("QUORUM_LOAD_CLIENTS", "16"))


def _loadtest_module():
    path = Path(__file__).resolve().parents[2] / "bench" / "loadtest.py"
    spec = importlib.util.spec_from_file_location("bench_loadtest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def on_postgresql(transactional_db) -> None:
    if connection.vendor != "postgresql":
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must run the load test on PostgreSQL (set DATABASE_URL)")
        pytest.skip("the load test needs PostgreSQL (set DATABASE_URL=postgres://…)")


@pytest.mark.slow
def test_concurrent_mixed_load_keeps_every_invariant(on_postgresql, live_server) -> None:
    from audit.models import AuditEvent

    load = _loadtest_module()
    plan = load.load_registry_prepare(models=4)
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    result = load.load_run(live_server.url, plan, clients=CLIENTS, seconds=SECONDS)
    print(f"load: {dict(result.by_kind)}")  # shown with -s: what the run did, for bench/RESULTS-style notes

    assert result.statuses and sum(result.statuses.values()) > CLIENTS * 10, result.statuses
    kinds = ("version_create", "alias_set", "request_create", "approve")
    assert all(result.writes[kind] > 0 for kind in kinds), (result.by_kind, result.refusals)
    assert load.load_invariant_violations(plan, result, before) == []
