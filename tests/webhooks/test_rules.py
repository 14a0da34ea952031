"""Unit tests of the pure parts: event mapping, retry schedule, URL and address checks, and the signature."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhooks import rules
from webhooks.services import request_headers, signature

NO_ALLOWLIST = rules.Allowlist.parse([])


def _domain_events() -> list[tuple[object, list[str]]]:
    """One of each domain event (unsaved instances are enough: builders read fields), with what it raises."""
    from accounts.models import User
    from artifacts.events import DeploymentReported, GovernedCopyFinished, ValidationFinished
    from inventory.events import ValidationRecorded, ValidationReviewOverdue
    from inventory.models import Validation
    from registry import events as registry_events
    from registry.models import ModelVersion, RegisteredModel
    from workflows.events import CommentCreated, RequestChanged
    from workflows.models import TransitionRequest

    model = RegisteredModel(pk=7, name="m", description="")
    v1 = ModelVersion(pk=11, model=model, version=1, source="s3://b/1", stage="None")
    v2 = ModelVersion(pk=12, model=model, version=2, source="s3://b/2", stage="Staging")
    request = TransitionRequest(
        pk=5, model=model, version=v2, target_kind="stage", target="Production", state="pending"
    )
    actor = "system"
    due = date(2026, 6, 1)
    validation = Validation(
        pk=4, version=v2, validator=User(username="val"), outcome="pass", next_review_on=due
    )
    return [
        (
            ValidationRecorded(actor=actor, validation=validation, version=v2),
            ["model_version.independent_validation_recorded"],
        ),
        (
            ValidationReviewOverdue(actor=actor, validation=validation, version=v2, next_review_on=due),
            ["model_version.validation_review_overdue"],
        ),
        (
            DeploymentReported(
                actor=actor,
                version=v2,
                deployment_id=3,
                environment="prod",
                endpoint="scoring",
                alias="champion",
                reported_digest="sha256:" + "a" * 64,
                expected_digest="sha256:" + "b" * 64,
                drift=True,
                drift_reason="loaded another digest",
            ),
            ["model_version.deployed", "model_version.deployment_drift"],
        ),
        # A model's tags raise nothing, as on MLflow; a prompt's raise prompt_tag.* (see below).
        (registry_events.ModelTagSet(actor=actor, model=model, key="k", value="v", previous=None), []),
        (registry_events.ModelTagDeleted(actor=actor, model=model, key="k", value="v"), []),
        (registry_events.ModelCreated(actor=actor, model=model), ["registered_model.created"]),
        (registry_events.VersionCreated(actor=actor, version=v1), ["model_version.created"]),
        (
            registry_events.VersionTagSet(actor=actor, version=v1, key="k", value="v", previous=None),
            ["model_version_tag.set"],
        ),
        (
            registry_events.VersionTagDeleted(actor=actor, version=v1, key="k", value="v"),
            ["model_version_tag.deleted"],
        ),
        (
            registry_events.AliasMoved(
                actor=actor, model=model, alias="a", previous=None, current=v1, governed=False
            ),
            ["model_version_alias.created"],
        ),
        (
            registry_events.AliasMoved(
                actor=actor, model=model, alias="a", previous=1, current=v2, governed=True
            ),
            ["model_version_alias.created", "model_version_alias.moved"],
        ),
        (
            registry_events.AliasMoved(
                actor=actor, model=model, alias="a", previous=2, current=v2, governed=False
            ),
            ["model_version_alias.created"],
        ),
        (
            registry_events.AliasDeleted(actor=actor, model=model, alias="a", version=1),
            ["model_version_alias.deleted"],
        ),
        (
            registry_events.StageChanged(
                actor=actor, version=v2, previous="None", current="Staging", archived=[], governed=False
            ),
            ["model_version.stage_transitioned"],
        ),
        (registry_events.VersionDeleted(actor=actor, version=v1, aliases=[]), ["model_version.deleted"]),
        *[
            (RequestChanged(actor=actor, request=request, change=change), [f"transition_request.{change}"])
            for change in ("created", "approved", "rejected", "cancelled", "applied", "failed")
        ],
        (RequestChanged(actor=actor, request=request, change="expired"), []),
        (
            CommentCreated(actor=actor, version=v1, comment_id=3, request_id=None, comment="x"),
            ["comment.created"],
        ),
        (
            ValidationFinished(actor=actor, version=v1, outcome="validated"),
            ["model_version.validation_finished"],
        ),
        (
            GovernedCopyFinished(actor=actor, version=v1, succeeded=False, job_id=1, request_id=None),
            ["model_version.governed_copy_finished"],
        ),
        (registry_events.ModelRenamed(actor=actor, model=model, previous_name="n"), []),
    ]


@pytest.mark.parametrize(("event", "expected"), _domain_events(), ids=lambda v: type(v).__name__)
def test_domain_events_map_to_webhook_events(event, expected):
    from webhooks import payloads

    build = payloads.RAISED_BY.get(type(event))
    raised = [name for name, _ in build(event)] if build else []
    assert raised == expected
    assert set(raised) <= set(rules.EVENTS)


def test_every_webhook_event_is_raised_by_some_domain_event():
    import dataclasses

    from webhooks import payloads

    events = [event for event, _ in _domain_events()]
    # The same events of a prompt (registry/prompts.py) raise MLflow's prompt events instead.
    events += [
        dataclasses.replace(event, prompt=True)
        for event in events
        if "prompt" in {f.name for f in dataclasses.fields(event)}
    ]
    raised = {
        name for event in events for name, _ in (payloads.RAISED_BY.get(type(event), lambda e: [])(event))
    }
    assert raised == set(rules.EVENTS)  # no subscribable event that nothing raises


def test_every_event_can_be_raised_and_subscribed():
    assert len(set(rules.EVENTS)) == len(rules.EVENTS) == 30
    assert rules.events_parse(["MODEL_VERSION.created", "model_version.created", "*"]) == [
        "model_version.created",
        "*",
    ]
    for bad in ([], "model_version.created", ["model_version.exploded"], [3]):
        with pytest.raises(ValueError):
            rules.events_parse(bad)
    assert rules.webhook_wants(["*"], "comment.created") and not rules.webhook_wants(["x"], "comment.created")


def test_backoff_doubles_up_to_the_cap():
    assert [rules.backoff_seconds(n, base=30, cap=600) for n in range(0, 8)] == [
        0,
        30,
        60,
        120,
        240,
        480,
        600,
        600,
    ]
    assert rules.backoff_seconds(10_000, base=30, cap=600) == 600


def test_retries_stop_at_the_end_of_the_window():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    retry = rules.retry_decide(
        attempt=2, window_start=start, now=start + timedelta(seconds=30), base=30, cap=600, window=100
    )
    assert (retry.dead, retry.next_attempt_at) == (False, start + timedelta(seconds=90))
    dead = rules.retry_decide(
        attempt=3, window_start=start, now=start + timedelta(seconds=90), base=30, cap=600, window=100
    )
    assert dead.dead and dead.next_attempt_at is None and "retry window" in dead.reason


@given(
    st.integers(min_value=1, max_value=60),
    st.floats(min_value=1, max_value=100),
    st.floats(min_value=1, max_value=10_000),
)
def test_a_scheduled_retry_is_never_past_the_window(attempt, base, window):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    verdict = rules.retry_decide(
        attempt=attempt, window_start=start, now=start, base=base, cap=3600, window=window
    )
    assert verdict.dead or verdict.next_attempt_at <= start + timedelta(seconds=window)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/x", None),
        ("http://hooks.example.com/x", None),
        ("ftp://hooks.example.com/x", "must use https"),
        ("file:///etc/passwd", "must use https"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://token@hooks.example.com/", "credentials"),
        ("https:///nohost", "must name a host"),
        ("https://hooks.example.com:99999/", "malformed"),
        ("https://hooks.example.com/a b", "whitespace"),
        ("", "required"),
        (None, "required"),
    ],
)
def test_url_problems(url, problem):
    found = rules.url_problem(url, https_only=False)
    assert found is None if problem is None else problem in found


def test_production_accepts_only_https():
    assert "https in production" in rules.url_problem("http://hooks.example.com/", https_only=True)
    assert rules.url_problem("https://hooks.example.com/", https_only=True) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",  # loopback spelled as IPv6
        "::ffff:169.254.169.254",
        "224.0.0.1",
        "not-an-address",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not rules.address_allowed("hooks.example.com", address, NO_ALLOWLIST)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert rules.address_allowed("hooks.example.com", address, NO_ALLOWLIST)


def test_the_allowlist_names_hosts_or_networks():
    allowlist = rules.Allowlist.parse(["receiver.internal", "10.1.0.0/16", " ", "127.0.0.1"])
    assert rules.address_allowed("receiver.internal", "10.9.9.9", allowlist)
    assert rules.address_allowed("RECEIVER.internal.", "10.9.9.9", allowlist)
    assert rules.address_allowed("other", "10.1.2.3", allowlist)
    assert rules.address_allowed("localhost", "127.0.0.1", allowlist)
    assert not rules.address_allowed("other", "10.2.0.1", allowlist)
    assert not rules.address_allowed("other", "169.254.169.254", allowlist)


def test_one_private_answer_refuses_the_whole_host():
    problem = rules.addresses_problem("mixed.example", ["93.184.215.14", "10.0.0.1"], NO_ALLOWLIST)
    assert "10.0.0.1" in problem and "QUORUM_WEBHOOK_ALLOWLIST" in problem
    assert "does not resolve" in rules.addresses_problem("nowhere.example", [], NO_ALLOWLIST)
    assert rules.addresses_problem("ok.example", ["93.184.215.14"], NO_ALLOWLIST) is None


def test_signature_is_exactly_mlflows():
    from mlflow.webhooks.delivery import _generate_hmac_signature

    payload = '{"entity": "model_version", "action": "created", "data": {"name": "m"}}'
    assert signature("s3cr3t", "d-1", "1700000000", payload) == _generate_hmac_signature(
        "s3cr3t", "d-1", "1700000000", payload
    )
    headers = request_headers(secret="s3cr3t", delivery_id="d-1", payload=payload, timestamp="1700000000")
    from mlflow.webhooks.constants import (
        WEBHOOK_DELIVERY_ID_HEADER,
        WEBHOOK_SIGNATURE_HEADER,
        WEBHOOK_TIMESTAMP_HEADER,
    )

    assert headers[WEBHOOK_DELIVERY_ID_HEADER] == "d-1"
    assert headers[WEBHOOK_TIMESTAMP_HEADER] == "1700000000"
    assert headers[WEBHOOK_SIGNATURE_HEADER] == signature("s3cr3t", "d-1", "1700000000", payload)
    assert WEBHOOK_SIGNATURE_HEADER not in request_headers(secret="", delivery_id="d", payload=payload)
