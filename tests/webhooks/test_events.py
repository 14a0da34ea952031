"""Which events the registry and the approval workflow raise, and what each one's body says.

These read the outbox (the event records written in each change's transaction); sending them is
covered by test_delivery.py.
"""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import services as registry_services
from tests.fixtures_workflow import signature_of, signing_of
from webhooks import services as webhook_services
from webhooks.models import Webhook, WebhookDelivery, WebhookEventRecord, WebhookStatus
from workflows import services as workflow_services

pytestmark = pytest.mark.django_db


def subscribe(model=None, events=("*",), status=WebhookStatus.ACTIVE) -> Webhook:
    # Created as rows: these tests are about the events, the API and its URL checks are tested elsewhere.
    return Webhook.objects.create(
        name="all", url="https://hooks.example.com/", events=list(events), model=model, status=status
    )


def raised(since: int = 0) -> list[tuple[str, dict]]:
    rows = WebhookEventRecord.objects.filter(pk__gt=since).order_by("pk")
    return [(row.event, json.loads(row.payload)) for row in rows]


def names(since: int = 0) -> list[str]:
    return [event for event, _ in raised(since)]


def last_pk() -> int:
    return WebhookEventRecord.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_mlflow_registry_events_carry_mlflows_payloads(cast):
    subscribe()
    registry_services.registered_model_create(
        actor=cast.owner, name="churn", description="d", tags=[{"key": "team", "value": "growth"}]
    )
    registry_services.model_version_create(
        actor=cast.owner,
        name="churn",
        source="s3://b/churn/1",
        run_id="r1",
        tags=[{"key": "k", "value": "v"}],
    )
    registry_services.model_version_tag_set(
        actor=cast.owner, name="churn", version=1, key="reviewed", value="yes"
    )
    registry_services.model_version_tag_delete(actor=cast.owner, name="churn", version=1, key="reviewed")
    registry_services.alias_set(actor=cast.owner, name="churn", alias="candidate", version=1)
    registry_services.alias_delete(actor=cast.owner, name="churn", alias="candidate")

    bodies = {event: body for event, body in raised()}
    assert list(bodies) == [
        "registered_model.created",
        "model_version.created",
        "model_version_tag.set",
        "model_version_tag.deleted",
        "model_version_alias.created",
        "model_version_alias.deleted",
    ]
    assert bodies["registered_model.created"]["data"] == {
        "name": "churn",
        "tags": {"team": "growth"},
        "description": "d",
    }
    assert bodies["model_version.created"]["data"] == {
        "name": "churn",
        "version": "1",
        "source": "s3://b/churn/1",
        "run_id": "r1",
        "tags": {"k": "v"},
        "description": None,
    }
    assert bodies["model_version_tag.set"]["data"] == {
        "name": "churn",
        "version": "1",
        "key": "reviewed",
        "value": "yes",
    }
    assert bodies["model_version_tag.deleted"]["data"] == {"name": "churn", "version": "1", "key": "reviewed"}
    assert bodies["model_version_alias.created"]["data"] == {
        "name": "churn",
        "alias": "candidate",
        "version": "1",
    }
    assert bodies["model_version_alias.deleted"]["data"] == {"name": "churn", "alias": "candidate"}
    for event, body in bodies.items():
        assert (body["entity"], body["action"]) == tuple(event.split("."))
        assert body["actor"] == "owner" and isinstance(body["audit_seq"], int) and body["timestamp"]


def test_quorum_events_stage_alias_moves_and_deletion(cast, fraud):
    subscribe(model=fraud)
    start = last_pk()
    registry_services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=1)
    registry_services.alias_set(actor=cast.owner, name="fraud", alias="champion", version=2)
    registry_services.model_version_stage_transition(
        actor=cast.owner, name="fraud", version=1, stage="Production"
    )
    registry_services.model_version_stage_transition(
        actor=cast.owner, name="fraud", version=2, stage="Production", archive_existing_versions=True
    )
    registry_services.model_version_delete(actor=cast.owner, name="fraud", version=2)

    got = raised(start)
    assert [event for event, _ in got] == [
        "model_version_alias.created",
        "model_version_alias.created",
        "model_version_alias.moved",
        "model_version.stage_transitioned",
        "model_version.stage_transitioned",
        "model_version.deleted",
    ]
    assert got[2][1]["data"] == {"name": "fraud", "alias": "champion", "from_version": "1", "to_version": "2"}
    assert got[4][1]["data"] | {"reason": None} == {
        "name": "fraud",
        "version": "2",
        "from_stage": "None",
        "to_stage": "Production",
        "archived_versions": ["1"],
        "reason": None,
    }
    assert got[5][1]["data"] == {
        "name": "fraud",
        "version": "2",
        "stage": "Production",
        "aliases": ["champion"],
    }


