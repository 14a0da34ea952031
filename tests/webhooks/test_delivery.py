"""Deliveries end to end: registry changes through the API, a real signed-request receiver on loopback."""

import json

import pytest

from audit.models import Action, AuditEvent
from registry import services as registry_services
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed", "webhooks_in_process")]


class CommittingClient:
    """An API client whose every request is followed by its on-commit work, as a real commit runs it.

    The test's own transaction never commits, so without this the outbox would never be published.
    """

    def __init__(self, client, capture) -> None:
        self.client, self.capture = client, capture

    def __getattr__(self, method: str):
        call = getattr(self.client, method)

        def committed(*args, **kwargs):
            with self.capture(execute=True):
                return call(*args, **kwargs)

        return committed


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    """committing(user) -> API client; committing.run(service, **kwargs) -> a service call, committed."""

    class Committing:
        def __init__(self) -> None:
            from rest_framework.test import APIClient

            self.api_client = APIClient

        def __call__(self, user):
            client = self.api_client()
            client.force_authenticate(user=user)
            return CommittingClient(client, django_capture_on_commit_callbacks)

        def run(self, service, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return service(**kwargs)

    return Committing()


def create_webhook(client, receiver, events, **extra) -> dict:
    body = {"name": "ci", "url": receiver.url, "events": events, "secret": receiver.secret, **extra}
    response = client.post("/api/v1/webhooks", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def deliveries(client, webhook: dict) -> list[dict]:
    response = client.get(f"/api/v1/webhooks/{webhook['id']}/deliveries")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_alias_set_is_delivered_signed_with_mlflow_headers_and_logged(cast, fraud, committing, receiver):
    owner = committing(cast.owner)
    webhook = create_webhook(owner, receiver, ["model_version_alias.created"], model="fraud")

    assert (
        owner.put("/api/v1/models/fraud/aliases/candidate", {"version": 2}, format="json").status_code == 200
    )

    [request] = receiver.received
    assert request.signature_valid is True
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-MLflow-Signature"].startswith("v1,")
    assert request.headers["X-MLflow-Timestamp"].isdigit()
    body = request.json
    assert (body["entity"], body["action"]) == ("model_version_alias", "created")
    assert body["data"] == {"name": "fraud", "alias": "candidate", "version": "2"}
    assert body["actor"] == "owner"
    [logged] = deliveries(owner, webhook)
    assert logged["delivery_id"] == request.delivery_id
    assert (logged["status"], logged["event"], logged["attempts"]) == (
        "SUCCEEDED",
        "model_version_alias.created",
        1,
    )
    [attempt] = logged["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["latency_ms"] >= 0 and attempt["error"] == ""
    assert json.loads(logged["payload"]) == body


def test_receiver_errors_are_retried_with_backoff_under_the_same_delivery_id(
    cast, fraud, committing, receiver, clock
):
    owner = committing(cast.owner)
    webhook = create_webhook(owner, receiver, ["model_version_tag.set"], model="fraud")
    receiver.answers = [500, 503]

    owner.post("/api/v1/models/fraud/versions/1/tags", {"key": "reviewed", "value": "yes"}, format="json")
    assert len(receiver.received) == 1
    [logged] = deliveries(owner, webhook)
    assert (logged["status"], logged["last_status_code"]) == ("PENDING", 500)

    assert clock.sweep(10) == 0  # the first retry is due 30 s after the failure, not before
    assert clock.sweep(25) == 1
    assert [r.headers.get("X-MLflow-Timestamp") is not None for r in receiver.received] == [True, True]
    assert clock.sweep(30) == 0  # the second retry waits 60 s
    assert clock.sweep(35) == 1

    [logged] = deliveries(owner, webhook)
    assert logged["status"] == "SUCCEEDED"
    assert [a["status_code"] for a in logged["attempt_log"]] == [500, 503, 200]
    assert set(receiver.delivery_ids()) == {logged["delivery_id"]}
    assert all(r.signature_valid for r in receiver.received)
    assert len({r.body for r in receiver.received}) == 1  # the same bytes every time


def test_retries_end_in_dead_letter_and_a_replay_delivers_with_the_same_id(
    cast, fraud, committing, receiver, clock, settings
):
    settings.QUORUM_WEBHOOK_RETRY_WINDOW_SECONDS = 100  # attempts at 0 s, 30 s, 90 s; the next (210 s) is out
    owner = committing(cast.owner)
    webhook = create_webhook(owner, receiver, ["model_version.stage_transitioned"], model="fraud")
    receiver.default_status = 502

    owner.post("/api/v1/models/fraud/versions/2/stage", {"stage": "Staging"}, format="json")
    clock.sweep(30)
    clock.sweep(60)
    assert clock.sweep(3600) == 0
    [logged] = deliveries(owner, webhook)
    assert (logged["status"], logged["attempts"]) == ("DEAD", 3)
    assert "retry window" in logged["last_error"]

    receiver.default_status = 200
    response = owner.post(f"/api/v1/webhooks/{webhook['id']}/deliveries/{logged['delivery_id']}/replay")
    assert response.status_code == 202, response.content
    assert response.json()["delivery_id"] == logged["delivery_id"]
    [logged] = deliveries(owner, webhook)
    assert (logged["status"], logged["attempts"]) == ("SUCCEEDED", 4)
    last = logged["attempt_log"][-1]
    assert (last["number"], last["status_code"], last["error"], last["replay"]) == (4, 200, "", True)
    assert receiver.delivery_ids() == [logged["delivery_id"]] * 4
    assert receiver.received[-1].json["data"]["to_stage"] == "Staging"
    replayed = AuditEvent.objects.filter(action=Action.WEBHOOK_CHANGED, after__change="delivery replayed")
    assert replayed.count() == 1


def test_receiver_down_for_a_while_then_back_loses_nothing(cast, fraud, committing, receiver, clock):
    owner = committing(cast.owner)
    webhook = create_webhook(
        owner, receiver, ["model_version_tag.set", "model_version_tag.deleted"], model="fraud"
    )
    receiver.stop()

    for number in (1, 2, 3):
        owner.post(
            f"/api/v1/models/fraud/versions/{number}/tags", {"key": "k", "value": str(number)}, format="json"
        )
    owner.delete("/api/v1/models/fraud/versions/3/tags/k")
    clock.sweep(30)  # still down: the retries fail too
    logged = deliveries(owner, webhook)
    assert len(logged) == 4
    assert {d["status"] for d in logged} == {"PENDING"}
    assert all("connection failed" in d["last_error"] for d in logged)

    receiver.start()  # same port
    clock.sweep(60)
    logged = deliveries(owner, webhook)
    assert {d["status"] for d in logged} == {"SUCCEEDED"}
    got = sorted(
        (r.json["action"], r.json["data"]["version"], r.json["data"].get("value")) for r in receiver.received
    )
    assert got == [("deleted", "3", None), ("set", "1", "1"), ("set", "2", "2"), ("set", "3", "3")]
    assert sorted(receiver.delivery_ids()) == sorted(d["delivery_id"] for d in logged)


def test_a_broker_outage_delays_deliveries_but_the_sweep_sends_them(
    cast, fraud, committing, receiver, clock, monkeypatch
):
    from webhooks import tasks

    owner = committing(cast.owner)
    create_webhook(owner, receiver, ["model_version_alias.created"], model="fraud")

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.webhook_deliver, "apply_async", broker_down)
        response = owner.put("/api/v1/models/fraud/aliases/candidate", {"version": 1}, format="json")
        assert response.status_code == 200  # the change commits; its outbox row waits
        assert clock.sweep(0) == 0
    assert receiver.received == []
    assert WebhookDelivery.objects.get().dispatched_at is None

    assert clock.sweep(0) == 1
    assert [r.json["data"]["alias"] for r in receiver.received] == ["candidate"]


def test_a_worker_lost_after_sending_means_a_duplicate_with_the_same_delivery_id(
    cast, fraud, committing, receiver, clock, monkeypatch, settings
):
    from webhooks import services

    owner = committing(cast.owner)
    webhook = create_webhook(owner, receiver, ["model_version_alias.created"], model="fraud")
    real_record = services._attempt_record

    def worker_killed(*args, **kwargs):
        raise SystemExit("worker lost between the POST and recording it")

    with monkeypatch.context() as patched:
        patched.setattr(services, "_attempt_record", worker_killed)
        with pytest.raises(SystemExit):
            committing.run(
                registry_services.alias_set, actor=cast.owner, name="fraud", alias="candidate", version=1
            )
    assert services._attempt_record is real_record
    assert len(receiver.received) == 1  # the receiver got it; the worker died before recording that
    stuck = WebhookDelivery.objects.get()
    assert (stuck.status, stuck.attempts, stuck.leased_until is not None) == (DeliveryStatus.PENDING, 1, True)

    assert clock.sweep(5) == 0  # the lost worker's lease still holds
    assert (
        clock.sweep(settings.QUORUM_WEBHOOK_LEASE_SECONDS + settings.QUORUM_WEBHOOK_REDISPATCH_SECONDS) == 1
    )
    [logged] = deliveries(owner, webhook)
    assert logged["status"] == "SUCCEEDED"
    ids = receiver.delivery_ids()
    assert len(ids) == 2 and set(ids) == {logged["delivery_id"]}
    assert len({r.body for r in receiver.received}) == 1


def test_a_rolled_back_change_leaves_no_event_behind(cast, fraud, committing, receiver):
    from django.db import transaction

    owner = committing(cast.owner)
    create_webhook(owner, receiver, ["*"], model="fraud")
    with pytest.raises(RuntimeError), transaction.atomic():
        registry_services.model_version_tag_set(actor=cast.owner, name="fraud", version=1, key="k", value="v")
        assert WebhookDelivery.objects.count() == 1  # written inside the change's transaction
        raise RuntimeError("the change fails after its audit event")
    assert WebhookDelivery.objects.count() == 0
    assert receiver.received == []


def test_disabled_webhooks_get_nothing_and_test_mode_ones_only_tests_and_replays(
    cast, fraud, committing, receiver, other_receiver
):
    owner = committing(cast.owner)
    disabled = create_webhook(owner, receiver, ["model_version_tag.set"], model="fraud", status="DISABLED")
    other_receiver.secret = receiver.secret
    test_mode = create_webhook(
        owner, other_receiver, ["model_version_tag.set"], model="fraud", status="TEST_MODE"
    )

    owner.post("/api/v1/models/fraud/versions/1/tags", {"key": "k", "value": "v"}, format="json")
    assert receiver.received == [] and other_receiver.received == []
    assert deliveries(owner, disabled) == []
    [suppressed] = deliveries(owner, test_mode)
    assert (suppressed["status"], suppressed["attempts"]) == ("SUPPRESSED", 0)
    assert json.loads(suppressed["payload"])["data"] == {
        "name": "fraud",
        "version": "1",
        "key": "k",
        "value": "v",
    }

    tested = owner.post(
        f"/api/v1/webhooks/{test_mode['id']}/test", {"event": "model_version.created"}, format="json"
    )
    assert tested.status_code == 200, tested.content
    assert tested.json()["status"] == "SUCCEEDED" and tested.json()["is_test"] is True
    assert other_receiver.received[-1].json["data"]["name"] == "example_model"

    replayed = owner.post(f"/api/v1/webhooks/{test_mode['id']}/deliveries/{suppressed['delivery_id']}/replay")
    assert replayed.status_code == 202
    assert (
        next(d for d in deliveries(owner, test_mode) if d["delivery_id"] == suppressed["delivery_id"])[
            "status"
        ]
        == "SUCCEEDED"
    )
    assert other_receiver.received[-1].delivery_id == suppressed["delivery_id"]
    assert all(r.signature_valid for r in other_receiver.received)

    refused = owner.post(f"/api/v1/webhooks/{disabled['id']}/test")
    assert refused.status_code == 200  # a test is sent whatever the status, as MLflow's is
    assert receiver.received and receiver.received[-1].delivery_id == refused.json()["delivery_id"]


def test_registry_wide_webhook_receives_every_model_and_per_model_only_its_own(
    cast, fraud, committing, receiver, other_receiver
):
    registry_services.registered_model_create(actor=cast.outsider, name="churn")
    admin = committing(cast.admin)
    create_webhook(admin, receiver, ["model_version.created"])
    other_receiver.secret = receiver.secret
    create_webhook(committing(cast.owner), other_receiver, ["model_version.created"], model="fraud")

    committing.run(
        registry_services.model_version_create,
        actor=cast.owner,
        name="fraud",
        source="s3://b/fraud/4",
        description="d4",
    )
    committing.run(
        registry_services.model_version_create, actor=cast.outsider, name="churn", source="s3://b/churn/1"
    )

    assert sorted(r.json["data"]["name"] for r in receiver.received) == ["churn", "fraud"]
    [own] = other_receiver.received
    assert own.json["data"] == {
        "name": "fraud",
        "version": "4",
        "source": "s3://b/fraud/4",
        "run_id": None,
        "tags": {},
        "description": "d4",
    }


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(cast, fraud, committing, receiver, settings):
    settings.QUORUM_WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.delay_seconds = 1.5
    owner = committing(cast.owner)
    webhook = create_webhook(owner, receiver, ["model_version_tag.set"], model="fraud")
    owner.post("/api/v1/models/fraud/versions/1/tags", {"key": "k", "value": "v"}, format="json")
    [logged] = deliveries(owner, webhook)
    [attempt] = logged["attempt_log"]
    assert logged["status"] == "PENDING" and attempt["status_code"] is None
    assert attempt["error"] == "timed out after 0.5 s" and 400 <= attempt["latency_ms"] < 1500
