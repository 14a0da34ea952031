from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artifacts import rules

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENTRY = st.tuples(
    st.text(min_size=1, max_size=20),
    st.integers(0, 10**12),
    st.text("0123456789abcdef", min_size=64, max_size=64),
)


@given(st.lists(ENTRY, max_size=20, unique_by=lambda entry: entry[0]), st.randoms())
def test_version_digest_ignores_listing_order(entries, random):
    shuffled = list(entries)
    random.shuffle(shuffled)
    assert rules.version_digest(entries) == rules.version_digest(shuffled)


def test_version_digest_changes_with_a_rename_a_size_or_a_byte():
    base = [("MLmodel", 10, "a" * 64), ("model.pkl", 20, "b" * 64)]
    digest = rules.version_digest(base)
    assert rules.version_digest([("MLmodel", 10, "a" * 64), ("model2.pkl", 20, "b" * 64)]) != digest
    assert rules.version_digest([("MLmodel", 10, "a" * 64), ("model.pkl", 21, "b" * 64)]) != digest
    assert rules.version_digest([("MLmodel", 10, "a" * 64), ("model.pkl", 20, "c" * 64)]) != digest


def test_mlmodel_parse_reads_flavors_and_json_signature():
    summary = rules.mlmodel_parse(
        'flavors:\n  sklearn: {}\n  python_function: {}\nsignature:\n  inputs: \'[{"type": "double"}]\'\n'
    )
    assert summary.flavors == ["python_function", "sklearn"]
    assert summary.signature == {"inputs": [{"type": "double"}]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flavors: [unclosed", "not valid YAML (line 1)"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("artifact_path: model\n", "declares no flavors"),
        ("flavors: {}\n", "declares no flavors"),
        ("flavors:\n  sklearn: {}\nsignature: 'x'\n", "'signature' must be a mapping"),
        ("flavors:\n  sklearn: {}\nsignature:\n  inputs: '[{'\n", "signature 'inputs' is not valid JSON"),
    ],
)
def test_mlmodel_parse_refuses_with_an_actionable_message(text, message):
    with pytest.raises(rules.InvalidArtifacts, match=message.replace("(", r"\(").replace(")", r"\)")):
        rules.mlmodel_parse(text)


def test_paths_need_a_top_level_mlmodel_and_point_at_a_nested_one():
    rules.manifest_paths_checked(["MLmodel", "model.pkl"])
    with pytest.raises(rules.InvalidArtifacts, match="No artifacts found"):
        rules.manifest_paths_checked([])
    with pytest.raises(rules.InvalidArtifacts, match="An MLmodel exists at 'model/MLmodel'"):
        rules.manifest_paths_checked(["model/MLmodel", "model/model.pkl"])


def test_size_limit_is_inclusive():
    rules.size_within_limit(100, 100)
    with pytest.raises(rules.InvalidArtifacts, match="101 bytes, above the limit of 100"):
        rules.size_within_limit(101, 100)


def test_outbox_due_waits_one_period_and_leaves_live_jobs_alone():
    fresh = NOW - timedelta(seconds=5)
    old = NOW - timedelta(seconds=120)
    due = {"now": NOW, "redispatch_after_seconds": 60}
    assert not rules.outbox_due(
        dispatched_at=None, created_at=fresh, job_running_with_live_lease=False, **due
    )
    assert rules.outbox_due(dispatched_at=None, created_at=old, job_running_with_live_lease=False, **due)
    assert not rules.outbox_due(dispatched_at=fresh, created_at=old, job_running_with_live_lease=False, **due)
    assert not rules.outbox_due(dispatched_at=old, created_at=old, job_running_with_live_lease=True, **due)


def test_lease_expires_after_its_duration():
    assert rules.lease_expired(None, NOW, 30)
    assert not rules.lease_expired(NOW - timedelta(seconds=29), NOW, 30)
    assert rules.lease_expired(NOW - timedelta(seconds=31), NOW, 30)


def test_retry_backoff_grows_then_hits_the_ceiling():
    delays = [rules.retry_delay_seconds(attempt, ceiling=60) for attempt in range(8)]
    assert delays[:4] == [2, 4, 8, 16]
    assert max(delays) == 60


@given(st.lists(st.sampled_from(["a", "b.bin", "..", ".", "", "x y", "%2e%2e", "/"]), max_size=8))
def test_relpath_clean_never_escapes_the_root(parts):
    from artifacts.stores import StoreError, relpath_clean

    raw = "/".join(parts)
    try:
        clean = relpath_clean(raw)
    except StoreError:
        assert ".." in parts
        return
    assert not clean.startswith("/") and ".." not in clean.split("/") and "" not in clean.split("/")[1:]


def test_the_beat_schedule_names_a_registered_task(settings):
    from artifacts import tasks
    from config.celery import app

    schedule = settings.CELERY_BEAT_SCHEDULE["artifacts-outbox-redispatch"]
    assert schedule["task"] in app.tasks and schedule["task"] == tasks.outbox_redispatch.name