def test_transition_request_and_comment_events(governed, file_request, client_for):
    subscribe(model=governed.model)
    start = last_pk()
    staging = file_request(3, stage="Staging")
    approved = client_for(governed.approver).post(
        f"/api/v1/requests/{staging.pk}/approve",
        {"comment": "fine", "signature": signature_of(governed.approver)},
        format="json",
    )
    assert approved.json()["state"] == "applied", approved.content
    rejected = file_request(2)
    workflow_services.transition_request_reject(
        actor=governed.approver, request_id=rejected.pk, comment="no", signing=signing_of(governed.approver)
    )
    cancelled = file_request(2, alias="champion")
    workflow_services.transition_request_cancel(
        actor=governed.editor, request_id=cancelled.pk, comment="oops"
    )
    comment = workflow_services.version_comment_create(
        actor=governed.outsider, name="scoring", version=2, comment="why this one?", request_id=cancelled.pk
    )
    workflow_services.version_comment_update(actor=governed.outsider, comment_id=comment.pk, comment="edited")

    got = raised(start)
    assert [event for event, _ in got] == [
        "transition_request.created",
        "transition_request.approved",
        "model_version.stage_transitioned",
        "transition_request.applied",
        "transition_request.created",
        "transition_request.rejected",
        "transition_request.created",
        "transition_request.cancelled",
        "comment.created",  # the edit raises nothing
    ]
    created = got[0][1]["data"]
    assert (created["name"], created["version"], created["request_id"], created["target"]) == (
        "scoring",
        "3",
        str(staging.pk),
        "Staging",
    )
    assert got[5][1]["data"]["state"] == "rejected" and got[5][1]["data"]["comment"] == "no"
    assert got[5][1]["actor"] == "approver"
    assert got[8][1]["data"] == {
        "name": "scoring",
        "version": "2",
        "comment_id": comment.pk,
        "request_id": cancelled.pk,
        "comment": "why this one?",
    }


def test_only_subscribed_events_of_the_webhooks_scope_are_written(cast, fraud):
    registry_services.registered_model_create(actor=cast.outsider, name="other")
    tags_only = subscribe(model=fraud, events=["model_version_tag.set"])
    subscribe(model=fraud, status=WebhookStatus.DISABLED)
    test_mode = subscribe(model=fraud, events=["model_version_tag.set"], status=WebhookStatus.TEST_MODE)
    registry_services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="v")
    registry_services.alias_set(actor=cast.owner, name="fraud", alias="candidate", version=1)
    registry_services.model_version_create(actor=cast.outsider, name="other", source="s3://b/other/1")

    assert names() == ["model_version_tag.set"]
    deliveries = {d.webhook_id: d.status for d in WebhookDelivery.objects.all()}
    assert deliveries == {tags_only.pk: "PENDING", test_mode.pk: "SUPPRESSED"}


def test_the_listener_is_cheap_when_nothing_subscribes(cast, fraud):
    def webhook_queries(change) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            change()
        return [q["sql"] for q in captured.captured_queries if "webhook" in q["sql"].lower()]

    # An action that raises no event costs nothing; one that could costs one indexed query.
    assert (
        webhook_queries(
            lambda: registry_services.registered_model_update(actor=cast.owner, name="fraud", description="x")
        )
        == []
    )
    [lookup] = webhook_queries(
        lambda: registry_services.model_version_tag_set(
            actor=cast.owner, name="fraud", version=1, key="k", value="v"
        )
    )
    assert (
        lookup.lstrip().upper().startswith(("SELECT", "EXECUTE QUORUM_LIVE_WEBHOOKS"))
    )  # a read, prepared on PostgreSQL
    assert WebhookEventRecord.objects.count() == 0


def test_the_outbox_subscriber_is_registered_once():
    import events

    assert events.subscribers_of(events.DomainEvent).count(webhook_services.outbox_write) == 1


def test_a_payload_is_built_from_the_domain_event_not_from_the_audit_record(cast, monkeypatch):
    # What a maintainer might do: rename the keys an audit call records. The public payload must not move.
    import audit.services

    real = audit.services.event_record

    def renamed(**fields):
        fields["after"] = {f"renamed_{k}": v for k, v in (fields.get("after") or {}).items()}
        fields["before"] = None
        return real(**fields)

    monkeypatch.setattr(audit.services, "event_record", renamed)
    subscribe()
    registry_services.registered_model_create(actor=cast.owner, name="churn")
    registry_services.model_version_create(actor=cast.owner, name="churn", source="s3://b/churn/1")
    registry_services.model_version_tag_set(actor=cast.owner, name="churn", version=1, key="k", value="v")
    registry_services.alias_set(actor=cast.owner, name="churn", alias="candidate", version=1)
    registry_services.model_version_create(actor=cast.owner, name="churn", source="s3://b/churn/2")
    registry_services.alias_set(actor=cast.owner, name="churn", alias="candidate", version=2)
    bodies = {event: body["data"] for event, body in raised()}
    assert bodies["model_version_tag.set"] == {"name": "churn", "version": "1", "key": "k", "value": "v"}
    assert bodies["model_version_alias.moved"] == {
        "name": "churn",
        "alias": "candidate",
        "from_version": "1",
        "to_version": "2",
    }
    assert bodies["model_version.created"]["source"] == "s3://b/churn/2"
